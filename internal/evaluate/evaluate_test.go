package evaluate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

func setup(t *testing.T, now *time.Time) (*evaluate.Evaluator, *store.Store, int64) {
	t.Helper()
	return setupYAML(t, now, `
defaults: {thresholds: {warning: "100", critical: "20"}, stale_after: 1h}
notifiers: [{name: ops, type: webhook, url: "http://127.0.0.1:1/hook"}]
apps: [{name: a, dev_key: k, dev_secret: s, notify: [ops]}]
`, nil)
}

// setupYAML is an evaluator of app "a" on a fresh database, configured by the YAML (a
// database URL is added), its clock at *now; tweak may adjust the config first.
func setupYAML(t *testing.T, now *time.Time, yaml string, tweak func(*config.Config)) (*evaluate.Evaluator, *store.Store, int64) {
	t.Helper()
	cfg, err := config.Parse([]byte("database: {url: \"postgres://unused\"}\n"+yaml), func(string) (string, bool) { return "", false }, ".")
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(cfg)
	}
	st := pgtest.New(t)
	ids, err := st.EnsureApps(context.Background(), []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	start := *now
	ev, err := evaluate.New(evaluate.Config{Store: st, Apps: cfg.Apps, Notifiers: cfg.Notifiers, AppIDs: ids,
		Clock: func() time.Time { return *now }, StartedAt: start})
	if err != nil {
		t.Fatal(err)
	}
	return ev, st, ids["a"]
}

func snap(at time.Time, total string) *balance.Snapshot {
	d := decimal.RequireFromString(total)
	return &balance.Snapshot{PolledAt: at, Currency: "USD", Balance: d, GiftBalance: decimal.Zero, TotalBalance: d}
}

// Two polls of one app ran at once and the older one reached the lock last: it is stored as
// history, but it cannot move the alerts backwards (a stale 500 must not resolve a fresh 50).
func TestAnOvertakenPollIsHistoryNotNews(t *testing.T) {
	t1 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Second)
	now := t2
	ev, st, id := setup(t, &now)
	ctx := context.Background()

	events, err := ev.Observe(ctx, "a", snap(t2, "50.0000"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Type != "alert.firing" || events[0].Rule != "low_balance" {
		t.Fatalf("events of the newer poll = %+v, want one low_balance firing", events)
	}
	events, err = ev.Observe(ctx, "a", snap(t1, "500.0000"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 0 {
		t.Errorf("the overtaken poll caused %+v, want nothing", events)
	}
	pts, err := st.Snapshots(ctx, "a", t1.Add(-time.Minute), t2.Add(time.Minute), 10)
	if err != nil || len(pts) != 2 {
		t.Fatalf("%d snapshots (%v), want both stored", len(pts), err)
	}
	var lastPolled time.Time
	if err := st.Pool().QueryRow(ctx, `SELECT last_polled_at FROM app_state WHERE app_id = $1`, id).Scan(&lastPolled); err != nil {
		t.Fatal(err)
	}
	if !lastPolled.Equal(t2) {
		t.Errorf("last_polled_at = %v, want the newer poll's %v", lastPolled, t2)
	}
	firing, err := st.FiringAlerts(ctx, "a")
	if err != nil || len(firing) != 1 || firing[0].Rule != "low_balance" {
		t.Errorf("firing = %+v (%v), want low_balance still firing", firing, err)
	}
}

// A timer tick with nothing due writes nothing: ten thousand idle apps must cost reads only.
func TestATickThatChangesNothingWritesNothing(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	ev, st, id := setup(t, &now)
	ctx := context.Background()
	if _, err := ev.Observe(ctx, "a", snap(now, "500.0000"), nil); err != nil {
		t.Fatal(err)
	}
	var before, after time.Time
	q := `SELECT updated_at FROM app_state WHERE app_id = $1`
	if err := st.Pool().QueryRow(ctx, q, id).Scan(&before); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Minute)
	if err := ev.TickAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Pool().QueryRow(ctx, q, id).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if !after.Equal(before) {
		t.Errorf("updated_at moved from %v to %v on a tick that changed nothing", before, after)
	}
	// An hour without a poll is news: the tick fires stale and writes it.
	now = now.Add(time.Hour)
	events, err := ev.Tick(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Rule != "stale" || len(events[0].Notifiers) != 1 {
		t.Errorf("events = %+v, want stale firing sent to ops", events)
	}
}

func TestUnknownAppIsNotFound(t *testing.T) {
	now := time.Now()
	ev, _, _ := setup(t, &now)
	if err := ev.Silence(context.Background(), "nope", now.Add(time.Hour), "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("silencing an unknown app: err = %v, want store.ErrNotFound", err)
	}
}

// An answer in another currency than USD is stored as history, but the alerts see an upstream
// change (no comparison with the USD thresholds), and the ledger books no change against it:
// going USD 500 → EUR 400 → USD 450 is not a top-up of 50.
func TestAnotherCurrencyIsStoredButNotCompared(t *testing.T) {
	t1 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	now := t1
	ev, st, id := setup(t, &now)
	ctx := context.Background()
	observe := func(at time.Time, currency, total string) []store.EventRecord {
		t.Helper()
		now = at
		s := snap(at, total)
		s.Currency = currency
		events, err := ev.Observe(ctx, "a", s, nil)
		if err != nil {
			t.Fatal(err)
		}
		return events
	}
	if events := observe(t1, "USD", "500.0000"); len(events) != 0 {
		t.Fatalf("USD 500: events %+v, want none", events)
	}
	for i := range 3 {
		events := observe(t1.Add(time.Duration(i+1)*time.Minute), "EUR", "5.0000")
		for _, e := range events {
			if e.Alert == "money" {
				t.Errorf("EUR 5 fired %s %s: compared with the USD thresholds", e.Type, e.Rule)
			}
		}
		if i == 2 && (len(events) != 1 || events[0].Rule != "poll_failing") {
			t.Errorf("third EUR answer: events %+v, want poll_failing", events)
		}
	}
	if events := observe(t1.Add(4*time.Minute), "USD", "450.0000"); len(events) != 1 || events[0].Type != "alert.resolved" {
		t.Errorf("USD 450: events %+v, want poll_failing resolved", events)
	}
	var snapshots int
	var eur, spent, topped string
	err := st.Pool().QueryRow(ctx, `
		SELECT (SELECT count(*) FROM balance_snapshots WHERE app_id = $1),
		       (SELECT string_agg(total_balance::text, ',') FROM balance_snapshots WHERE app_id = $1 AND currency = 'EUR'),
		       spent_total::text, topped_up_total::text
		FROM app_state WHERE app_id = $1`, id).Scan(&snapshots, &eur, &spent, &topped)
	if err != nil {
		t.Fatal(err)
	}
	if snapshots != 5 || eur != "5.0000,5.0000,5.0000" {
		t.Errorf("stored %d snapshots, EUR totals %s; want 5, three of EUR 5.0000", snapshots, eur)
	}
	if topped != "0.0000" {
		t.Errorf("topped_up_total = %s, want 0.0000: a change of currency is no top-up", topped)
	}
	t.Logf("spent_total %s (the change across the EUR answers is not booked)", spent)
}
