package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
)

func TestTestNotify(t *testing.T) {
	t.Parallel()
	hook := startReceiver(t, http.StatusOK)
	path := setup{apps: []fake.App{appHealthy}, notifiers: hook.webhook("hook"), notify: []string{"hook"}}.config(t)

	r := cli(t, "test-notify", "--config", path, "hook")
	r.want(t, 0)
	if want := "notifier hook: test message delivered\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	got := hook.got()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	if got[0].Type != "test" || !strings.HasPrefix(got[0].ID, "evt_") {
		t.Errorf("event = %+v, want type test with an evt_ id", got[0])
	}
	if want := "Test message from engagelab-monitor: if you can read this, notifier hook works."; got[0].Message != want {
		t.Errorf("message = %q, want %q", got[0].Message, want)
	}
}

func TestTestNotifyRefused(t *testing.T) {
	t.Parallel()
	hook := startReceiver(t, http.StatusNotFound)
	path := setup{apps: []fake.App{appHealthy}, notifiers: hook.webhook("hook"), notify: []string{"hook"}}.config(t)

	r := cli(t, "test-notify", "--config", path, "hook")
	r.want(t, 1)
	host := strings.TrimSuffix(hook.url, "/hook")
	want := "monitor: notifier hook: the test message was not delivered (a permanent refusal): webhook hook: " + host + " answered 404 Not Found\n"
	if r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
}

func TestTestNotifyUsage(t *testing.T) {
	t.Parallel()
	hook := startReceiver(t, http.StatusOK)
	path := setup{apps: []fake.App{appHealthy}, notifiers: hook.webhook("hook") + hook.webhook("pager"), notify: []string{"hook"}}.config(t)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"unknown name": {[]string{"nosuch"}, `monitor: no notifier named "nosuch"; configured: hook, pager`},
		"no name":      {nil, "monitor: test-notify: expected \"<notifier>\"; see `monitor help test-notify`"},
		"two names":    {[]string{"hook", "pager"}, "monitor: test-notify: unexpected argument pager; see `monitor help test-notify`"},
	} {
		t.Run(name, func(t *testing.T) {
			r := cli(t, append([]string{"test-notify", "--config", path}, tc.args...)...)
			r.want(t, 2)
			if got := r.errorLine(t); got != tc.want {
				t.Errorf("error = %q, want %q", got, tc.want)
			}
		})
	}
	if n := len(hook.got()); n != 0 {
		t.Errorf("receiver got %d requests, want none", n)
	}
}

// test-notify works for the new types too: one Telegram message, one PagerDuty trigger,
// through the same BuildNotifiers as serve.
func TestTestNotifyTelegram(t *testing.T) {
	t.Parallel()
	const token = "123456789:tg-token-secret-4"
	rc := notifytest.NewReceiver(t, notifytest.JSON(http.StatusOK, `{"ok":true,"result":{"message_id":1}}`))
	path := setup{apps: []fake.App{appHealthy},
		notifiers: fmt.Sprintf("  - {name: tg, type: telegram, bot_token: %q, chat_id: \"-100123\", api_url: %q}\n", token, rc.URL)}.config(t)

	r := cli(t, "test-notify", "--config", path, "tg")
	r.want(t, 0)
	if want := "notifier tg: test message delivered\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	got := rc.Only(t)
	var body struct {
		ChatID    string `json:"chat_id"`
		Text      string `json:"text"`
		ParseMode string `json:"parse_mode"`
	}
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := "<b>🧪 Test message</b>\nTest message from engagelab-monitor: if you can read this, notifier tg works."
	if got.Path != "/bot"+token+"/sendMessage" || body.ChatID != "-100123" || body.ParseMode != "HTML" || !strings.HasPrefix(body.Text, want) {
		t.Errorf("request %s %+v, want sendMessage to -100123 starting %q", got.Path, body, want)
	}
}

func TestTestNotifyTelegramRefused(t *testing.T) {
	t.Parallel()
	const token = "123456789:tg-token-secret-4"
	rc := notifytest.NewReceiver(t, notifytest.JSON(http.StatusBadRequest, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`))
	path := setup{apps: []fake.App{appHealthy},
		notifiers: fmt.Sprintf("  - {name: tg, type: telegram, bot_token: %q, chat_id: \"-100123\", api_url: %q}\n", token, rc.URL)}.config(t)

	r := cli(t, "test-notify", "--config", path, "tg")
	r.want(t, 1)
	want := "monitor: notifier tg: the test message was not delivered (a permanent refusal): " +
		"telegram tg: Telegram refused the message: Bad Request: chat not found (HTTP 400)\n"
	if r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
	if strings.Contains(r.stdout+r.stderr, "tg-token-secret-4") {
		t.Error("output shows the bot token")
	}
}

func TestTestNotifyPagerDuty(t *testing.T) {
	t.Parallel()
	const key = "pd-routing-key-secret-0123456789"
	rc := notifytest.NewReceiver(t, notifytest.JSON(http.StatusAccepted, `{"status":"success","message":"Event processed"}`))
	path := setup{apps: []fake.App{appHealthy},
		notifiers: fmt.Sprintf("  - {name: pd, type: pagerduty, routing_key: %q, api_url: %q}\n", key, rc.URL)}.config(t)

	r := cli(t, "test-notify", "--config", path, "pd")
	r.want(t, 0)
	got := rc.Only(t)
	var body struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		Payload     struct{ Severity, Source, Summary string }
	}
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	if got.Path != "/v2/enqueue" || body.RoutingKey != key || body.EventAction != "trigger" || body.Payload.Severity != "info" ||
		body.Payload.Source != "engagelab-monitor" ||
		body.Payload.Summary != "Test message from engagelab-monitor: if you can read this, notifier pd works." {
		t.Errorf("request %s %+v, want an info trigger on /v2/enqueue", got.Path, body)
	}
}
