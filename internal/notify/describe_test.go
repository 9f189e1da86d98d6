package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

var (
	cet        = time.FixedZone("CET", 3600)
	observedAt = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
)

func TestDescribe(t *testing.T) {
	money := Event{App: "checkout", Alert: "money", Currency: "USD",
		Balance: "80.0000", GiftBalance: "0.0000", TotalBalance: "80.0000"}
	with := func(e Event, f func(*Event)) Event { f(&e); return e }

	tests := []struct {
		name       string
		event      Event
		amountKind string
		want       string
	}{
		{
			name: "low balance critical on total balance",
			event: with(money, func(e *Event) {
				e.Type, e.Rule, e.Severity, e.Threshold = TypeEscalated, "low_balance", "critical", "100.0000"
			}),
			amountKind: "total_balance",
			want:       "checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD",
		},
		{
			name: "low balance warning on paid balance",
			event: with(money, func(e *Event) {
				e.Type, e.Rule, e.Severity, e.Threshold = TypeFiring, "low_balance", "warning", "500.0000"
				e.Balance, e.GiftBalance, e.TotalBalance = "450.0000", "60.0000", "510.0000"
			}),
			amountKind: "balance",
			want:       "checkout: balance 450.0000 USD is below the warning threshold 500.0000 USD",
		},
		{
			name: "reminder reads like the alert itself",
			event: with(money, func(e *Event) {
				e.Type, e.Rule, e.Severity, e.Threshold = TypeReminder, "low_balance", "warning", "100.0000"
			}),
			want: "checkout: total balance 80.0000 USD is below the warning threshold 100.0000 USD",
		},
		{
			name: "overdraft compares the total even when the app watches balance",
			event: with(money, func(e *Event) {
				e.Type, e.Rule, e.Severity = TypeEscalated, "overdraft", "critical"
				e.Balance, e.TotalBalance = "-20.0000", "-12.3400"
			}),
			amountKind: "balance",
			want:       "checkout: total balance -12.3400 USD is below zero; the account is in arrears",
		},
		{
			name: "overdraft limit",
			event: with(money, func(e *Event) {
				e.Type, e.Rule, e.Severity, e.Threshold = TypeEscalated, "overdraft_limit", "critical", "-160.0000"
				e.Balance, e.TotalBalance = "-170.0000", "-170.0000"
			}),
			want: "checkout: total balance -170.0000 USD is close to the overdraft limit (threshold -160.0000 USD)",
		},
		{
			name: "auth failed",
			event: Event{Type: TypeFiring, App: "checkout", Alert: "access", Rule: "auth_failed", Severity: "critical",
				Error: &EventError{HTTPStatus: 401, Code: 2001, Message: "invalid token"}},
			want: "checkout: EngageLab rejected the API key (HTTP 401, code 2001: invalid token)",
		},
		{
			name: "app unavailable",
			event: Event{Type: TypeFiring, App: "checkout", Alert: "access", Rule: "app_unavailable", Severity: "critical",
				Error: &EventError{HTTPStatus: 403, Code: 2002, Message: "application unavailable"}},
			want: "checkout: EngageLab reports the application deleted or disabled (HTTP 403, code 2002: application unavailable)",
		},
		{
			name: "poll failing with an upstream error",
			event: Event{Type: TypeFiring, App: "checkout", Alert: "data", Rule: "poll_failing", Severity: "warning",
				Error: &EventError{HTTPStatus: 500, Code: 1000, Message: "internal error"}},
			want: "checkout: polling EngageLab keeps failing (HTTP 500, code 1000: internal error)",
		},
		{
			name: "poll failing without an HTTP answer",
			event: Event{Type: TypeFiring, App: "checkout", Alert: "data", Rule: "poll_failing", Severity: "warning",
				Error: &EventError{Message: "connection refused"}},
			want: "checkout: polling EngageLab keeps failing (connection refused)",
		},
		{
			name: "stale, since given in another zone",
			event: Event{Type: TypeEscalated, App: "checkout", Alert: "data", Rule: "stale", Severity: "warning",
				Since: time.Date(2026, 11, 26, 10, 28, 0, 0, cet)},
			want: "checkout: no successful poll since 2026-11-26T09:28:00Z",
		},
		{
			name: "low balance resolved",
			event: with(money, func(e *Event) {
				e.Type, e.Rule, e.Severity = TypeResolved, "low_balance", "critical"
				e.Balance, e.TotalBalance = "250.0000", "250.0000"
			}),
			want: "checkout: low balance resolved; total balance is now 250.0000 USD",
		},
		{
			name: "overdraft resolved",
			event: with(money, func(e *Event) {
				e.Type, e.Rule, e.Severity = TypeResolved, "overdraft", "critical"
				e.Balance, e.TotalBalance = "5.0000", "10.0000"
			}),
			amountKind: "balance",
			want:       "checkout: overdraft resolved; total balance is now 10.0000 USD",
		},
		{
			name: "overdraft limit resolved",
			event: with(money, func(e *Event) {
				e.Type, e.Rule, e.Severity = TypeResolved, "overdraft_limit", "critical"
				e.TotalBalance = "-50.0000"
			}),
			want: "checkout: overdraft limit resolved; total balance is now -50.0000 USD",
		},
		{
			name: "auth failed resolved",
			event: with(money, func(e *Event) {
				e.Type, e.Alert, e.Rule, e.Severity = TypeResolved, "access", "auth_failed", "critical"
				e.TotalBalance = "250.0000"
			}),
			want: "checkout: EngageLab accepts the API key again; total balance is now 250.0000 USD",
		},
		{
			name:  "app unavailable resolved",
			event: Event{Type: TypeResolved, App: "checkout", Alert: "access", Rule: "app_unavailable", Severity: "critical"},
			want:  "checkout: the application is available again",
		},
		{
			name:  "poll failing resolved",
			event: Event{Type: TypeResolved, App: "checkout", Alert: "data", Rule: "poll_failing", Severity: "warning"},
			want:  "checkout: polling EngageLab works again",
		},
		{
			name: "stale resolved on paid balance",
			event: with(money, func(e *Event) {
				e.Type, e.Alert, e.Rule, e.Severity = TypeResolved, "data", "stale", "warning"
				e.Balance = "300.0000"
			}),
			amountKind: "balance",
			want:       "checkout: fresh data again; balance is now 300.0000 USD",
		},
		{
			name:  "test message",
			event: TestEvent("ops", observedAt),
			want:  "Test message from engagelab-monitor: if you can read this, notifier ops works.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Describe(tt.event, tt.amountKind); got != tt.want {
				t.Errorf("Describe() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestTestEvent(t *testing.T) {
	now := time.Date(2026, 11, 26, 11, 0, 0, 0, cet)
	e := TestEvent("pager", now)
	if e.Type != "test" || e.App != "" || !e.ObservedAt.Equal(now) || e.ObservedAt.Location() != time.UTC {
		t.Errorf("TestEvent() = %+v, want type test, no app, observed at %v in UTC", e, now)
	}
	id, err := ulid.Parse(strings.TrimPrefix(e.ID, "evt_"))
	if !strings.HasPrefix(e.ID, "evt_") || err != nil || !ulid.Time(id.Time()).Equal(now) {
		t.Errorf("TestEvent().ID = %q, want evt_ + a ULID of %v", e.ID, now)
	}
	if other := TestEvent("pager", now); other.ID == e.ID {
		t.Errorf("two test events share the id %q", e.ID)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{45 * time.Second, "45s"},
		{12*time.Minute + 30*time.Second, "12m"},
		{2 * time.Hour, "2h"},
		{2*time.Hour + 15*time.Minute, "2h 15m"},
		{24 * time.Hour, "1d"},
		{3*24*time.Hour + 4*time.Hour + 59*time.Minute, "3d 4h"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
