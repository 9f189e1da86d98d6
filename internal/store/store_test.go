package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

func keep(ev store.Evaluation) (store.Decision, error) {
	return store.Decision{State: ev.State, SilenceReason: ev.SilenceReason}, nil
}

func TestSnapshotAmountsRoundTripExactly(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"checkout"})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	amounts := []string{"0.0001", "-12.3400", "99999999999999.9999", "0.0000"}
	for i, a := range amounts {
		d := decimal.RequireFromString(a)
		snap := &balance.Snapshot{PolledAt: base.Add(time.Duration(i) * time.Minute), Currency: "USD", Balance: d, GiftBalance: d, TotalBalance: d}
		if _, err := s.Apply(ctx, ids["checkout"], snap, nil, keep); err != nil {
			t.Fatalf("store %s: %v", a, err)
		}
	}
	pts, err := s.Snapshots(ctx, "checkout", base, base.Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != len(amounts) {
		t.Fatalf("got %d points, want %d", len(pts), len(amounts))
	}
	for i, p := range pts {
		for _, got := range []string{p.Balance.StringFixed(4), p.GiftBalance.StringFixed(4), p.TotalBalance.StringFixed(4)} {
			if got != amounts[i] {
				t.Errorf("point %d: got %s, want %s", i, got, amounts[i])
			}
		}
		// The text Postgres holds, not only what the decimal type makes of it.
		var text string
		if err := s.Pool().QueryRow(ctx, `SELECT balance::text FROM balance_snapshots WHERE polled_at = $1`, p.T).Scan(&text); err != nil {
			t.Fatal(err)
		}
		if text != amounts[i] {
			t.Errorf("stored text %q, want %q", text, amounts[i])
		}
	}
}

func TestApplyRefusesAmountsPostgresWouldRound(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"checkout"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"0.12345", "12345678901234567.0000"} {
		d := decimal.RequireFromString(a)
		snap := &balance.Snapshot{PolledAt: time.Now(), Currency: "USD", Balance: d, GiftBalance: decimal.Zero, TotalBalance: d}
		if _, err := s.Apply(ctx, ids["checkout"], snap, nil, keep); err == nil {
			t.Errorf("%s was stored; want an error", a)
		}
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM balance_snapshots`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows = %d, err %v; want 0", n, err)
	}
}

func TestIdenticalFailuresShareOneRow(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, _ := s.EnsureApps(ctx, []string{"a"})
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	fail := func(min int, msg string) {
		f := &balance.Failure{At: base.Add(time.Duration(min) * time.Minute), Kind: balance.ServerError, HTTPStatus: 500, Code: 1000, Message: msg}
		if _, err := s.Apply(ctx, ids["a"], nil, f, func(ev store.Evaluation) (store.Decision, error) {
			st := ev.State
			st.ConsecutiveFailures++
			return store.Decision{State: st}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	fail(0, "internal error")
	fail(1, "internal error")
	fail(2, "internal error")
	fail(3, "other")
	got, err := s.PollFailures(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Polls != 3 || got[0].Polls != 1 || got[0].Message != "other" ||
		!got[1].FirstAt.Equal(base) || !got[1].LastAt.Equal(base.Add(2*time.Minute)) {
		t.Fatalf("failure rows = %+v", got)
	}
}

func TestApplyPersistsStateEventsAndOutbox(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, _ := s.EnsureApps(ctx, []string{"a"})
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	lvl := alert.Level{Rule: "low_balance", Severity: alert.SeverityWarning}
	_, err := s.Apply(ctx, ids["a"], nil, nil, func(ev store.Evaluation) (store.Decision, error) {
		st := ev.State
		st.Money = alert.AlertState{Level: lvl, Since: now, LevelSince: now, LastSentAt: now}
		return store.Decision{State: st, Events: []store.EventRecord{{
			ID: "evt_1", Alert: alert.Money, Type: alert.Firing, Rule: lvl.Rule, Severity: lvl.Severity,
			Since: now, At: now, Payload: []byte(`{"id":"evt_1"}`), Notifiers: []string{"ops", "pager"},
		}}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var told []string
	_, err = s.Apply(ctx, ids["a"], nil, nil, func(ev store.Evaluation) (store.Decision, error) {
		if ev.State.Money.Level != lvl || !ev.State.Money.Since.Equal(now) {
			t.Errorf("state not persisted: %+v", ev.State.Money)
		}
		told = ev.Told[alert.Money]
		return store.Decision{State: ev.State}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(told) != 2 || told[0] != "ops" || told[1] != "pager" {
		t.Errorf("told = %v, want [ops pager]", told)
	}
	firing, _ := s.FiringAlerts(ctx, "a")
	if len(firing) != 1 || firing[0].Rule != "low_balance" || firing[0].Severity != "warning" {
		t.Errorf("firing = %+v", firing)
	}
	st, _ := s.OutboxStats(ctx)
	if st.Pending != 2 || !st.OldestPending.Equal(now) {
		t.Errorf("outbox stats = %+v", st)
	}
}

// Two polls of one app ran at once and the older one reached the lock last: it is stored as
// history but flagged, so it cannot move the alerts backwards.
func TestAnOvertakenPollIsFlagged(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, _ := s.EnsureApps(ctx, []string{"a"})
	t1 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Second)
	apply := func(at time.Time, total string) store.Evaluation {
		d := decimal.RequireFromString(total)
		var seen store.Evaluation
		_, err := s.Apply(ctx, ids["a"], &balance.Snapshot{PolledAt: at, Currency: "USD", Balance: d, GiftBalance: decimal.Zero, TotalBalance: d}, nil,
			func(ev store.Evaluation) (store.Decision, error) {
				seen = ev
				ev.State.LastSuccessAt = at
				return store.Decision{State: ev.State}, nil
			})
		if err != nil {
			t.Fatal(err)
		}
		return seen
	}
	if ev := apply(t2, "50.0000"); ev.Overtaken {
		t.Error("the first poll is flagged as overtaken")
	}
	if ev := apply(t1, "500.0000"); !ev.Overtaken {
		t.Error("an older poll evaluated after a newer one is not flagged")
	}
	pts, err := s.Snapshots(ctx, "a", t1.Add(-time.Minute), t2.Add(time.Minute), 10)
	if err != nil || len(pts) != 2 {
		t.Fatalf("%d snapshots (%v), want both stored", len(pts), err)
	}
	var lastPolled time.Time
	if err := s.Pool().QueryRow(ctx, `SELECT last_polled_at FROM app_state WHERE app_id = $1`, ids["a"]).Scan(&lastPolled); err != nil {
		t.Fatal(err)
	}
	if !lastPolled.Equal(t2) {
		t.Errorf("last_polled_at = %v, want the newer poll's %v", lastPolled, t2)
	}
}
