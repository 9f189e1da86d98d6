package pagerduty

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
)

const routingKey = "R0UTINGKEYSECRET0123456789abcdef"

var secrets = []string{routingKey, "KEYSECRET"}

const accepted = `{"status":"success","message":"Event processed","dedup_key":"x"}`

func newTest(base string, timeout time.Duration) *Notifier {
	return New(Config{Name: "pager", RoutingKey: routingKey, APIURL: base, PublicURL: "https://balance.example.com",
		Timeout: timeout, Clock: func() time.Time { return notifytest.ObservedAt }})
}

func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

// An episode: firing, escalated, resolved. The two triggers and the resolve share one
// dedup_key, so PagerDuty updates one incident and resolves it.
func TestEpisode(t *testing.T) {
	rc := notifytest.NewReceiver(t, notifytest.JSON(http.StatusAccepted, accepted))
	n := newTest(rc.URL, 0)
	firing := notifytest.Escalation()
	firing.Type, firing.Severity, firing.PreviousRule, firing.PreviousSeverity = notify.TypeFiring, "warning", "", ""
	firing.Threshold = "500.0000"
	firing.Message = "checkout: total balance 80.0000 USD is below the warning threshold 500.0000 USD"
	resolved := notifytest.Resolved()
	resolved.Since = firing.Since
	for _, e := range []notify.Event{firing, notifytest.Escalation(), resolved} {
		if err := n.Notify(context.Background(), e); err != nil {
			t.Fatalf("Notify %s: %v", e.Type, err)
		}
	}
	got := rc.Requests()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(got))
	}
	for _, r := range got {
		if r.Method != http.MethodPost || r.Path != "/v2/enqueue" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request = %s %s (%s), want a JSON POST to /v2/enqueue", r.Method, r.Path, r.Header.Get("Content-Type"))
		}
	}
	const dedup = "engagelab-monitor/checkout/money/2026-11-26T09:58:00Z"

	trigger := decode(t, got[1].Body)
	details := trigger["payload"].(map[string]any)["custom_details"]
	var wantDetails map[string]any
	body, _ := json.Marshal(notifytest.Escalation())
	_ = json.Unmarshal(body, &wantDetails)
	want := map[string]any{
		"routing_key":  routingKey,
		"event_action": "trigger",
		"dedup_key":    dedup,
		"client":       "engagelab-monitor",
		"client_url":   "https://balance.example.com/#app=checkout",
		"payload": map[string]any{
			"summary":        "checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD",
			"source":         "checkout",
			"severity":       "critical",
			"timestamp":      "2026-11-26T10:00:00Z",
			"component":      "money",
			"class":          "low_balance",
			"custom_details": wantDetails,
		},
	}
	if diff := cmp.Diff(want, trigger); diff != "" {
		t.Errorf("escalation (-want +got):\n%s", diff)
	}
	if d := details.(map[string]any); d["total_balance"] != "80.0000" || d["threshold"] != "100.0000" {
		t.Errorf("custom_details = %v, want the amounts as 4-place strings", d)
	}

	first := decode(t, got[0].Body)
	if first["event_action"] != "trigger" || first["dedup_key"] != dedup || first["payload"].(map[string]any)["severity"] != "warning" {
		t.Errorf("firing = %v, want a warning trigger with the episode's dedup_key", first)
	}
	last := decode(t, got[2].Body)
	wantResolve := map[string]any{"routing_key": routingKey, "event_action": "resolve", "dedup_key": dedup,
		"client": "engagelab-monitor", "client_url": "https://balance.example.com/#app=checkout"}
	if diff := cmp.Diff(wantResolve, last); diff != "" {
		t.Errorf("resolve (-want +got):\n%s", diff)
	}
}

func TestNextEpisodeIsANewIncident(t *testing.T) {
	a := notifytest.Escalation()
	b := a
	b.Since = b.Since.Add(6 * time.Hour)
	other := a
	other.Alert = "data"
	if DedupKey(a) == DedupKey(b) || DedupKey(a) == DedupKey(other) {
		t.Errorf("dedup keys %q, %q, %q: want one per (app, alert, since)", DedupKey(a), DedupKey(b), DedupKey(other))
	}
}

func TestTopupIsAChangeEvent(t *testing.T) {
	path, ev := Build(notifytest.Topup(), routingKey, "")
	body, _ := json.Marshal(ev)
	got := decode(t, body)
	delete(got["payload"].(map[string]any), "custom_details")
	want := map[string]any{"routing_key": routingKey, "payload": map[string]any{
		"summary": "checkout: recharged +500.0000 USD (paid +500.0000, gift +0.0000), total now 612.3400 USD", "source": "checkout", "timestamp": "2026-11-26T10:00:00Z"}}
	if path != "/v2/change/enqueue" {
		t.Errorf("path = %q, want /v2/change/enqueue", path)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("change event (-want +got):\n%s", diff)
	}
}

func TestTestEventPagesAsInfo(t *testing.T) {
	e := notify.TestEvent("pager", notifytest.ObservedAt)
	path, ev := Build(e, routingKey, "")
	if path != "/v2/enqueue" || ev.EventAction != "trigger" || ev.Payload.Severity != "info" ||
		ev.Payload.Source != "engagelab-monitor" || ev.DedupKey != "engagelab-monitor/test/"+e.ID {
		t.Errorf("test event = %s %+v %+v", path, ev, ev.Payload)
	}
}

func TestSummaryIsCut(t *testing.T) {
	e := notifytest.Escalation()
	e.Message = strings.Repeat("é", 600) // 1200 bytes
	_, ev := Build(e, routingKey, "")
	if n := len(ev.Payload.Summary); n > 1024 || !strings.HasSuffix(ev.Payload.Summary, "...") {
		t.Errorf("summary of %d bytes, want at most 1024 ending in ...", n)
	}
}

func TestPagerDutyErrors(t *testing.T) {
	tests := []notifytest.Answer{
		{Name: "an invalid event is permanent", Respond: notifytest.JSON(http.StatusBadRequest,
			`{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`),
			Want: notifytest.Classification{Permanent: true, Status: 400, Message: "pagerduty pager: ORIGIN answered 400 Bad Request " +
				"(Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters))"}},
		{Name: "rate limited is retryable", Respond: notifytest.JSON(http.StatusTooManyRequests, `{"status":"throttle exceeded","message":"Requests for this service are arriving too quickly."}`),
			Want: notifytest.Classification{Status: 429, Message: "pagerduty pager: ORIGIN answered 429 Too Many Requests"}},
		{Name: "an internal error is retryable", Respond: notifytest.Status(http.StatusInternalServerError),
			Want: notifytest.Classification{Status: 500, Message: "pagerduty pager: ORIGIN answered 500 Internal Server Error"}},
		{Name: "an echoed key is redacted", Respond: notifytest.JSON(http.StatusBadRequest, `{"status":"invalid event","message":"unknown key `+routingKey+`"}`),
			Want: notifytest.Classification{Permanent: true, Status: 400, Message: "pagerduty pager: ORIGIN answered 400 Bad Request (unknown key ***)"}},
	}
	notifytest.Answers(t, tests, func(base string) notify.Notifier { return newTest(base, 0) }, secrets...)
}

func TestConformance(t *testing.T) {
	notifytest.Conformance(t, notifytest.Target{
		Prefix:  "pagerduty pager",
		New:     func(t *testing.T, base string, timeout time.Duration) notify.Notifier { return newTest(base, timeout) },
		Accept:  notifytest.JSON(http.StatusAccepted, accepted),
		Secrets: secrets,
	})
}

func TestFlappingResolvesItsEpisode(t *testing.T) {
	e := notifytest.Escalation()
	e.Type = notify.TypeFlapping
	path, ev := Build(e, routingKey, "")
	if path != "/v2/enqueue" || ev.EventAction != "resolve" || ev.DedupKey != DedupKey(notifytest.Escalation()) {
		t.Errorf("flapping event = %s %s %q, want a resolve of its episode's incident", path, ev.EventAction, ev.DedupKey)
	}
}
