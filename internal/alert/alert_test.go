package alert

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/shopspring/decimal"
)

var (
	t0     = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	lastOK = ago(time.Minute) // a recent success: nothing is stale

	err401 = &balance.Failure{Kind: balance.AuthFailed, HTTPStatus: 401, Code: 2001, Message: "invalid token"}
	err403 = &balance.Failure{Kind: balance.AppUnavailable, HTTPStatus: 403, Code: 2002, Message: "app unavailable"}
	err500 = &balance.Failure{Kind: balance.ServerError, HTTPStatus: 500, Message: "internal server error"}

	// Sent has tests of its own (TestSilenceEndAnnouncesWhatChanged); the tables here compare
	// the rest of the state.
	cmpOpts = cmp.Options{cmp.Comparer(func(a, b decimal.Decimal) bool { return a.Equal(b) }),
		cmpopts.IgnoreFields(AlertState{}, "Sent")}
)

func ago(d time.Duration) time.Time { return t0.Add(-d) }

func dec(s string) *decimal.Decimal {
	d := decimal.RequireFromString(s)
	return &d
}

func baseRules() Rules {
	return Rules{
		Amount:             balance.AmountTotalBalance,
		Warning:            *dec("100"),
		Critical:           *dec("20"),
		ResolveMargin:      decimal.Zero,
		OverdraftWarnRatio: *dec("0.8"),
		RepeatEvery:        4 * time.Hour,
		StaleAfter:         30 * time.Minute,
	}
}

func withMargin(r *Rules)    { r.ResolveMargin = *dec("5") }
func withLimit(r *Rules)     { r.OverdraftLimit = dec("200") } // overdraft_limit fires at total <= -160
func amountBalance(r *Rules) { r.Amount = balance.AmountBalance }

// ok is a successful poll with no gift credit.
func ok(total string) *Observation { return okGift(total, "0") }

func okGift(bal, gift string) *Observation {
	b, g := *dec(bal), *dec(gift)
	return &Observation{Snapshot: &balance.Snapshot{Currency: "USD", Balance: b, GiftBalance: g, TotalBalance: b.Add(g)}}
}

func failed(f *balance.Failure) *Observation { return &Observation{Failure: f} }

// firing is an alert whose episode and level began at since and whose last
// message was sent at lastSent.
func firing(l Level, since, lastSent time.Time) AlertState {
	return AlertState{Level: l, Since: since, LevelSince: since, LastSentAt: lastSent, Sent: l}
}

func TestEvaluate(t *testing.T) {
	warningSince := firing(lowWarning, ago(2*time.Hour), ago(time.Hour))
	criticalSince := firing(lowCritical, ago(2*time.Hour), ago(time.Hour))
	overdraftSince := firing(overdraft, ago(2*time.Hour), ago(time.Hour))
	limitSince := firing(overdraftLimit, ago(2*time.Hour), ago(time.Hour))
	// after is s having moved to l at t0, as an escalation or de-escalation does.
	after := func(s AlertState, l Level) AlertState {
		s.Level, s.LevelSince, s.LastSentAt = l, t0, t0
		return s
	}
	sent := func(s AlertState, at time.Time) AlertState {
		s.LastSentAt = at
		return s
	}

	tests := []struct {
		name       string
		rules      []func(*Rules)
		prev       State
		obs        *Observation // nil: a tick
		startedAt  time.Time    // zero: an hour before t0
		want       State
		wantEvents []Event
	}{
		// Money ladder.
		{
			name: "healthy balance fires nothing",
			prev: State{LastSuccessAt: lastOK},
			obs:  ok("150"),
			want: State{LastSuccessAt: t0},
		},
		{
			name: "a success records when the poll happened, not when it was evaluated",
			prev: State{LastSuccessAt: lastOK},
			obs:  &Observation{At: ago(5 * time.Second), Snapshot: &balance.Snapshot{Currency: "USD", TotalBalance: *dec("150")}},
			want: State{LastSuccessAt: ago(5 * time.Second)},
		},
		{
			name: "below warning fires low_balance warning",
			prev: State{LastSuccessAt: lastOK},
			obs:  ok("99.9999"),
			want: State{Money: firing(lowWarning, t0, t0), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Firing, Alert: Money, Level: lowWarning, Since: t0, At: t0, Threshold: dec("100")},
			},
		},
		{
			name: "exactly at warning does not fire",
			prev: State{LastSuccessAt: lastOK},
			obs:  ok("100"),
			want: State{LastSuccessAt: t0},
		},
		{
			name: "warning escalates to critical",
			prev: State{Money: warningSince, LastSuccessAt: lastOK},
			obs:  ok("19.9999"),
			want: State{Money: after(warningSince, lowCritical), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Escalated, Alert: Money, Level: lowCritical, Previous: lowWarning, Since: ago(2 * time.Hour), At: t0, Threshold: dec("20")},
			},
		},
		{
			name: "critical escalates to overdraft below zero",
			prev: State{Money: criticalSince, LastSuccessAt: lastOK},
			obs:  ok("-0.0001"),
			want: State{Money: after(criticalSince, overdraft), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Escalated, Alert: Money, Level: overdraft, Previous: lowCritical, Since: ago(2 * time.Hour), At: t0},
			},
		},
		{
			name: "zero total is not an overdraft",
			prev: State{Money: criticalSince, LastSuccessAt: lastOK},
			obs:  ok("0"),
			want: State{Money: criticalSince, LastSuccessAt: t0},
		},
		{
			name:  "overdraft escalates to overdraft_limit at ratio x limit",
			rules: []func(*Rules){withLimit},
			prev:  State{Money: overdraftSince, LastSuccessAt: lastOK},
			obs:   ok("-160"),
			want:  State{Money: after(overdraftSince, overdraftLimit), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Escalated, Alert: Money, Level: overdraftLimit, Previous: overdraft, Since: ago(2 * time.Hour), At: t0},
			},
		},
		{
			name:  "arrears under ratio x limit stay overdraft",
			rules: []func(*Rules){withLimit},
			prev:  State{Money: overdraftSince, LastSuccessAt: lastOK},
			obs:   ok("-159.9999"),
			want:  State{Money: overdraftSince, LastSuccessAt: t0},
		},
		{
			name:  "overdraft_limit holds exactly at its threshold without margin",
			rules: []func(*Rules){withLimit},
			prev:  State{Money: limitSince, LastSuccessAt: lastOK},
			obs:   ok("-160"),
			want:  State{Money: limitSince, LastSuccessAt: t0},
		},
		{
			name: "without a limit deep arrears stay overdraft",
			prev: State{Money: overdraftSince, LastSuccessAt: lastOK},
			obs:  ok("-100000"),
			want: State{Money: overdraftSince, LastSuccessAt: t0},
		},
		{
			name: "healthy jumps straight to critical",
			prev: State{LastSuccessAt: lastOK},
			obs:  ok("5"),
			want: State{Money: firing(lowCritical, t0, t0), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Firing, Alert: Money, Level: lowCritical, Since: t0, At: t0, Threshold: dec("20")},
			},
		},
		{
			name:  "healthy jumps straight to overdraft_limit",
			rules: []func(*Rules){withLimit},
			prev:  State{LastSuccessAt: lastOK},
			obs:   ok("-500"),
			want:  State{Money: firing(overdraftLimit, t0, t0), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Firing, Alert: Money, Level: overdraftLimit, Since: t0, At: t0},
			},
		},
		{
			name: "critical de-escalates to warning",
			prev: State{Money: criticalSince, LastSuccessAt: lastOK},
			obs:  ok("50"),
			want: State{Money: after(criticalSince, lowWarning), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Deescalated, Alert: Money, Level: lowWarning, Previous: lowCritical, Since: ago(2 * time.Hour), At: t0, Threshold: dec("100")},
			},
		},
		{
			name:  "overdraft_limit de-escalates straight to warning",
			rules: []func(*Rules){withLimit},
			prev:  State{Money: limitSince, LastSuccessAt: lastOK},
			obs:   ok("60"),
			want:  State{Money: after(limitSince, lowWarning), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Deescalated, Alert: Money, Level: lowWarning, Previous: overdraftLimit, Since: ago(2 * time.Hour), At: t0, Threshold: dec("100")},
			},
		},
		{
			name: "recharge resolves warning",
			prev: State{Money: warningSince, LastSuccessAt: lastOK},
			obs:  ok("150"),
			want: State{LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Resolved, Alert: Money, Level: lowWarning, Since: ago(2 * time.Hour), At: t0, Threshold: dec("100")},
			},
		},
		{
			name: "exactly at warning resolves without margin",
			prev: State{Money: warningSince, LastSuccessAt: lastOK},
			obs:  ok("100"),
			want: State{LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Resolved, Alert: Money, Level: lowWarning, Since: ago(2 * time.Hour), At: t0, Threshold: dec("100")},
			},
		},
		{
			name: "recharge resolves overdraft at once",
			prev: State{Money: overdraftSince, LastSuccessAt: lastOK},
			obs:  ok("500"),
			want: State{LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Resolved, Alert: Money, Level: overdraft, Since: ago(2 * time.Hour), At: t0},
			},
		},

		// Hysteresis, margin 5.
		{
			name:  "margin: at warning does not resolve",
			rules: []func(*Rules){withMargin},
			prev:  State{Money: warningSince, LastSuccessAt: lastOK},
			obs:   ok("100"),
			want:  State{Money: warningSince, LastSuccessAt: t0},
		},
		{
			name:  "margin: just under warning+margin does not resolve",
			rules: []func(*Rules){withMargin},
			prev:  State{Money: warningSince, LastSuccessAt: lastOK},
			obs:   ok("104.9999"),
			want:  State{Money: warningSince, LastSuccessAt: t0},
		},
		{
			name:  "margin: at warning+margin resolves",
			rules: []func(*Rules){withMargin},
			prev:  State{Money: warningSince, LastSuccessAt: lastOK},
			obs:   ok("105"),
			want:  State{LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Resolved, Alert: Money, Level: lowWarning, Since: ago(2 * time.Hour), At: t0, Threshold: dec("100")},
			},
		},
		{
			name:  "margin: critical holds just under critical+margin",
			rules: []func(*Rules){withMargin},
			prev:  State{Money: criticalSince, LastSuccessAt: lastOK},
			obs:   ok("24.9999"),
			want:  State{Money: criticalSince, LastSuccessAt: t0},
		},
		{
			name:  "margin: critical de-escalates at critical+margin",
			rules: []func(*Rules){withMargin},
			prev:  State{Money: criticalSince, LastSuccessAt: lastOK},
			obs:   ok("25"),
			want:  State{Money: after(criticalSince, lowWarning), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Deescalated, Alert: Money, Level: lowWarning, Previous: lowCritical, Since: ago(2 * time.Hour), At: t0, Threshold: dec("100")},
			},
		},
		{
			name:  "margin: overdraft holds just under the margin",
			rules: []func(*Rules){withMargin},
			prev:  State{Money: overdraftSince, LastSuccessAt: lastOK},
			obs:   ok("4.9999"),
			want:  State{Money: overdraftSince, LastSuccessAt: t0},
		},
		{
			name:  "margin: overdraft de-escalates at the margin",
			rules: []func(*Rules){withMargin},
			prev:  State{Money: overdraftSince, LastSuccessAt: lastOK},
			obs:   ok("5"),
			want:  State{Money: after(overdraftSince, lowCritical), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Deescalated, Alert: Money, Level: lowCritical, Previous: overdraft, Since: ago(2 * time.Hour), At: t0, Threshold: dec("20")},
			},
		},
		{
			name:  "margin: overdraft_limit holds just under its threshold+margin",
			rules: []func(*Rules){withMargin, withLimit},
			prev:  State{Money: limitSince, LastSuccessAt: lastOK},
			obs:   ok("-155.0001"),
			want:  State{Money: limitSince, LastSuccessAt: t0},
		},
		{
			name:  "margin: overdraft_limit de-escalates at its threshold+margin",
			rules: []func(*Rules){withMargin, withLimit},
			prev:  State{Money: limitSince, LastSuccessAt: lastOK},
			obs:   ok("-155"),
			want:  State{Money: after(limitSince, overdraft), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Deescalated, Alert: Money, Level: overdraft, Previous: overdraftLimit, Since: ago(2 * time.Hour), At: t0},
			},
		},
		{
			name:  "margin: de-escalation stops at the level still held",
			rules: []func(*Rules){withMargin, withLimit},
			prev:  State{Money: limitSince, LastSuccessAt: lastOK},
			obs:   ok("24"),
			want:  State{Money: after(limitSince, lowCritical), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Deescalated, Alert: Money, Level: lowCritical, Previous: overdraftLimit, Since: ago(2 * time.Hour), At: t0, Threshold: dec("20")},
			},
		},
		{
			name:  "margin: does not delay escalation",
			rules: []func(*Rules){withMargin},
			prev:  State{Money: warningSince, LastSuccessAt: lastOK},
			obs:   ok("19.9999"),
			want:  State{Money: after(warningSince, lowCritical), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Escalated, Alert: Money, Level: lowCritical, Previous: lowWarning, Since: ago(2 * time.Hour), At: t0, Threshold: dec("20")},
			},
		},

		// Which amount.
		{
			name:  "amount balance ignores gift credit",
			rules: []func(*Rules){amountBalance},
			prev:  State{LastSuccessAt: lastOK},
			obs:   okGift("90", "50"),
			want:  State{Money: firing(lowWarning, t0, t0), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Firing, Alert: Money, Level: lowWarning, Since: t0, At: t0, Threshold: dec("100")},
			},
		},
		{
			name: "amount total_balance counts gift credit",
			prev: State{LastSuccessAt: lastOK},
			obs:  okGift("90", "50"),
			want: State{LastSuccessAt: t0},
		},
		{
			name:  "overdraft follows total_balance when amount is balance",
			rules: []func(*Rules){amountBalance},
			prev:  State{LastSuccessAt: lastOK},
			obs:   okGift("-10", "20"),
			want:  State{Money: firing(lowCritical, t0, t0), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Firing, Alert: Money, Level: lowCritical, Since: t0, At: t0, Threshold: dec("20")},
			},
		},

		// Reminders.
		{
			name: "reminder after repeat_every",
			prev: State{Money: sent(warningSince, ago(4*time.Hour)), LastSuccessAt: lastOK},
			obs:  ok("90"),
			want: State{Money: sent(warningSince, t0), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Reminder, Alert: Money, Level: lowWarning, Since: ago(2 * time.Hour), At: t0, Threshold: dec("100")},
			},
		},
		{
			name: "no reminder a second before repeat_every",
			prev: State{Money: sent(warningSince, ago(4*time.Hour-time.Second)), LastSuccessAt: lastOK},
			obs:  ok("90"),
			want: State{Money: sent(warningSince, ago(4*time.Hour-time.Second)), LastSuccessAt: t0},
		},
		{
			name: "reminder on a tick",
			prev: State{Money: sent(warningSince, ago(5*time.Hour)), LastSuccessAt: lastOK},
			want: State{Money: sent(warningSince, t0), LastSuccessAt: lastOK},
			wantEvents: []Event{
				{Type: Reminder, Alert: Money, Level: lowWarning, Since: ago(2 * time.Hour), At: t0, Threshold: dec("100")},
			},
		},
		{
			name:  "repeat_every 0 never reminds",
			rules: []func(*Rules){func(r *Rules) { r.RepeatEvery = 0 }},
			prev:  State{Money: sent(warningSince, ago(400*24*time.Hour)), LastSuccessAt: lastOK},
			want:  State{Money: sent(warningSince, ago(400*24*time.Hour)), LastSuccessAt: lastOK},
		},
		{
			name: "failed poll leaves low_balance exactly as it was",
			prev: State{Money: warningSince, LastSuccessAt: lastOK},
			obs:  failed(err500),
			want: State{Money: warningSince, ConsecutiveFailures: 1, LastSuccessAt: lastOK},
		},
		{
			name: "failed poll still carries a due money reminder",
			prev: State{Money: sent(overdraftSince, ago(4*time.Hour)), LastSuccessAt: lastOK},
			obs:  failed(err500),
			want: State{Money: sent(overdraftSince, t0), ConsecutiveFailures: 1, LastSuccessAt: lastOK},
			wantEvents: []Event{
				{Type: Reminder, Alert: Money, Level: overdraft, Since: ago(2 * time.Hour), At: t0},
			},
		},

		// Access.
		{
			name: "401 fires auth_failed at once",
			prev: State{LastSuccessAt: lastOK},
			obs:  failed(err401),
			want: State{Access: firing(authFailed, t0, t0), ConsecutiveFailures: 1, LastSuccessAt: lastOK},
			wantEvents: []Event{
				{Type: Firing, Alert: Access, Level: authFailed, Since: t0, At: t0, Failure: err401},
			},
		},
		{
			name: "403 fires app_unavailable at once",
			prev: State{LastSuccessAt: lastOK},
			obs:  failed(err403),
			want: State{Access: firing(appUnavailable, t0, t0), ConsecutiveFailures: 1, LastSuccessAt: lastOK},
			wantEvents: []Event{
				{Type: Firing, Alert: Access, Level: appUnavailable, Since: t0, At: t0, Failure: err403},
			},
		},
		{
			name: "auth_failed to app_unavailable is an escalation",
			prev: State{Access: firing(authFailed, ago(time.Hour), ago(time.Hour)), ConsecutiveFailures: 5, LastSuccessAt: lastOK},
			obs:  failed(err403),
			want: State{Access: after(firing(authFailed, ago(time.Hour), ago(time.Hour)), appUnavailable), ConsecutiveFailures: 6, LastSuccessAt: lastOK},
			wantEvents: []Event{
				{Type: Escalated, Alert: Access, Level: appUnavailable, Previous: authFailed, Since: ago(time.Hour), At: t0, Failure: err403},
			},
		},
		{
			name: "app_unavailable to auth_failed is an escalation too",
			prev: State{Access: firing(appUnavailable, ago(time.Hour), ago(time.Hour)), ConsecutiveFailures: 5, LastSuccessAt: lastOK},
			obs:  failed(err401),
			want: State{Access: after(firing(appUnavailable, ago(time.Hour), ago(time.Hour)), authFailed), ConsecutiveFailures: 6, LastSuccessAt: lastOK},
			wantEvents: []Event{
				{Type: Escalated, Alert: Access, Level: authFailed, Previous: appUnavailable, Since: ago(time.Hour), At: t0, Failure: err401},
			},
		},
		{
			name: "server error while access fires leaves access as it was",
			prev: State{Access: firing(authFailed, ago(time.Hour), ago(time.Hour)), ConsecutiveFailures: 1, LastSuccessAt: lastOK},
			obs:  failed(err500),
			want: State{Access: firing(authFailed, ago(time.Hour), ago(time.Hour)), ConsecutiveFailures: 2, LastSuccessAt: lastOK},
		},
		{
			name: "access reminder carries the failure that continues it",
			prev: State{Access: firing(authFailed, ago(5*time.Hour), ago(4*time.Hour)), ConsecutiveFailures: 1, LastSuccessAt: lastOK},
			obs:  failed(err401),
			want: State{Access: firing(authFailed, ago(5*time.Hour), t0), ConsecutiveFailures: 2, LastSuccessAt: lastOK},
			wantEvents: []Event{
				{Type: Reminder, Alert: Access, Level: authFailed, Since: ago(5 * time.Hour), At: t0, Failure: err401},
			},
		},
		{
			name: "success resolves access and evaluates money",
			prev: State{Access: firing(authFailed, ago(time.Hour), ago(time.Hour)), ConsecutiveFailures: 7, LastSuccessAt: ago(2 * time.Hour)},
			obs:  ok("50"),
			want: State{Money: firing(lowWarning, t0, t0), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Firing, Alert: Money, Level: lowWarning, Since: t0, At: t0, Threshold: dec("100")},
				{Type: Resolved, Alert: Access, Level: authFailed, Since: ago(time.Hour), At: t0},
			},
		},

		// Data.
		{
			name: "two failed polls do not fire poll_failing",
			prev: State{ConsecutiveFailures: 1, LastSuccessAt: lastOK},
			obs:  failed(err500),
			want: State{ConsecutiveFailures: 2, LastSuccessAt: lastOK},
		},
		{
			name: "third failed poll fires poll_failing",
			prev: State{ConsecutiveFailures: 2, LastSuccessAt: lastOK},
			obs:  failed(err500),
			want: State{Data: firing(pollFailing, t0, t0), ConsecutiveFailures: 3, LastSuccessAt: lastOK},
			wantEvents: []Event{
				{Type: Firing, Alert: Data, Level: pollFailing, Since: t0, At: t0, Failure: err500},
			},
		},
		{
			name: "poll_failing escalates to stale",
			prev: State{Data: firing(pollFailing, ago(20*time.Minute), ago(20*time.Minute)), ConsecutiveFailures: 10, LastSuccessAt: ago(30 * time.Minute)},
			obs:  failed(err500),
			want: State{Data: after(firing(pollFailing, ago(20*time.Minute), ago(20*time.Minute)), stale), ConsecutiveFailures: 11, LastSuccessAt: ago(30 * time.Minute)},
			wantEvents: []Event{
				{Type: Escalated, Alert: Data, Level: stale, Previous: pollFailing, Since: ago(20 * time.Minute), At: t0, Failure: err500},
			},
		},
		{
			name: "data reminder after repeat_every",
			prev: State{Data: firing(pollFailing, ago(5*time.Hour), ago(4*time.Hour)), ConsecutiveFailures: 3, LastSuccessAt: lastOK},
			obs:  failed(err500),
			want: State{Data: firing(pollFailing, ago(5*time.Hour), t0), ConsecutiveFailures: 4, LastSuccessAt: lastOK},
			wantEvents: []Event{
				{Type: Reminder, Alert: Data, Level: pollFailing, Since: ago(5 * time.Hour), At: t0, Failure: err500},
			},
		},
		{
			name:      "stale on a tick from process start when never polled successfully",
			startedAt: ago(30 * time.Minute),
			want:      State{Data: firing(stale, t0, t0)},
			wantEvents: []Event{
				{Type: Firing, Alert: Data, Level: stale, Since: t0, At: t0},
			},
		},
		{
			name:      "not stale a second before stale_after from process start",
			startedAt: ago(30*time.Minute - time.Second),
		},
		{
			name:      "stale on a tick from the last success",
			prev:      State{LastSuccessAt: ago(30 * time.Minute)},
			startedAt: ago(2 * time.Hour),
			want:      State{Data: firing(stale, t0, t0), LastSuccessAt: ago(30 * time.Minute)},
			wantEvents: []Event{
				{Type: Firing, Alert: Data, Level: stale, Since: t0, At: t0},
			},
		},
		{
			name:      "not stale a second before stale_after from the last success",
			prev:      State{LastSuccessAt: ago(30*time.Minute - time.Second)},
			startedAt: ago(2 * time.Hour),
			want:      State{LastSuccessAt: ago(30*time.Minute - time.Second)},
		},
		{
			name:      "after a restart staleness counts from the start",
			prev:      State{LastSuccessAt: ago(2 * time.Hour)},
			startedAt: ago(10 * time.Minute),
			want:      State{LastSuccessAt: ago(2 * time.Hour)},
		},
		{
			name:      "a restart does not lower a stale alert",
			prev:      State{Data: firing(stale, ago(time.Hour), ago(time.Hour)), LastSuccessAt: ago(2 * time.Hour)},
			startedAt: ago(10 * time.Minute),
			want:      State{Data: firing(stale, ago(time.Hour), ago(time.Hour)), LastSuccessAt: ago(2 * time.Hour)},
		},
		{
			name: "success resolves data",
			prev: State{Data: firing(stale, ago(time.Hour), ago(time.Hour)), ConsecutiveFailures: 40, LastSuccessAt: ago(2 * time.Hour)},
			obs:  ok("150"),
			want: State{LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Resolved, Alert: Data, Level: stale, Since: ago(time.Hour), At: t0},
			},
		},
		{
			name: "third failure while access fires does not fire poll_failing",
			prev: State{Access: firing(authFailed, ago(2*time.Minute), ago(2*time.Minute)), ConsecutiveFailures: 2, LastSuccessAt: lastOK},
			obs:  failed(err401),
			want: State{Access: firing(authFailed, ago(2*time.Minute), ago(2*time.Minute)), ConsecutiveFailures: 3, LastSuccessAt: lastOK},
		},
		{
			name: "data frozen while access fires: no stale, no reminder",
			prev: State{
				Access:              firing(authFailed, ago(time.Hour), ago(time.Hour)),
				Data:                firing(pollFailing, ago(5*time.Hour), ago(5*time.Hour)),
				ConsecutiveFailures: 9,
				LastSuccessAt:       ago(6 * time.Hour),
			},
			want: State{
				Access:              firing(authFailed, ago(time.Hour), ago(time.Hour)),
				Data:                firing(pollFailing, ago(5*time.Hour), ago(5*time.Hour)),
				ConsecutiveFailures: 9,
				LastSuccessAt:       ago(6 * time.Hour),
			},
		},

		// Silence.
		{
			name: "events while silenced are recorded and marked",
			prev: State{LastSuccessAt: lastOK, SilencedUntil: t0.Add(time.Hour)},
			obs:  ok("90"),
			want: State{Money: firing(lowWarning, t0, t0), LastSuccessAt: t0, SilencedUntil: t0.Add(time.Hour)},
			wantEvents: []Event{
				{Type: Firing, Alert: Money, Level: lowWarning, Since: t0, At: t0, Threshold: dec("100"), Silenced: true},
			},
		},
		{
			name: "no reminder while silenced",
			prev: State{Money: sent(warningSince, ago(5*time.Hour)), LastSuccessAt: lastOK, SilencedUntil: t0.Add(time.Second)},
			want: State{Money: sent(warningSince, ago(5*time.Hour)), LastSuccessAt: lastOK, SilencedUntil: t0.Add(time.Second)},
		},
		{
			name: "silence end reminds every firing alert once",
			prev: State{
				Money:               warningSince,
				Data:                firing(pollFailing, ago(10*time.Minute), ago(10*time.Minute)),
				ConsecutiveFailures: 3,
				LastSuccessAt:       lastOK,
				SilencedUntil:       t0,
			},
			want: State{
				Money:               sent(warningSince, t0),
				Data:                firing(pollFailing, ago(10*time.Minute), t0),
				ConsecutiveFailures: 3,
				LastSuccessAt:       lastOK,
			},
			wantEvents: []Event{
				{Type: Reminder, Alert: Money, Level: lowWarning, Since: ago(2 * time.Hour), At: t0, Threshold: dec("100")},
				{Type: Reminder, Alert: Data, Level: pollFailing, Since: ago(10 * time.Minute), At: t0},
			},
		},
		{
			name: "silence end with a reminder also due sends one reminder",
			prev: State{Money: sent(warningSince, ago(5*time.Hour)), LastSuccessAt: lastOK, SilencedUntil: ago(time.Minute)},
			want: State{Money: sent(warningSince, t0), LastSuccessAt: lastOK},
			wantEvents: []Event{
				{Type: Reminder, Alert: Money, Level: lowWarning, Since: ago(2 * time.Hour), At: t0, Threshold: dec("100")},
			},
		},
		{
			name: "silence end with nothing firing sends nothing",
			prev: State{LastSuccessAt: lastOK, SilencedUntil: ago(time.Minute)},
			want: State{LastSuccessAt: lastOK},
		},
		{
			name: "silence end with a transition sends the transition alone",
			prev: State{Money: warningSince, LastSuccessAt: lastOK, SilencedUntil: ago(time.Minute)},
			obs:  ok("10"),
			want: State{Money: after(warningSince, lowCritical), LastSuccessAt: t0},
			wantEvents: []Event{
				{Type: Escalated, Alert: Money, Level: lowCritical, Previous: lowWarning, Since: ago(2 * time.Hour), At: t0, Threshold: dec("20")},
			},
		},
		{
			name: "silence end does not remind a data alert frozen by access",
			prev: State{
				Access:        firing(authFailed, ago(time.Hour), ago(time.Hour)),
				Data:          firing(pollFailing, ago(2*time.Hour), ago(2*time.Hour)),
				LastSuccessAt: ago(3 * time.Hour),
				SilencedUntil: ago(time.Minute),
			},
			want: State{
				Access:        firing(authFailed, ago(time.Hour), t0),
				Data:          firing(pollFailing, ago(2*time.Hour), ago(2*time.Hour)),
				LastSuccessAt: ago(3 * time.Hour),
			},
			wantEvents: []Event{
				{Type: Reminder, Alert: Access, Level: authFailed, Since: ago(time.Hour), At: t0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := baseRules()
			for _, f := range tt.rules {
				f(&r)
			}
			if tt.obs != nil && tt.obs.At.IsZero() {
				tt.obs.At = t0
			}
			startedAt := tt.startedAt
			if startedAt.IsZero() {
				startedAt = ago(time.Hour)
			}
			got, gotEvents := Evaluate(tt.prev, tt.obs, r, t0, startedAt)
			if diff := cmp.Diff(tt.wantEvents, gotEvents, cmpOpts); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
		})
	}
}

// step is one call in a scenario: a poll (or a tick when obs is nil) at at,
// after an optional operator action on the state.
type step struct {
	at     time.Duration // after t0
	action func(s State, now time.Time) State
	obs    *Observation
	want   []Event
}

func TestScenarios(t *testing.T) {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	revoked := []step{{at: 0, obs: ok("500")}}
	revoked = append(revoked, step{at: time.Minute, obs: failed(err401), want: []Event{
		{Type: Firing, Alert: Access, Level: authFailed, Since: at(time.Minute), At: at(time.Minute), Failure: err401},
	}})
	for i := 2; i <= 10; i++ {
		revoked = append(revoked, step{at: time.Duration(i) * time.Minute, obs: failed(err401)})
	}
	revoked = append(revoked,
		step{at: 31 * time.Minute},
		step{at: time.Hour},
		step{at: 4*time.Hour + time.Minute - time.Second},
		step{at: 4*time.Hour + time.Minute - time.Second, obs: ok("50"), want: []Event{
			{Type: Firing, Alert: Money, Level: lowWarning, Since: at(4*time.Hour + time.Minute - time.Second), At: at(4*time.Hour + time.Minute - time.Second), Threshold: dec("100")},
			{Type: Resolved, Alert: Access, Level: authFailed, Since: at(time.Minute), At: at(4*time.Hour + time.Minute - time.Second)},
		}},
	)

	tests := []struct {
		name  string
		steps []step
		want  State
	}{
		{
			name:  "revoked key: one auth_failed, no poll_failing or stale, then recovery",
			steps: revoked,
			want: State{
				Money:         firing(lowWarning, at(4*time.Hour+time.Minute-time.Second), at(4*time.Hour+time.Minute-time.Second)),
				LastSuccessAt: at(4*time.Hour + time.Minute - time.Second),
			},
		},
		{
			name: "escalation restarts the reminder clock",
			steps: []step{
				{at: 0, obs: ok("90"), want: []Event{
					{Type: Firing, Alert: Money, Level: lowWarning, Since: t0, At: t0, Threshold: dec("100")},
				}},
				{at: 3 * time.Hour, obs: ok("10"), want: []Event{
					{Type: Escalated, Alert: Money, Level: lowCritical, Previous: lowWarning, Since: t0, At: at(3 * time.Hour), Threshold: dec("20")},
				}},
				{at: 4 * time.Hour, obs: ok("10")},
				{at: 7*time.Hour - time.Second, obs: ok("10")},
				{at: 7 * time.Hour, obs: ok("10"), want: []Event{
					{Type: Reminder, Alert: Money, Level: lowCritical, Since: t0, At: at(7 * time.Hour), Threshold: dec("20")},
				}},
				{at: 7*time.Hour + time.Minute, obs: ok("10")},
			},
			want: State{
				Money:         AlertState{Level: lowCritical, Since: t0, LevelSince: at(3 * time.Hour), LastSentAt: at(7 * time.Hour)},
				LastSuccessAt: at(7*time.Hour + time.Minute),
			},
		},
		{
			name: "silence then unsilence: the escalation that happened meanwhile is announced",
			steps: []step{
				{at: 0, obs: ok("90"), want: []Event{
					{Type: Firing, Alert: Money, Level: lowWarning, Since: t0, At: t0, Threshold: dec("100")},
				}},
				{
					at:     time.Minute,
					action: func(s State, _ time.Time) State { return Silence(s, at(2*time.Hour)) },
					obs:    ok("10"),
					want: []Event{
						{Type: Escalated, Alert: Money, Level: lowCritical, Previous: lowWarning, Since: t0, At: at(time.Minute), Threshold: dec("20"), Silenced: true},
					},
				},
				{at: 80 * time.Minute, obs: ok("10")},
				{at: 90 * time.Minute, action: Unsilence, want: []Event{
					{Type: Escalated, Alert: Money, Level: lowCritical, Previous: lowWarning, Since: t0, At: at(90 * time.Minute), Threshold: dec("20")},
				}},
				{at: 90 * time.Minute},
			},
			want: State{
				Money:         AlertState{Level: lowCritical, Since: t0, LevelSince: at(time.Minute), LastSentAt: at(90 * time.Minute)},
				LastSuccessAt: at(80 * time.Minute),
			},
		},
		{
			name: "unsilence of an app that is not silenced changes nothing",
			steps: []step{
				{at: 0, obs: ok("90"), want: []Event{
					{Type: Firing, Alert: Money, Level: lowWarning, Since: t0, At: t0, Threshold: dec("100")},
				}},
				{at: time.Minute, action: Unsilence},
			},
			want: State{Money: firing(lowWarning, t0, t0), LastSuccessAt: t0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s State
			for _, st := range tt.steps {
				now := at(st.at)
				if st.action != nil {
					s = st.action(s, now)
				}
				if st.obs != nil {
					st.obs.At = now
				}
				var got []Event
				s, got = Evaluate(s, st.obs, baseRules(), now, t0)
				if diff := cmp.Diff(st.want, got, cmpOpts); diff != "" {
					t.Errorf("at t0+%s: events (-want +got):\n%s", st.at, diff)
				}
			}
			if diff := cmp.Diff(tt.want, s, cmpOpts); diff != "" {
				t.Errorf("final state (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHoveringSendsOnlyReminders checks the point of hysteresis: once a level
// fires, amounts wandering within ±margin of its threshold (never reaching
// threshold+margin) send nothing but reminders.
func TestHoveringSendsOnlyReminders(t *testing.T) {
	r := baseRules()
	withMargin(&r)
	withLimit(&r)
	r.RepeatEvery = time.Hour
	tick := decimal.New(1, -4)

	for _, tc := range []struct {
		level     Level
		threshold string
	}{
		{lowWarning, "100"},
		{lowCritical, "20"},
		{overdraft, "0"},
		{overdraftLimit, "-160"},
	} {
		t.Run(tc.level.Rule+"/"+string(tc.level.Severity), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			threshold := *dec(tc.threshold)
			low := threshold.Sub(r.ResolveMargin)
			steps := r.ResolveMargin.Add(r.ResolveMargin).Div(tick).IntPart() // values low, low+tick, ..., threshold+margin-tick

			fire := &Observation{At: t0, Snapshot: &balance.Snapshot{Currency: "USD", TotalBalance: low, Balance: low}}
			s, events := Evaluate(State{}, fire, r, t0, t0)
			if len(events) != 1 || events[0].Level != tc.level {
				t.Fatalf("firing at %s: got %+v, want one event at %v", low, events, tc.level)
			}
			reminders := 0
			for i := 1; i <= 300; i++ {
				now := t0.Add(time.Duration(i) * time.Minute)
				var obs *Observation // a tick, one time in four
				if rng.IntN(4) > 0 {
					v := low.Add(tick.Mul(decimal.NewFromInt(rng.Int64N(steps))))
					obs = &Observation{At: now, Snapshot: &balance.Snapshot{Currency: "USD", Balance: v, TotalBalance: v}}
				}
				s, events = Evaluate(s, obs, r, now, t0)
				for _, ev := range events {
					if ev.Type != Reminder || ev.Alert != Money || ev.Level != tc.level {
						t.Fatalf("minute %d: unexpected event %+v", i, ev)
					}
					reminders++
				}
			}
			if reminders != 5 {
				t.Errorf("got %d reminders in 300 minutes with repeat_every 1h, want 5", reminders)
			}
		})
	}
}

func TestStateAlert(t *testing.T) {
	s := State{
		Money:  firing(lowWarning, t0, t0),
		Access: firing(authFailed, t0, t0),
		Data:   firing(stale, t0, t0),
	}
	for k, want := range map[Kind]Level{Money: lowWarning, Access: authFailed, Data: stale, "other": {}} {
		if got := s.Alert(k).Level; got != want {
			t.Errorf("Alert(%q).Level = %v, want %v", k, got, want)
		}
	}
}
