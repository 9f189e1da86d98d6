package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/spend"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// holdLock takes app's state row lock in a transaction of its own, so that a group that
// includes app waits for it; release ends that transaction.
func holdLock(t *testing.T, s *store.Store, appID int64) (release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM app_state WHERE app_id = $1 FOR UPDATE`, appID); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback(ctx) }) }
	t.Cleanup(release)
	return release
}

// poll is a poll's unit of work as the evaluator's is, in short: the snapshot, its ledger
// entry (spent is what the total fell by) and the poll mark.
func poll(snap balance.Snapshot, opening decimal.Decimal) func(context.Context, *store.AppTx) error {
	return func(ctx context.Context, tx *store.AppTx) error {
		if err := tx.InsertSnapshot(ctx, snap); err != nil {
			return err
		}
		if err := tx.Book(ctx, store.LedgerEntry{At: snap.PolledAt, Opening: opening, Closing: snap.TotalBalance,
			Delta: spend.Delta{Spent: opening.Sub(snap.TotalBalance)}}); err != nil {
			return err
		}
		return tx.MarkPolled(ctx, snap.PolledAt, nil)
	}
}

func snapshotAt(at time.Time, total string) balance.Snapshot {
	d := decimal.RequireFromString(total)
	return balance.Snapshot{PolledAt: at, Currency: "USD", Balance: d, GiftBalance: decimal.Zero, TotalBalance: d}
}

// Polls that finish while another group is being written wait for it and are then written
// together, in one transaction; an app's second poll waits for a later group. Every amount
// lands exactly: the snapshot, its hourly roll-up, the ledger and the app's running totals.
func TestPollsFinishingTogetherAreWrittenTogether(t *testing.T) {
	defer store.SetGroupLockWait(time.Minute)() // the lock below is held on purpose until the others gather
	s := pgtest.New(t)
	ctx := context.Background()
	var names []string
	for i := range 21 {
		names = append(names, fmt.Sprintf("app%02d", i))
	}
	ids, err := s.EnsureApps(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	release := holdLock(t, s, ids["app00"])

	var wg sync.WaitGroup
	errs := make([]error, 22)
	run := func(i int, appID int64, snap balance.Snapshot) {
		wg.Go(func() {
			q := &store.SpendQuery{AppID: appID, Now: snap.PolledAt, Window: time.Hour, Day: at.Truncate(24 * time.Hour)}
			errs[i] = s.WithAppLockGrouped(ctx, appID, q, poll(snap, decimal.RequireFromString("1000.0000")))
		})
	}
	// The first group is app00 alone, waiting for the lock; the others gather meanwhile.
	run(0, ids["app00"], snapshotAt(at, "999.9999"))
	notifytest.Eventually(t, "the first group to start", func() bool { g, _, _ := s.GroupStats(); return g == 1 })
	for i := 1; i < 21; i++ {
		run(i, ids[names[i]], snapshotAt(at, fmt.Sprintf("%d.%04d", 1000-i, i)))
	}
	notifytest.Eventually(t, "20 polls waiting", func() bool { _, _, w := s.GroupStats(); return w == 20 })
	run(21, ids["app01"], snapshotAt(at.Add(time.Minute), "970.0000")) // app01's second poll, behind its first
	notifytest.Eventually(t, "21 polls waiting", func() bool { _, _, w := s.GroupStats(); return w == 21 })
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
	}
	if g, u, _ := s.GroupStats(); g != 3 || u != 22 {
		t.Errorf("%d polls written in %d groups, want 22 in 3 (app00 alone, 20 apps together, app01's second poll)", u, g)
	}

	check := func(app, sql, want string) {
		t.Helper()
		var got string
		if err := s.Pool().QueryRow(ctx, sql, ids[app]).Scan(&got); err != nil {
			t.Fatalf("%s: %v", app, err)
		}
		if got != want {
			t.Errorf("%s: %s gave %q, want %q", app, sql, got, want)
		}
	}
	check("app00", `SELECT string_agg(total_balance::text, ',' ORDER BY polled_at) FROM balance_snapshots WHERE app_id = $1`, "999.9999")
	check("app07", `SELECT string_agg(balance::text || '/' || total_balance::text, ',' ORDER BY polled_at) FROM balance_snapshots WHERE app_id = $1`, "993.0007/993.0007")
	check("app01", `SELECT string_agg(total_balance::text, ',' ORDER BY polled_at) FROM balance_snapshots WHERE app_id = $1`, "999.0001,970.0000")
	check("app01", `SELECT min_total || ' ' || max_total || ' ' || last_total || ' ' || snapshots FROM balance_rollups_1h WHERE app_id = $1`, "970.0000 999.0001 970.0000 2")
	// app01 booked 1000 → 999.0001 and, as this test tells it, 1000 → 970: 0.9999 + 30.
	check("app01", `SELECT spent::text FROM spend_ledger_1h WHERE app_id = $1`, "30.9999")
	check("app01", `SELECT spent_total::text || ' ' || latest_total_balance::text || ' ' || last_polled_at::text FROM app_state WHERE app_id = $1`,
		"30.9999 970.0000 2026-11-26 10:01:00+00")
	check("app20", `SELECT spent_total::text || ' ' || latest_total_balance::text FROM app_state WHERE app_id = $1`, "19.9980 980.0020")
	var rows int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM balance_snapshots`).Scan(&rows); err != nil || rows != 22 {
		t.Errorf("%d snapshots stored (%v), want 22", rows, err)
	}
}

// A group whose writes the database refuses is undone and each of its polls written alone:
// the one at fault gets the error, the others are stored.
func TestAGroupThatFailsIsWrittenOneByOne(t *testing.T) {
	defer store.SetGroupLockWait(time.Minute)() // the lock below is held on purpose until the others gather
	s := pgtest.New(t)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	dup := store.EventRecord{ID: "evt_dup", Alert: alert.Money, Type: alert.Firing, Rule: "low_balance",
		Severity: alert.SeverityWarning, Since: at, At: at, Payload: []byte(`{"id":"evt_dup"}`), Notifiers: []string{"ops"}}
	pgtest.Events(t, s, ids["b"], dup)
	release := holdLock(t, s, ids["a"])

	var wg sync.WaitGroup
	errs := map[string]error{}
	var mu sync.Mutex
	run := func(app string, fn func(context.Context, *store.AppTx) error) {
		wg.Go(func() {
			err := s.WithAppLockGrouped(ctx, ids[app], nil, fn)
			mu.Lock()
			errs[app] = err
			mu.Unlock()
		})
	}
	run("a", poll(snapshotAt(at, "10.0000"), decimal.RequireFromString("10.0000")))
	notifytest.Eventually(t, "the first group to start", func() bool { g, _, _ := s.GroupStats(); return g == 1 })
	run("b", func(ctx context.Context, tx *store.AppTx) error {
		if err := poll(snapshotAt(at, "20.0000"), decimal.RequireFromString("20.0000"))(ctx, tx); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, dup) // refused at commit: the id exists
	})
	run("c", poll(snapshotAt(at, "30.0000"), decimal.RequireFromString("30.0000")))
	notifytest.Eventually(t, "b and c waiting", func() bool { _, _, w := s.GroupStats(); return w == 2 })
	release()
	wg.Wait()

	if errs["a"] != nil || errs["c"] != nil {
		t.Fatalf("a: %v, c: %v; want both stored", errs["a"], errs["c"])
	}
	if errs["b"] == nil || !strings.Contains(errs["b"].Error(), "duplicate key") {
		t.Fatalf("b: %v, want the duplicate key error", errs["b"])
	}
	rows, err := s.Pool().Query(ctx, `SELECT a.name || ' ' || s.total_balance::text FROM balance_snapshots s JOIN apps a ON a.id = s.app_id ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ", ") != "a 10.0000, c 30.0000" {
		t.Errorf("stored %q, want a's and c's snapshots and not b's", got)
	}
}

// busyGroup starts a group that stays open until release is called, so that the units
// started meanwhile gather for the next group.
func busyGroup(t *testing.T, s *store.Store, appID int64) (release func()) {
	t.Helper()
	started, done := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.WithAppLockGrouped(context.Background(), appID, nil, func(context.Context, *store.AppTx) error {
			close(started)
			<-done
			return nil
		}); err != nil {
			t.Errorf("busy group: %v", err)
		}
	})
	<-started
	var once sync.Once
	release = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(release)
	return release
}

// waiting waits until n units wait for a group.
func waiting(t *testing.T, s *store.Store, n int) {
	t.Helper()
	notifytest.Eventually(t, fmt.Sprintf("%d units waiting", n), func() bool { _, _, w := s.GroupStats(); return w == n })
}

// An app whose state row another transaction holds does not hold up the polls of the apps
// grouped with it: the group gives up waiting, and its polls are written alone.
func TestAnAppLockedElsewhereDoesNotHoldUpItsGroup(t *testing.T) {
	defer store.SetGroupLockWait(500 * time.Millisecond)()
	s := pgtest.New(t)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"a", "b", "c", "z"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	releaseB := holdLock(t, s, ids["b"]) // held longer than a group waits
	releaseZ := busyGroup(t, s, ids["z"])

	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := map[string]error{}
	run := func(app, total string) {
		wg.Go(func() {
			err := s.WithAppLockGrouped(ctx, ids[app], nil, poll(snapshotAt(at, total), decimal.RequireFromString(total)))
			mu.Lock()
			errs[app] = err
			mu.Unlock()
		})
	}
	run("a", "10.0000")
	run("b", "20.0000")
	run("c", "30.0000")
	waiting(t, s, 3)
	releaseZ()
	stored := func(app string) bool {
		var n int
		err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM balance_snapshots WHERE app_id = $1`, ids[app]).Scan(&n)
		return err == nil && n == 1
	}
	wg.Wait() // the group waits for b's row, gives up, and writes a, b and c alone
	if !stored("a") || !stored("c") {
		t.Error("a's and c's polls were not stored while b's row was held")
	}
	releaseB()
	if errs["a"] != nil || errs["c"] != nil {
		t.Fatalf("a: %v, c: %v; want them stored", errs["a"], errs["c"])
	}
	if errs["b"] == nil || !strings.Contains(errs["b"].Error(), "lock timeout") {
		t.Errorf("b: %v, want a lock timeout", errs["b"])
	}
	if stored("b") {
		t.Error("b's poll was stored although its row was held throughout")
	}
}

// A read the server refuses aborts the group's transaction for every unit after it: the group
// is then written one unit at a time, and the unit that was fine alone is stored.
func TestAReadThatAbortsTheGroupLeavesTheOthersToBeWrittenAlone(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"k", "m", "z"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	release := busyGroup(t, s, ids["z"])
	var wg sync.WaitGroup
	var errK, errM error
	wg.Go(func() {
		errK = s.WithAppLockGrouped(ctx, ids["k"], nil, func(ctx context.Context, tx *store.AppTx) error {
			_, err := tx.Told(ctx, alert.Kind("\xff"), at) // refused by the server: not UTF-8
			return err
		})
	})
	waiting(t, s, 1)
	wg.Go(func() {
		errM = s.WithAppLockGrouped(ctx, ids["m"], nil, func(ctx context.Context, tx *store.AppTx) error {
			if _, err := tx.LastFailure(ctx); err != nil {
				return err
			}
			return poll(snapshotAt(at, "2.0000"), decimal.RequireFromString("2.0000"))(ctx, tx)
		})
	})
	waiting(t, s, 2)
	release()
	wg.Wait()
	if errK == nil || !strings.Contains(errK.Error(), "UTF8") {
		t.Errorf("k: %v, want the server's refusal of the byte sequence", errK)
	}
	if errM != nil {
		t.Fatalf("m's poll, fine alone, failed: %v", errM)
	}
	var total string
	if err := s.Pool().QueryRow(ctx, `SELECT total_balance::text FROM balance_snapshots WHERE app_id = $1`, ids["m"]).Scan(&total); err != nil || total != "2.0000" {
		t.Errorf("m's snapshot: %q (%v), want 2.0000", total, err)
	}
}

// A group is its units' work: it is not cut short when the context of the poll that happened
// to lead it ends (a poll whose context never ends is stored).
func TestAGroupIsNotBoundByItsLeadersContext(t *testing.T) {
	defer store.SetGroupLockWait(time.Minute)()
	s := pgtest.New(t)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"x", "y", "z"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	release := busyGroup(t, s, ids["z"])
	releaseX := holdLock(t, s, ids["x"]) // the next group waits for it past x's context
	xctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var errX, errY error
	wg.Go(func() {
		errX = s.WithAppLockGrouped(xctx, ids["x"], nil, poll(snapshotAt(at, "1.0000"), decimal.RequireFromString("1.0000")))
	})
	wg.Go(func() {
		errY = s.WithAppLockGrouped(ctx, ids["y"], nil, poll(snapshotAt(at, "2.0000"), decimal.RequireFromString("2.0000")))
	})
	waiting(t, s, 2)
	release()
	<-xctx.Done()
	time.Sleep(200 * time.Millisecond) // the group, waiting for x's row, outlives x's context
	releaseX()
	wg.Wait()
	if errX != nil || errY != nil {
		t.Fatalf("x: %v, y: %v; want both stored", errX, errY)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM balance_snapshots`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d snapshots stored (%v), want 2", n, err)
	}
}

// A group whose connection breaks after its writes went out is not written again: they may
// have committed, and a second copy of a poll would count its spend twice.
func TestAGroupCutOffMidWriteIsNotWrittenAgain(t *testing.T) {
	url, proxy := pgtest.Proxied(t, pgtest.URL(t))
	var logs strings.Builder
	s, err := store.Open(context.Background(), url, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"a", "b", "z"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	release := busyGroup(t, s, ids["z"])
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, app := range []string{"a", "b"} {
		wg.Go(func() {
			errs[i] = s.WithAppLockGrouped(ctx, ids[app], nil, func(ctx context.Context, tx *store.AppTx) error {
				proxy.SetDown(true) // the connection breaks while the group runs
				return poll(snapshotAt(at, "5.0000"), decimal.RequireFromString("5.0000"))(ctx, tx)
			})
		})
		waiting(t, s, i+1)
	}
	release()
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			t.Errorf("poll %d: stored through a broken connection?", i)
		}
	}
	if strings.Contains(logs.String(), "writing each alone") {
		t.Errorf("the group was written again, one poll at a time:\n%s", logs.String())
	}
}
