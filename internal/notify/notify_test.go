package notify

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestClassificationSurvivesWrapping(t *testing.T) {
	err := fmt.Errorf("deliver row 7: %w", &Error{Permanent: true, RetryAfter: time.Second, Err: errors.New("x")})
	if d, ok := RetryAfter(err); !IsPermanent(err) || !ok || d != time.Second {
		t.Errorf("IsPermanent, RetryAfter of a wrapped *Error = %v, %v, %v; want true, 1s, true", IsPermanent(err), d, ok)
	}
	plain := errors.New("plain")
	if _, ok := RetryAfter(plain); IsPermanent(plain) || ok {
		t.Errorf("a plain error must count as retryable without a wait")
	}
}

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://api.telegram.org/bot123:SECRET/sendMessage":          "https://api.telegram.org",
		"https://oapi.dingtalk.com/robot/send?access_token=SECRET":    "https://oapi.dingtalk.com",
		"https://user:SECRET@hooks.example.com/x":                     "https://hooks.example.com",
		"hooks.example.com/SECRET":                                    "[redacted URL]",
		"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET": "https://qyapi.weixin.qq.com",
	} {
		if got := RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestTitleAndFallbacks(t *testing.T) {
	tests := []struct {
		name      string
		e         Event
		tone      string
		title     string
		text      string
		numFields int
	}{
		{
			name:  "critical escalation",
			e:     Event{Type: TypeEscalated, App: "checkout", Rule: "low_balance", Severity: "critical", Message: "m", TotalBalance: "80.0000", Currency: "USD"},
			tone:  "critical",
			title: "CRITICAL checkout: low balance (critical)",
			text:  "m", numFields: 1,
		},
		{
			name:  "resolve",
			e:     Event{Type: TypeResolved, App: "checkout", Rule: "stale", Severity: "warning"},
			tone:  "resolved",
			title: "Resolved checkout: no fresh data",
			text:  "checkout: fresh data again",
		},
		{
			name: "a top-up",
			e: Event{Type: TypeTopup, App: "checkout", Message: "checkout: recharged +500.0000 USD", Amount: "500.0000",
				Currency: "USD", TotalBalance: "612.3400", Since: observedAt.Add(-time.Hour), ObservedAt: observedAt},
			tone:  "info",
			title: "Info checkout: top-up",
			text:  "checkout: recharged +500.0000 USD", numFields: 2, // total and recharged; no "Firing for" on a non-alert
		},
		{
			name:  "an event type this version does not know keeps its message",
			e:     Event{Type: "balance.refund", App: "checkout", Message: "checkout: refunded 3.0000 USD", ObservedAt: observedAt},
			tone:  "info",
			title: "Info checkout: balance.refund",
			text:  "checkout: refunded 3.0000 USD",
		},
		{
			name: "flapping names the level and keeps its message",
			e: Event{Type: TypeFlapping, App: "checkout", Alert: "access", Rule: "auth_failed", Severity: "critical",
				Message: "checkout: access alert is flapping (5 changes in 30m); messages paused until it is stable for 30m"},
			tone:  "critical",
			title: "CRITICAL checkout: API key rejected, flapping",
			text:  "checkout: access alert is flapping (5 changes in 30m); messages paused until it is stable for 30m",
		},
		{
			name:  "test",
			e:     TestEvent("ops", observedAt),
			tone:  "test",
			title: "Test message",
			text:  "Test message from engagelab-monitor: if you can read this, notifier ops works.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Tone(tt.e); got != tt.tone {
				t.Errorf("Tone = %q, want %q", got, tt.tone)
			}
			if got := Title(tt.e); got != tt.title {
				t.Errorf("Title = %q, want %q", got, tt.title)
			}
			if got := Text(tt.e); got != tt.text {
				t.Errorf("Text = %q, want %q", got, tt.text)
			}
			if got := len(Fields(tt.e)); got != tt.numFields {
				t.Errorf("Fields = %v, want %d", Fields(tt.e), tt.numFields)
			}
		})
	}
}

func TestFieldsCarryTheBurnRate(t *testing.T) {
	e := Event{Type: TypeFiring, App: "checkout", Rule: "runway_low", Severity: "warning", Currency: "USD",
		TotalBalance: "35.0000", Spend: &EventSpend{BurnRate: "2.5000"}, ObservedAt: observedAt, Since: observedAt.Add(-time.Hour)}
	want := []Field{{"Total balance", "35.0000 USD"}, {"Burn rate", "2.5000 USD/h"}, {"Firing for", "1h"}}
	got := Fields(e)
	if len(got) != len(want) {
		t.Fatalf("Fields = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Fields[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestContextOfAFlappingMessage(t *testing.T) {
	e := Event{Type: TypeFlapping, App: "checkout", Rule: "auth_failed", Severity: "critical", ObservedAt: observedAt}
	want := "Flapping: messages paused until it is stable · Observed " + observedAt.UTC().Format(time.RFC3339)
	if got := Context(e); got != want {
		t.Errorf("Context = %q, want %q", got, want)
	}
}
