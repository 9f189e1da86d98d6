package retention_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/retention"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

func TestPruneDeletesOnlyWhatIsPastRetention(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	// An old failure (110 days ago, before any snapshot), an old delivered event and an old
	// event whose notification is still pending.
	old := now.Add(-110 * day)
	if err := s.WithAppLock(ctx, ids["a"], func(ctx context.Context, tx *store.AppTx) error {
		return tx.RecordFailure(ctx, balance.Failure{At: old, Kind: balance.ServerError, HTTPStatus: 500, Code: 1000, Message: "x"}, false)
	}); err != nil {
		t.Fatal(err)
	}
	pgtest.Events(t, s, ids["a"],
		store.EventRecord{ID: "evt_done", Alert: alert.Data, Type: alert.Firing, Rule: "poll_failing", Severity: alert.SeverityWarning, Since: old, At: old, Payload: []byte(`{}`), Notifiers: []string{"ops"}},
		store.EventRecord{ID: "evt_pending", Alert: alert.Data, Type: alert.Reminder, Rule: "poll_failing", Severity: alert.SeverityWarning, Since: old, At: old, Payload: []byte(`{}`), Notifiers: []string{"ops"}},
	)
	// 12 snapshots per app, one every 10 days from 110d ago up to now,
	// stored oldest first as polls are (the old failure above came before them all).
	for _, app := range []string{"a", "b"} {
		for i := range 12 {
			d := decimal.RequireFromString(fmt.Sprintf("%d.0000", 111-i))
			snap := &balance.Snapshot{PolledAt: now.Add(-time.Duration(110-i*10) * day), Currency: "USD", Balance: d, GiftBalance: decimal.Zero, TotalBalance: d}
			pgtest.Snapshot(t, s, ids[app], *snap)
		}
	}
	claimed, err := s.Claim(ctx, store.Claim{Owner: "test", Now: now, Limit: 1, Lease: time.Minute})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim = %d rows, %v; want the due row", len(claimed), err)
	}
	if _, err := s.Record(ctx, "test", []store.Recorded{{ID: claimed[0].ID, Outcome: store.Outcome{Status: store.Delivered}, At: now}}); err != nil {
		t.Fatal(err)
	}
	// The delivered row finished "now" by the test's clock; pretend it finished long ago.
	if _, err := s.Pool().Exec(ctx, `UPDATE outbox SET finished_at = $1 WHERE status = 'delivered'`, old); err != nil {
		t.Fatal(err)
	}

	p, err := retention.New(retention.Config{Store: s, Snapshots: 45 * day, Events: 30 * day, BatchSize: 2,
		Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.PruneOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Snapshots 50d..110d ago (7 per app) go: the weekly partitions of those seven weeks are
	// dropped whole (the cut-off, 45 days ago, is a Monday), so no snapshot row is deleted one
	// by one. 0d..40d (5 per app) stay.
	want := store.PruneCounts{SnapshotPartitions: 7, Rollups: 14, Failures: 1, Notifications: 1, Events: 1}
	if got != want {
		t.Errorf("pruned %+v, want %+v", got, want)
	}
	for _, app := range []string{"a", "b"} {
		pts, err := s.Snapshots(ctx, app, now.Add(-400*day), now.Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != 5 || pts[0].Balance.StringFixed(4) != "104.0000" {
			t.Errorf("%s kept %d snapshots, oldest %v; want 5, oldest 104.0000", app, len(pts), pts[0].Balance)
		}
	}
	events, err := s.Events(ctx, "", time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].ID != "evt_pending" {
		t.Errorf("events kept = %v; want only the one still pending delivery", events)
	}
	// A second pass finds nothing more.
	if again, _ := p.PruneOnce(ctx); again != (store.PruneCounts{}) {
		t.Errorf("second pass pruned %+v", again)
	}
}
