package wecom

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

const key = "693a91f6-KEYSECRET-0ec2"

var secrets = []string{key, "KEYSECRET"}

func newTest(base string, timeout time.Duration) *Notifier {
	return New(Config{Name: "ops", WebhookURL: base + "/cgi-bin/webhook/send?key=" + key,
		PublicURL: "https://balance.example.com", Timeout: timeout})
}

func TestMarkdown(t *testing.T) {
	rc := notifytest.NewReceiver(t, notifytest.JSON(http.StatusOK, `{"errcode":0,"errmsg":"ok"}`))
	if err := newTest(rc.URL, 0).Notify(context.Background(), notifytest.Resolved()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := rc.Only(t)
	if got.Method != http.MethodPost || got.Path != "/cgi-bin/webhook/send" || got.RawQuery != "key="+key ||
		got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request = %s %s?%s (%s), want a JSON POST to the webhook", got.Method, got.Path, got.RawQuery, got.Header.Get("Content-Type"))
	}
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"msgtype": "markdown", "markdown": map[string]any{"content": "" +
		"## <font color=\"info\">Resolved checkout: low balance (critical)</font>\n" +
		"checkout: low balance resolved; total balance is now 250.0000 USD\n" +
		"> Balance: **250.0000 USD**\n> Gift balance: **0.0000 USD**\n> Total balance: **250.0000 USD**\n> Fired for: **1d 2h**\n" +
		"<font color=\"comment\">Observed 2026-11-26T10:00:00Z</font>\n" +
		"[Open dashboard](https://balance.example.com/#app=checkout)\n"}}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestCriticalIsOrangeRed(t *testing.T) {
	got := Render(notifytest.Access(), "")
	want := "## <font color=\"warning\">CRITICAL checkout: API key rejected</font>\n" +
		"checkout: EngageLab rejected the API key (HTTP 401, code 2001: invalid token)\n" +
		"<font color=\"comment\">Observed 2026-11-26T10:00:00Z</font>\n"
	if got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
}

// WeCom refuses with HTTP 200 and an errcode.
func TestWeComErrors(t *testing.T) {
	tests := []notifytest.Answer{
		{Name: "rate limit is retryable", Respond: notifytest.JSON(http.StatusOK, `{"errcode":45009,"errmsg":"api freq out of limit, hint: [1764151200_1_abc], from ip: 1.2.3.4"}`),
			Want: notifytest.Classification{Status: 200, Message: "wecom ops: WeCom refused the message: errcode 45009: api freq out of limit, hint: [1764151200_1_abc], from ip: 1.2.3.4"}},
		{Name: "invalid webhook is permanent", Respond: notifytest.JSON(http.StatusOK, `{"errcode":93000,"errmsg":"invalid webhook url, hint: [1764151200_2_def]"}`),
			Want: notifytest.Classification{Permanent: true, Status: 200, Message: "wecom ops: WeCom refused the message: errcode 93000: invalid webhook url, hint: [1764151200_2_def]"}},
		{Name: "invalid message type is permanent", Respond: notifytest.JSON(http.StatusOK, `{"errcode":40008,"errmsg":"invalid message type"}`),
			Want: notifytest.Classification{Permanent: true, Status: 200, Message: "wecom ops: WeCom refused the message: errcode 40008: invalid message type"}},
		{Name: "system busy is retryable", Respond: notifytest.JSON(http.StatusOK, `{"errcode":-1,"errmsg":"system busy"}`),
			Want: notifytest.Classification{Status: 200, Message: "wecom ops: WeCom refused the message: errcode -1: system busy"}},
	}
	notifytest.Answers(t, tests, func(base string) notify.Notifier { return newTest(base, 0) }, secrets...)
}

func TestConformance(t *testing.T) {
	notifytest.Conformance(t, notifytest.Target{
		Prefix:  "wecom ops",
		New:     func(t *testing.T, base string, timeout time.Duration) notify.Notifier { return newTest(base, timeout) },
		Accept:  notifytest.JSON(http.StatusOK, `{"errcode":0,"errmsg":"ok"}`),
		Secrets: secrets,
	})
}
