package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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

func newTestSlack(t *testing.T, c SlackConfig) *Slack {
	t.Helper()
	s, err := NewSlack(c)
	if err != nil {
		t.Fatalf("NewSlack: %v", err)
	}
	return s
}

func TestSlackRendering(t *testing.T) {
	since := observedAt.Add(-(2*time.Hour + 15*time.Minute))
	tests := []struct {
		name       string
		event      Event
		amountKind string
		want       slackView
	}{
		{
			name:  "critical escalation",
			event: func() Event { e := escalation(); e.Since = since; return e }(),
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
			event: Event{Type: TypeReminder, App: "eu<shop>", Alert: "money", Rule: "low_balance", Severity: "warning",
				Currency: "USD", Balance: "450.0000", GiftBalance: "60.0000", TotalBalance: "510.0000", Threshold: "500.0000",
				ObservedAt: observedAt, Since: observedAt.Add(-50 * time.Minute)},
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
			event: Event{Type: TypeResolved, App: "checkout", Alert: "money", Rule: "low_balance", Severity: "critical",
				Currency: "USD", Balance: "250.0000", GiftBalance: "0.0000", TotalBalance: "250.0000",
				ObservedAt: observedAt, Since: observedAt.Add(-26 * time.Hour),
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
			event: accessEvent(),
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
			event: TestEvent("ops", observedAt),
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
			rc := newReceiver(t, status(http.StatusOK))
			s := newTestSlack(t, SlackConfig{Name: "ops", WebhookURL: rc.URL + secretPath,
				PublicURL: "https://balance.example.com/", AmountKind: func(string) string { return tt.amountKind }})

			if err := s.Notify(context.Background(), tt.event); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := rc.only(t)
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
	rc := newReceiver(t, status(http.StatusOK))
	s := newTestSlack(t, SlackConfig{Name: "ops", WebhookURL: rc.URL + secretPath})
	if err := s.Notify(context.Background(), escalation()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if got := webhookView(t, rc.only(t).Body); got.Button != "" {
		t.Errorf("button = %q without a public URL, want none", got.Button)
	}
}

func TestSlackWebhookFailures(t *testing.T) {
	tests := []struct {
		name    string
		respond http.HandlerFunc
		timeout time.Duration
		want    classification
	}{
		{
			name:    "rate limited with Retry-After",
			respond: status(http.StatusTooManyRequests, "Retry-After", "7"),
			want:    classification{Status: 429, RetryAfter: 7 * time.Second, Message: "slack ops: rate limited, retry after 7s"},
		},
		{
			name:    "rate limited without Retry-After",
			respond: status(http.StatusTooManyRequests),
			want:    classification{Status: 429, Message: "slack ops: Slack answered HTTP 429"},
		},
		{
			name: "channel not found is permanent",
			respond: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, "channel_not_found")
			},
			want: classification{Permanent: true, Status: 404, Message: "slack ops: Slack answered HTTP 404"},
		},
		{
			name:    "archived channel is permanent",
			respond: status(http.StatusGone),
			want:    classification{Permanent: true, Status: 410, Message: "slack ops: Slack answered HTTP 410"},
		},
		{
			name:    "server error is retryable",
			respond: status(http.StatusInternalServerError),
			want:    classification{Status: 500, Message: "slack ops: Slack answered HTTP 500"},
		},
		{
			name:    "timeout is retryable",
			respond: hang,
			timeout: 50 * time.Millisecond,
			want: classification{Message: `slack ops: Post "ORIGIN": ` +
				`context deadline exceeded (Client.Timeout exceeded while awaiting headers)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.respond)
			rawURL := rc.URL + secretPath + "?" + secretQuery
			s := newTestSlack(t, SlackConfig{Name: "ops", WebhookURL: rawURL, Timeout: tt.timeout})

			err := s.Notify(context.Background(), escalation())

			want := tt.want
			want.Message = strings.ReplaceAll(want.Message, "ORIGIN", rc.URL)
			if diff := cmp.Diff(want, classify(t, err)); diff != "" {
				t.Errorf("classification (-want +got):\n%s", diff)
			}
			assertNoLeak(t, err, rawURL)
			if n := len(rc.requests()); n != 1 {
				t.Errorf("receiver got %d requests, want exactly 1", n)
			}
		})
	}
}

func TestSlackBot(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true,"channel":"C0123456789","ts":"1764151200.000100"}`)
	})
	s := newTestSlack(t, SlackConfig{Name: "ops-bot", Token: slackToken, Channel: "C0123456789", APIURL: rc.URL + "/"})

	if err := s.Notify(context.Background(), accessEvent()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := rc.only(t)
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
		want    classification
	}{
		{
			name:    "channel not found is permanent",
			respond: refuse("channel_not_found"),
			want:    classification{Permanent: true, Message: "slack ops-bot: Slack refused the message: channel_not_found"},
		},
		{
			name:    "invalid auth is permanent",
			respond: refuse("invalid_auth"),
			want:    classification{Permanent: true, Message: "slack ops-bot: Slack refused the message: invalid_auth"},
		},
		{
			name:    "not in channel is permanent",
			respond: refuse("not_in_channel"),
			want:    classification{Permanent: true, Message: "slack ops-bot: Slack refused the message: not_in_channel"},
		},
		{
			name:    "Slack's internal error is retryable",
			respond: refuse("internal_error"),
			want:    classification{Message: "slack ops-bot: Slack refused the message: internal_error"},
		},
		{
			name:    "rate limited with Retry-After",
			respond: status(http.StatusTooManyRequests, "Retry-After", "3"),
			want:    classification{Status: 429, RetryAfter: 3 * time.Second, Message: "slack ops-bot: rate limited, retry after 3s"},
		},
		{
			name:    "unavailable is retryable",
			respond: status(http.StatusServiceUnavailable),
			want:    classification{Status: 503, Message: "slack ops-bot: Slack answered HTTP 503"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.respond)
			s := newTestSlack(t, SlackConfig{Name: "ops-bot", Token: slackToken, Channel: "C0123456789", APIURL: rc.URL})

			err := s.Notify(context.Background(), escalation())

			if diff := cmp.Diff(tt.want, classify(t, err)); diff != "" {
				t.Errorf("classification (-want +got):\n%s", diff)
			}
			assertNoLeak(t, err, rc.URL+"/api/chat.postMessage")
		})
	}
}

func TestSlackUnreachable(t *testing.T) {
	for _, mode := range []string{"webhook", "bot"} {
		t.Run(mode, func(t *testing.T) {
			rc := newReceiver(t, status(http.StatusOK))
			rc.Close()
			c := SlackConfig{Name: "ops", WebhookURL: rc.URL + secretPath + "?" + secretQuery}
			if mode == "bot" {
				c = SlackConfig{Name: "ops", Token: slackToken, Channel: "C0123456789", APIURL: rc.URL}
			}
			err := newTestSlack(t, c).Notify(context.Background(), escalation())

			got := classify(t, err)
			if got.Permanent || !strings.Contains(got.Message, "dial tcp") {
				t.Errorf("classification = %+v, want a retryable dial error", got)
			}
			assertNoLeak(t, err, c.WebhookURL)
		})
	}
}

func TestNewSlackRejects(t *testing.T) {
	tests := []struct {
		name string
		c    SlackConfig
		want string
	}{
		{
			name: "neither mode",
			c:    SlackConfig{Name: "ops"},
			want: "slack ops: set webhook_url or token",
		},
		{
			name: "both modes",
			c:    SlackConfig{Name: "ops", WebhookURL: "https://hooks.slack.com" + secretPath, Token: slackToken, Channel: "C1"},
			want: "slack ops: set webhook_url or token, not both",
		},
		{
			name: "token without channel, bad public URL",
			c:    SlackConfig{Name: "ops", Token: slackToken, PublicURL: "balance.example.com"},
			want: "slack ops: token needs a channel\nslack ops: public_url must be an absolute http or https URL",
		},
		{
			name: "webhook URL not absolute",
			c:    SlackConfig{Name: "ops", WebhookURL: "hooks.slack.com" + secretPath},
			want: "slack ops: webhook_url must be an absolute http or https URL",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSlack(tt.c)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("NewSlack() error = %v, want %q", err, tt.want)
			}
			assertNoLeak(t, err, tt.c.WebhookURL)
		})
	}
}
