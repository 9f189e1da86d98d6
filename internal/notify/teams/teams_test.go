package teams

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
)

const flowPath = "/workflows/0c1d/triggers/manual/paths/invoke"
const flowQuery = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SIGSECRET-x9"

var secrets = []string{"SIGSECRET", flowQuery}

func newTest(base string, timeout time.Duration) *Notifier {
	return New(Config{Name: "ops", WebhookURL: base + flowPath + "?" + flowQuery, PublicURL: "https://balance.example.com",
		Timeout: timeout, Clock: func() time.Time { return notifytest.ObservedAt }})
}

func TestAdaptiveCard(t *testing.T) {
	rc := notifytest.NewReceiver(t, notifytest.Status(http.StatusAccepted))
	if err := newTest(rc.URL, 0).Notify(context.Background(), notifytest.Escalation()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := rc.Only(t)
	if got.Method != http.MethodPost || got.Path != flowPath || got.RawQuery != flowQuery || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request = %s %s?%s (%s), want a JSON POST to the flow", got.Method, got.Path, got.RawQuery, got.Header.Get("Content-Type"))
	}
	var body, want map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{
		"type": "message",
		"attachments": [{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl": null,
			"content": {
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type": "AdaptiveCard",
				"version": "1.4",
				"msteams": {"width": "Full"},
				"body": [
					{"type": "TextBlock", "text": "CRITICAL checkout: low balance (critical)", "wrap": true, "size": "Large", "weight": "Bolder", "color": "attention", "style": "heading"},
					{"type": "TextBlock", "text": "checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD", "wrap": true},
					{"type": "FactSet", "facts": [
						{"title": "Balance", "value": "80.0000 USD"},
						{"title": "Gift balance", "value": "0.0000 USD"},
						{"title": "Total balance", "value": "80.0000 USD"},
						{"title": "Threshold", "value": "100.0000 USD"},
						{"title": "Firing for", "value": "2m"}
					]},
					{"type": "TextBlock", "text": "Escalated from low balance (warning) · Observed 2026-11-26T10:00:00Z", "wrap": true, "size": "Small", "isSubtle": true}
				],
				"actions": [{"type": "Action.OpenUrl", "title": "Open dashboard", "url": "https://balance.example.com/#app=checkout"}]
			}
		}]}`), &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestResolvedIsGood(t *testing.T) {
	m := Render(notifytest.Resolved(), "")
	title := m.Attachments[0].Content.Body[0].(textBlock)
	if title.Color != "good" || title.Text != "Resolved checkout: low balance (critical)" {
		t.Errorf("title = %+v, want a green Resolved", title)
	}
	if m.Attachments[0].Content.Actions != nil {
		t.Errorf("actions = %v without a public URL, want none", m.Attachments[0].Content.Actions)
	}
}

// Workflows' own refusals, read from the status: a disabled flow answers 404, a bad sig 401.
func TestTeamsErrors(t *testing.T) {
	tests := []notifytest.Answer{
		{Name: "throttled honours Retry-After", Respond: notifytest.JSON(http.StatusTooManyRequests, `{"error":{"code":"WorkflowTriggerIsThrottled"}}`, "Retry-After", "12"),
			Want: notifytest.Classification{Status: 429, RetryAfter: 12 * time.Second, Message: "teams ops: ORIGIN answered 429 Too Many Requests"}},
		{Name: "a bad signature is permanent", Respond: notifytest.JSON(http.StatusUnauthorized, `{"error":{"code":"DirectApiAuthorizationRequired"}}`),
			Want: notifytest.Classification{Permanent: true, Status: 401, Message: "teams ops: ORIGIN answered 401 Unauthorized"}},
		{Name: "a deleted flow is permanent", Respond: notifytest.JSON(http.StatusNotFound, `{"error":{"code":"WorkflowNotFound"}}`),
			Want: notifytest.Classification{Permanent: true, Status: 404, Message: "teams ops: ORIGIN answered 404 Not Found"}},
		{Name: "a gateway error is retryable", Respond: notifytest.Status(http.StatusBadGateway),
			Want: notifytest.Classification{Status: 502, Message: "teams ops: ORIGIN answered 502 Bad Gateway"}},
	}
	notifytest.Answers(t, tests, func(base string) notify.Notifier { return newTest(base, 0) }, secrets...)
}

func TestConformance(t *testing.T) {
	notifytest.Conformance(t, notifytest.Target{
		Prefix:  "teams ops",
		New:     func(t *testing.T, base string, timeout time.Duration) notify.Notifier { return newTest(base, timeout) },
		Accept:  notifytest.Status(http.StatusAccepted),
		Secrets: secrets,
	})
}
