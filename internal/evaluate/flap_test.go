package evaluate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

const flapYAML = `
defaults: {thresholds: {warning: "100", critical: "20"}, stale_after: 2h, repeat_every: 10m}
notifiers: [{name: ops, type: webhook, url: "http://127.0.0.1:1/hook"}]
apps: [{name: a, dev_key: k, dev_secret: s, notify: [ops]}]
`

func auth401(at time.Time) *balance.Failure {
	return &balance.Failure{At: at, Kind: balance.AuthFailed, HTTPStatus: 401, Code: 2001, Message: "invalid token"}
}

// A key flapping 401/200 under the evaluator's clock: the first changes are sent, the one past
// flap.max_changes becomes one flapping message, the rest are recorded and not queued, no
// reminder is queued while it flaps, a restart in the middle forgets nothing, and the timer
// (TickAll, not a poll) ends the flap with one message saying the state it settled in.
// flipKey observes app a's i-th poll of a flapping key at now: a 401 for even i, a good
// balance for odd i.
func flipKey(t *testing.T, ev *evaluate.Evaluator, now time.Time, i int) []store.EventRecord {
	t.Helper()
	var recs []store.EventRecord
	var err error
	if i%2 == 0 {
		recs, err = ev.Observe(context.Background(), "a", nil, auth401(now))
	} else {
		recs, err = ev.Observe(context.Background(), "a", snap(now, "150.0000"), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestFlappingKeyIsDampedAndEndedByTheTimer(t *testing.T) {
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	now := start
	ev, st, id := setupYAML(t, &now, flapYAML, nil)
	ctx := context.Background()
	var sent []string // "type rule: message" of every record that has an outbox row
	var recorded int
	keep := func(recs []store.EventRecord) {
		t.Helper()
		for _, r := range recs {
			recorded++
			if len(r.Notifiers) > 0 {
				sent = append(sent, fmt.Sprintf("%s %s: %s", r.Type, r.Rule, message(t, r)))
			} else if !r.Silenced {
				t.Errorf("%s recorded with no notifier and not marked silenced", r.Type)
			}
		}
	}
	if _, err := ev.Observe(ctx, "a", snap(now, "150.0000"), nil); err != nil {
		t.Fatal(err)
	}
	flip := func(i int) {
		t.Helper()
		now = now.Add(2 * time.Second)
		recs := flipKey(t, ev, now, i)
		keep(recs)
	}
	for i := range 10 {
		flip(i)
	}
	// A restart: a new evaluator on the same database carries on from the stored history.
	cfg, err := config.Parse([]byte("database: {url: \"postgres://unused\"}\n"+flapYAML), func(string) (string, bool) { return "", false }, ".")
	if err != nil {
		t.Fatal(err)
	}
	ev2, err := evaluate.New(evaluate.Config{Store: st, Apps: cfg.Apps, Notifiers: cfg.Notifiers, AppIDs: map[string]int64{"a": id},
		Clock: func() time.Time { return now }, StartedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	ev = ev2
	for i := 10; i < 19; i++ {
		flip(i)
	}
	lastChange := now // the 19th flip left the key failing
	const fired = "EngageLab rejected the API key (HTTP 401, code 2001: invalid token)"
	want := []string{
		"alert.firing auth_failed: a: " + fired,
		"alert.resolved auth_failed: a: EngageLab accepts the API key again; total balance is now 150.0000 USD",
		"alert.firing auth_failed: a: " + fired,
		"alert.resolved auth_failed: a: EngageLab accepts the API key again; total balance is now 150.0000 USD",
		"alert.flapping auth_failed: a: access alert is flapping (5 changes in 30m); messages paused until it is stable for 30m",
	}
	if d := cmp.Diff(want, sent); d != "" {
		t.Fatalf("queued after 19 flips (-want +got):\n%s", d)
	}
	if recorded != 20 { // 19 transitions and the flapping message
		t.Errorf("recorded %d events, want 20: every transition stays in the event log", recorded)
	}

	// Ticks while it is quiet: reminders are due every 10m but paused; the flap lasts until
	// 30m after the last change, not a microsecond less.
	for _, at := range []time.Duration{10 * time.Minute, 20 * time.Minute, 30*time.Minute - time.Microsecond} {
		now = lastChange.Add(at)
		if err := ev.TickAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.Events(ctx, "a", time.Time{}, 100); err != nil || len(n) != 20 {
		t.Fatalf("event log during the quiet period: %d events (%v), want still 20: reminders are paused", len(n), err)
	}
	now = lastChange.Add(30 * time.Minute)
	due, err := st.DueForTick(ctx, now, start, store.NewTickRules([]store.TickRule{{AppID: id, FlapWindow: 30 * time.Minute}}))
	if err != nil || !slices.Equal(due, []int64{id}) {
		t.Fatalf("due for a tick at the end of the flap: %v (%v), want the app", due, err)
	}
	if err := ev.TickAll(ctx); err != nil {
		t.Fatal(err)
	}
	events, err := st.Events(ctx, "a", time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	endMsg := "a: " + fired + "; stable for 30m after flapping, messages resume"
	if got := events[0]; got.Type != "alert.firing" || got.Message != endMsg || len(got.Deliveries) != 1 || got.Silenced {
		t.Errorf("newest event after the timer tick: %s %q silenced=%v deliveries %+v; want the firing %q queued for ops",
			got.Type, got.Message, got.Silenced, got.Deliveries, endMsg)
	}
	silenced := 0
	for _, e := range events {
		if e.Silenced {
			silenced++
		}
	}
	if len(events) != 21 || silenced != 15 {
		t.Errorf("event log has %d events, %d not sent; want 21 and 15", len(events), silenced)
	}
	firing, err := st.FiringAlerts(ctx, "a")
	if err != nil || len(firing) != 1 || firing[0].Rule != "auth_failed" {
		t.Errorf("firing = %+v (%v), want auth_failed: the state stayed truthful", firing, err)
	}
	var rows int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM alert_flaps WHERE app_id = $1`, id).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d flap rows after the flap ended and its changes left the window, want 0", rows)
	}
	// Reminders resume on their own clock, from the message that ended the flap.
	now = now.Add(10 * time.Minute)
	recs, err := ev.Tick(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	keep(recs)
	if last := sent[len(sent)-1]; last != "alert.reminder auth_failed: a: "+fired {
		t.Errorf("10m after the flap ended: %q, want a reminder", last)
	}
}

// With flap: off every change is a message, as before.
func TestFlapOffSendsEveryChange(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	ev, _, _ := setupYAML(t, &now, `
defaults: {thresholds: {warning: "100", critical: "20"}, stale_after: 2h, flap: off}
notifiers: [{name: ops, type: webhook, url: "http://127.0.0.1:1/hook"}]
apps: [{name: a, dev_key: k, dev_secret: s, notify: [ops]}]
`, nil)
	queued := 0
	for i := range 9 {
		now = now.Add(2 * time.Second)
		recs := flipKey(t, ev, now, i)
		for _, r := range recs {
			if len(r.Notifiers) > 0 {
				queued++
			}
		}
	}
	if queued != 9 {
		t.Errorf("queued %d messages for 9 changes with flap: off, want 9", queued)
	}
}

// message is the sentence of a record's rendered body.
func message(t *testing.T, r store.EventRecord) string {
	t.Helper()
	var b notify.Event
	if err := json.Unmarshal(r.Payload, &b); err != nil {
		t.Fatal(err)
	}
	if b.Type != string(r.Type) {
		t.Errorf("body type %q, record type %q", b.Type, r.Type)
	}
	return b.Message
}
