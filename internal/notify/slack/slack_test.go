package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
)

// slackView is what a person reading the Slack message sees, pulled out of the Block Kit JSON.
type slackView struct {
	Text    string // fallback: notifications, screen readers, old clients
	Header  string
	Section string
	Fields  []string
	Context string
	Button  string // "label -> url"
}

func viewOf(t *testing.T, text string, blocksJSON []byte) slackView {
	t.Helper()
	var blocks []struct {
		Type     string
		Text     struct{ Text string }
		Fields   []struct{ Text string }
		Elements []struct {
			Text json.RawMessage // a string in context blocks, an object in buttons
			URL  string
		}
	}
	if err := json.Unmarshal(blocksJSON, &blocks); err != nil {
		t.Fatalf("decode blocks %s: %v", blocksJSON, err)
	}
	v := slackView{Text: text}
	for _, b := range blocks {
		switch b.Type {
		case "header":
			v.Header = b.Text.Text
		case "section":
			v.Section = b.Text.Text
			for _, f := range b.Fields {
				v.Fields = append(v.Fields, f.Text)
			}
		case "context":
			for _, el := range b.Elements {
				var s string
				if err := json.Unmarshal(el.Text, &s); err != nil {
					t.Fatalf("context element %s: %v", el.Text, err)
				}
				v.Context = s
			}
		case "actions":
			for _, el := range b.Elements {
				var label struct{ Text string }
				if err := json.Unmarshal(el.Text, &label); err != nil {
					t.Fatalf("button text %s: %v", el.Text, err)
				}
				v.Button = label.Text + " -> " + el.URL
			}
		default:
			t.Errorf("unexpected block type %q", b.Type)
		}
	}
	return v
}

// webhookView decodes an incoming-webhook body.
func webhookView(t *testing.T, body []byte) slackView {
	t.Helper()
	var msg struct {
		Text   string
		Blocks json.RawMessage
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("decode webhook body %s: %v", body, err)
	}
	return viewOf(t, msg.Text, msg.Blocks)
}

// Secrets planted in the notifiers under test.
const (
	secretPath  = "/hooks/T000/B000/SECRETSECRET"
	secretQuery = "sig=QUERYSECRET"
	slackToken  = "xoxb-1111-TOKENSECRET"
)

var secrets = []string{"SECRET", secretPath, "QUERYSECRET", slackToken}

func newTestSlack(t *testing.T, c Config) *Notifier {
	t.Helper()
	return New(c)
}

func TestSlackRendering(t *testing.T) {
	since := notifytest.ObservedAt.Add(-(2*time.Hour + 15*time.Minute))
	tests := []struct {
		name       string
		event      notify.Event
		amountKind string
		want       slackView
	}{
		{
			name:  "critical escalation",
			event: func() notify.Event { e := notifytest.Escalation(); e.Since = since; return e }(),
			want: slackView{
				Text:    ":rotating_light: CRITICAL checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD",
				Header:  ":rotating_light: CRITICAL checkout: low balance (critical)",
				Section: "checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD",
				Fields: []string{"*Balance*\n80.0000 USD", "*Gift balance*\n0.0000 USD", "*Total balance*\n80.0000 USD",
					"*Threshold*\n100.0000 USD", "*Firing for*\n2h 15m"},
				Context: "Escalated from low balance (warning) · Observed 2026-11-26T10:00:00Z",
				Button:  "Open dashboard -> https://balance.example.com/#app=checkout",
			},
		},
		{
			name: "warning reminder worded from the paid balance when the message is empty",
			event: notify.Event{Type: notify.TypeReminder, App: "eu<shop>", Alert: "money", Rule: "low_balance", Severity: "warning",
				Currency: "USD", Balance: "450.0000", GiftBalance: "60.0000", TotalBalance: "510.0000", Threshold: "500.0000",
				ObservedAt: notifytest.ObservedAt, Since: notifytest.ObservedAt.Add(-50 * time.Minute)},
			amountKind: "balance",
			want: slackView{
				Text:    ":warning: Warning eu&lt;shop&gt;: balance 450.0000 USD is below the warning threshold 500.0000 USD",
				Header:  ":warning: Warning eu<shop>: low balance (warning)",
				Section: "eu&lt;shop&gt;: balance 450.0000 USD is below the warning threshold 500.0000 USD",
				Fields: []string{"*Balance*\n450.0000 USD", "*Gift balance*\n60.0000 USD", "*Total balance*\n510.0000 USD",
					"*Threshold*\n500.0000 USD", "*Firing for*\n50m"},
				Context: "Reminder: still firing · Observed 2026-11-26T10:00:00Z",
				Button:  "Open dashboard -> https://balance.example.com/#app=eu%3Cshop%3E",
			},
		},
		{
			name: "resolve says what the balance is now",
			event: notify.Event{Type: notify.TypeResolved, App: "checkout", Alert: "money", Rule: "low_balance", Severity: "critical",
				Currency: "USD", Balance: "250.0000", GiftBalance: "0.0000", TotalBalance: "250.0000",
				ObservedAt: notifytest.ObservedAt, Since: notifytest.ObservedAt.Add(-26 * time.Hour),
				Message: "checkout: low balance resolved; total balance is now 250.0000 USD"},
			want: slackView{
				Text:    ":white_check_mark: Resolved checkout: low balance resolved; total balance is now 250.0000 USD",
				Header:  ":white_check_mark: Resolved checkout: low balance (critical)",
				Section: "checkout: low balance resolved; total balance is now 250.0000 USD",
				Fields: []string{"*Balance*\n250.0000 USD", "*Gift balance*\n0.0000 USD", "*Total balance*\n250.0000 USD",
					"*Fired for*\n1d 2h"},
				Context: "Observed 2026-11-26T10:00:00Z",
				Button:  "Open dashboard -> https://balance.example.com/#app=checkout",
			},
		},
		{
			name:  "access alert has no amounts",
			event: notifytest.Access(),
			want: slackView{
				Text:    ":rotating_light: CRITICAL checkout: EngageLab rejected the API key (HTTP 401, code 2001: invalid token)",
				Header:  ":rotating_light: CRITICAL checkout: API key rejected",
				Section: "checkout: EngageLab rejected the API key (HTTP 401, code 2001: invalid token)",
				Context: "Observed 2026-11-26T10:00:00Z",
				Button:  "Open dashboard -> https://balance.example.com/#app=checkout",
			},
		},
		{
			name:  "test message",
			event: notify.TestEvent("ops", notifytest.ObservedAt),
			want: slackView{
				Text:    ":test_tube: Test Test message from engagelab-monitor: if you can read this, notifier ops works.",
				Header:  ":test_tube: Test message",
				Section: "Test message from engagelab-monitor: if you can read this, notifier ops works.",
				Context: "Observed 2026-11-26T10:00:00Z",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
			s := newTestSlack(t, Config{Name: "ops", WebhookURL: rc.URL + secretPath,
				PublicURL: "https://balance.example.com/", AmountKind: func(string) string { return tt.amountKind }})

			if err := s.Notify(context.Background(), tt.event); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := rc.Only(t)
			if got.Method != http.MethodPost || got.Path != secretPath || got.Header.Get("Content-Type") != "application/json" {
				t.Errorf("request = %s %s (%s), want a JSON POST to %s", got.Method, got.Path, got.Header.Get("Content-Type"), secretPath)
			}
			if diff := cmp.Diff(tt.want, webhookView(t, got.Body)); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSlackWithoutPublicURLHasNoButton(t *testing.T) {
	rc := notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	s := newTestSlack(t, Config{Name: "ops", WebhookURL: rc.URL + secretPath})
	if err := s.Notify(context.Background(), notifytest.Escalation()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if got := webhookView(t, rc.Only(t).Body); got.Button != "" {
		t.Errorf("button = %q without a public URL, want none", got.Button)
	}
}

func TestSlackBot(t *testing.T) {
	rc := notifytest.NewReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true,"channel":"C0123456789","ts":"1764151200.000100"}`)
	})
	s := newTestSlack(t, Config{Name: "ops-bot", Token: slackToken, Channel: "C0123456789", APIURL: rc.URL + "/"})

	if err := s.Notify(context.Background(), notifytest.Access()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := rc.Only(t)
	if got.Method != http.MethodPost || got.Path != "/api/chat.postMessage" {
		t.Errorf("request = %s %s, want POST /api/chat.postMessage", got.Method, got.Path)
	}
	if auth := got.Header.Get("Authorization"); auth != "Bearer "+slackToken {
		t.Errorf("Authorization = %q, want the bot token as a bearer", auth)
	}
	form, err := url.ParseQuery(string(got.Body))
	if err != nil {
		t.Fatalf("form body %q: %v", got.Body, err)
	}
	if form.Has("token") || form.Get("channel") != "C0123456789" {
		t.Errorf("form token present = %v, channel = %q; want no token, C0123456789", form.Has("token"), form.Get("channel"))
	}
	want := slackView{
		Text:    ":rotating_light: CRITICAL checkout: EngageLab rejected the API key (HTTP 401, code 2001: invalid token)",
		Header:  ":rotating_light: CRITICAL checkout: API key rejected",
		Section: "checkout: EngageLab rejected the API key (HTTP 401, code 2001: invalid token)",
		Context: "Observed 2026-11-26T10:00:00Z",
	}
	if diff := cmp.Diff(want, viewOf(t, form.Get("text"), []byte(form.Get("blocks")))); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
}

func TestSlackBotFailures(t *testing.T) {
	refuse := func(code string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"ok":false,"error":%q}`, code)
		}
	}
	tests := []struct {
		name    string
		respond http.HandlerFunc
		want    notifytest.Classification
	}{
		{
			name:    "channel not found is permanent",
			respond: refuse("channel_not_found"),
			want:    notifytest.Classification{Permanent: true, Message: "slack ops-bot: Slack refused the message: channel_not_found"},
		},
		{
			name:    "invalid auth is permanent",
			respond: refuse("invalid_auth"),
			want:    notifytest.Classification{Permanent: true, Message: "slack ops-bot: Slack refused the message: invalid_auth"},
		},
		{
			name:    "not in channel is permanent",
			respond: refuse("not_in_channel"),
			want:    notifytest.Classification{Permanent: true, Message: "slack ops-bot: Slack refused the message: not_in_channel"},
		},
		{
			name:    "Slack's internal error is retryable",
			respond: refuse("internal_error"),
			want:    notifytest.Classification{Message: "slack ops-bot: Slack refused the message: internal_error"},
		},
		{
			name:    "rate limited with Retry-After",
			respond: notifytest.Status(http.StatusTooManyRequests, "Retry-After", "3"),
			want:    notifytest.Classification{Status: 429, RetryAfter: 3 * time.Second, Message: "slack ops-bot: rate limited, retry after 3s"},
		},
		{
			name:    "unavailable is retryable",
			respond: notifytest.Status(http.StatusServiceUnavailable),
			want:    notifytest.Classification{Status: 503, Message: "slack ops-bot: Slack answered HTTP 503"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := notifytest.NewReceiver(t, tt.respond)
			s := newTestSlack(t, Config{Name: "ops-bot", Token: slackToken, Channel: "C0123456789", APIURL: rc.URL})

			err := s.Notify(context.Background(), notifytest.Escalation())

			if diff := cmp.Diff(tt.want, notifytest.Classify(t, err)); diff != "" {
				t.Errorf("classification (-want +got):\n%s", diff)
			}
			notifytest.AssertNotifyLeaksNoSecret(t, err, secrets...)
		})
	}
}

func TestConformance(t *testing.T) {
	t.Run("incoming webhook", func(t *testing.T) {
		notifytest.Conformance(t, notifytest.Target{
			Prefix: "slack ops",
			New: func(t *testing.T, base string, timeout time.Duration) notify.Notifier {
				return New(Config{Name: "ops", WebhookURL: base + secretPath + "?" + secretQuery, Timeout: timeout})
			},
			Accept:  notifytest.Status(http.StatusOK),
			Secrets: secrets,
		})
	})
	t.Run("bot token", func(t *testing.T) {
		notifytest.Conformance(t, notifytest.Target{
			Prefix: "slack ops-bot",
			New: func(t *testing.T, base string, timeout time.Duration) notify.Notifier {
				return New(Config{Name: "ops-bot", Token: slackToken, Channel: "C0123456789", APIURL: base, Timeout: timeout})
			},
			Accept:  notifytest.JSON(http.StatusOK, `{"ok":true,"channel":"C0123456789","ts":"1764151200.000100"}`),
			Secrets: secrets,
		})
	})
}
