package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

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
		pgtest.Snapshot(t, s, ids["checkout"], *snap)
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
	// The spend read decodes NUMERIC from its binary digits (store.exact): the same amounts.
	in, err := s.SpendInputs(ctx, ids["checkout"], base.Add(time.Hour), 2*time.Hour, base.Truncate(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Recent) != len(amounts) {
		t.Fatalf("spend read %d snapshots, want %d", len(in.Recent), len(amounts))
	}
	for i, sn := range in.Recent {
		for _, got := range []string{sn.Balance.StringFixed(4), sn.GiftBalance.StringFixed(4), sn.TotalBalance.StringFixed(4)} {
			if got != amounts[i] {
				t.Errorf("spend read snapshot %d: got %s, want %s", i, got, amounts[i])
			}
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
		err := s.WithAppLock(ctx, ids["checkout"], func(ctx context.Context, tx *store.AppTx) error { return tx.InsertSnapshot(ctx, *snap) })
		if !errors.Is(err, balance.ErrTooPrecise) && !errors.Is(err, balance.ErrOutOfRange) {
			t.Errorf("%s: err = %v; want it refused as too precise or out of range", a, err)
		}
		if err == nil {
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
		if err := s.WithAppLock(ctx, ids["a"], func(ctx context.Context, tx *store.AppTx) error {
			return tx.RecordFailure(ctx, *f, false)
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

func TestAppTxPersistsStateEventsAndOutbox(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, _ := s.EnsureApps(ctx, []string{"a"})
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	lvl := alert.Level{Rule: "low_balance", Severity: alert.SeverityWarning}
	err := s.WithAppLock(ctx, ids["a"], func(ctx context.Context, tx *store.AppTx) error {
		st := tx.State()
		st.Alerts.Money = alert.AlertState{Level: lvl, Since: now, LevelSince: now, LastSentAt: now}
		if err := tx.SaveState(ctx, st); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, store.EventRecord{
			ID: "evt_1", Alert: alert.Money, Type: alert.Firing, Rule: lvl.Rule, Severity: lvl.Severity,
			Since: now, At: now, Payload: []byte(`{"id":"evt_1"}`), Notifiers: []string{"ops", "pager"},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var told []string
	err = s.WithAppLock(ctx, ids["a"], func(ctx context.Context, tx *store.AppTx) error {
		if m := tx.State().Alerts.Money; m.Level != lvl || !m.Since.Equal(now) {
			t.Errorf("state not persisted: %+v", m)
		}
		var err error
		told, err = tx.Told(ctx, alert.Money, now)
		return err
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

// A unit of work whose writes fail leaves nothing behind: not its other writes, not the row
// lock, not an open transaction on the pooled connection (the next unit of work on any app
// runs as usual).
func TestAFailedUnitOfWorkLeavesNothingBehind(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, _ := s.EnsureApps(ctx, []string{"a"})
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	lvl := alert.Level{Rule: "low_balance", Severity: alert.SeverityWarning}
	event := func(tx *store.AppTx) error {
		return tx.InsertEvent(ctx, store.EventRecord{
			ID: "evt_dup", Alert: alert.Money, Type: alert.Firing, Rule: lvl.Rule, Severity: lvl.Severity,
			Since: now, At: now, Payload: []byte(`{"id":"evt_dup"}`), Notifiers: []string{"ops"},
		})
	}
	if err := s.WithAppLock(ctx, ids["a"], func(ctx context.Context, tx *store.AppTx) error { return event(tx) }); err != nil {
		t.Fatal(err)
	}
	// The same event id again, after a state change: the insert fails at commit time.
	for range 3 { // more times than the pool would hand out one broken connection
		err := s.WithAppLock(ctx, ids["a"], func(ctx context.Context, tx *store.AppTx) error {
			st := tx.State()
			st.Alerts.Money = alert.AlertState{Level: lvl, Since: now, LevelSince: now, LastSentAt: now}
			if err := tx.SaveState(ctx, st); err != nil {
				return err
			}
			return event(tx)
		})
		if err == nil || !strings.Contains(err.Error(), "duplicate key") {
			t.Fatalf("second insert of one event id: %v, want a duplicate key error", err)
		}
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := s.WithAppLock(lctx, ids["a"], func(ctx context.Context, tx *store.AppTx) error {
		if m := tx.State().Alerts.Money; m.Level != (alert.Level{}) {
			t.Errorf("the failed unit of work's state change was kept: %+v", m)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after failed units of work: %v", err)
	}
	// The pool closes such a connection in the background: a moment later none is left.
	notifytest.Eventually(t, "no connection idle in a transaction", func() bool {
		var open int
		err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&open)
		return err == nil && open == 0
	})
}
