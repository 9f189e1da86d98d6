package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/spend"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

func TestWeekStart(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	monday := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"Monday 00:00 starts its week", monday, monday},
		{"Sunday's last instant is the week before", monday.Add(-time.Nanosecond), monday.AddDate(0, 0, -7)},
		{"Thursday", time.Date(2026, 11, 26, 13, 5, 0, 0, time.UTC), monday},
		// 00:30 Monday in Berlin is 23:30 Sunday UTC: weeks are UTC weeks.
		{"another zone", time.Date(2026, 11, 30, 0, 30, 0, 0, berlin), monday},
	} {
		if got := store.WeekStart(tc.at); !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("%s: WeekStart(%s) = %s, want %s", tc.name, tc.at, got, tc.want)
		}
	}
}

// partitionOf returns the table that holds app's snapshot at at.
func partitionOf(t *testing.T, s *store.Store, appID int64, at time.Time) string {
	t.Helper()
	var name string
	if err := s.Pool().QueryRow(context.Background(), `
		SELECT tableoid::regclass::text FROM balance_snapshots WHERE app_id = $1 AND polled_at = $2`, appID, at).Scan(&name); err != nil {
		t.Fatalf("snapshot at %s: %v", at, err)
	}
	return name
}

func snap(at time.Time, amount string) balance.Snapshot {
	d := decimal.RequireFromString(amount)
	return balance.Snapshot{PolledAt: at, Currency: "USD", Balance: d, GiftBalance: decimal.Zero, TotalBalance: d}
}

// A poll whose week has no partition yet (a clock far off, a monitor stopped for weeks) is
// stored all the same, in the DEFAULT partition; making the partitions moves it into its
// week's, even though the DEFAULT partition holds a row of that week (which would make a
// plain CREATE TABLE ... PARTITION OF fail).
func TestSnapshotWithoutItsPartitionIsKeptAndMoved(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	future := time.Date(2031, 3, 5, 10, 0, 0, 0, time.UTC) // a Wednesday
	past := time.Date(2019, 6, 1, 23, 59, 59, 0, time.UTC) // a Saturday
	pgtest.Snapshot(t, s, ids["a"], snap(past, "0.0001"))
	pgtest.Snapshot(t, s, ids["a"], snap(future, "-12.3400"))
	pgtest.Snapshot(t, s, ids["b"], snap(future, "9999999999999999.9999"))
	for _, at := range []time.Time{past, future} {
		if got := partitionOf(t, s, ids["a"], at); got != "balance_snapshots_default" {
			t.Errorf("snapshot at %s is in %s, want balance_snapshots_default", at, got)
		}
	}

	if err := s.EnsureSnapshotPartitions(ctx, future); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		app  int64
		at   time.Time
		want string
	}{
		{ids["a"], past, "balance_snapshots_p20190527"},
		{ids["a"], future, "balance_snapshots_p20310303"},
		{ids["b"], future, "balance_snapshots_p20310303"},
	} {
		if got := partitionOf(t, s, c.app, c.at); got != c.want {
			t.Errorf("snapshot at %s is in %s, want %s", c.at, got, c.want)
		}
	}
	parts, err := s.SnapshotPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, p := range parts {
		have[p.Name] = true
		if p.To.Sub(p.From) != store.SnapshotPartitionSpan || !p.From.Equal(store.WeekStart(p.From)) {
			t.Errorf("partition %s spans [%s, %s)", p.Name, p.From, p.To)
		}
	}
	// The week before now's through two weeks after it.
	for _, w := range []string{"p20310224", "p20310303", "p20310310", "p20310317"} {
		if !have["balance_snapshots_"+w] {
			t.Errorf("no partition balance_snapshots_%s among %v", w, parts)
		}
	}
	// The amounts are those stored, to the last digit.
	for app, want := range map[string]string{"a": "-12.3400", "b": "9999999999999999.9999"} {
		pts, err := s.Snapshots(ctx, app, future, future.Add(time.Second), 10)
		if err != nil || len(pts) != 1 || pts[0].TotalBalance.StringFixed(4) != want {
			t.Errorf("%s reads back %v (%v), want one point of %s", app, pts, err, want)
		}
	}
	// A later poll of that week goes straight to its partition; its latest snapshot is it.
	later := future.Add(time.Minute)
	pgtest.Snapshot(t, s, ids["a"], snap(later, "7.0000"))
	if got := partitionOf(t, s, ids["a"], later); got != "balance_snapshots_p20310303" {
		t.Errorf("a later snapshot went to %s", got)
	}
	st, err := s.AppStatuses(ctx)
	if err != nil || st[0].Latest == nil || st[0].Latest.TotalBalance.StringFixed(4) != "7.0000" {
		t.Errorf("latest of a = %+v (%v), want 7.0000", st, err)
	}
}

// Replicas making the same partitions at the same moment take turns: no error, each
// partition once, every row kept.
func TestConcurrentPartitionMakingAgrees(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2032, 1, 14, 0, 0, 0, 0, time.UTC)
	for i := range 20 {
		pgtest.Snapshot(t, s, ids["a"], snap(now.Add(time.Duration(i)*13*time.Hour), "1.0000"))
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = s.EnsureSnapshotPartitions(ctx, now) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var rows, inDefault int
	if err := s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM balance_snapshots), (SELECT count(*) FROM balance_snapshots_default)`).
		Scan(&rows, &inDefault); err != nil || rows != 20 || inDefault != 0 {
		t.Errorf("%d rows, %d in DEFAULT (%v); want 20 and 0", rows, inDefault, err)
	}
}

// Retention drops a week's partition only once all of it is past retention: the week that
// straddles the cut-off keeps its older rows, and the hourly roll-ups go with their week.
func TestPruneDropsOnlyWholeWeeks(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	cutoff := time.Date(2026, 10, 14, 12, 0, 0, 0, time.UTC) // a Wednesday; its week began 10-12
	times := []time.Time{
		time.Date(2026, 9, 30, 9, 0, 0, 0, time.UTC),    // two weeks before: dropped
		time.Date(2026, 10, 11, 23, 59, 0, 0, time.UTC), // the Sunday before: dropped
		time.Date(2026, 10, 12, 0, 0, 0, 0, time.UTC),   // the cut-off's week: kept, though older
		time.Date(2026, 10, 14, 11, 0, 0, 0, time.UTC),  // kept, though older
		time.Date(2026, 10, 20, 8, 0, 0, 0, time.UTC),   // kept
	}
	for _, app := range []string{"a", "b"} {
		for _, at := range times {
			pgtest.Snapshot(t, s, ids[app], snap(at, "5.5000"))
		}
	}
	pgtest.Snapshot(t, s, ids["c"], snap(times[0], "3.0000")) // c's only snapshot goes
	if err := s.EnsureSnapshotPartitions(ctx, cutoff); err != nil {
		t.Fatal(err)
	}
	// A row left in the DEFAULT partition (its week was never made) and past retention goes too.
	if _, err := s.Pool().Exec(ctx, `INSERT INTO balance_snapshots_default (app_id, polled_at, currency, balance, gift_balance, total_balance)
		VALUES ($1, '2026-08-01T00:00:00Z', 'USD', 1, 0, 1)`, ids["a"]); err != nil {
		t.Fatal(err)
	}

	got, err := s.Prune(ctx, cutoff, cutoff, cutoff, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := store.PruneCounts{SnapshotPartitions: 2, Snapshots: 1, Rollups: 5}
	if got != want {
		t.Errorf("pruned %+v, want %+v", got, want)
	}
	for _, app := range []string{"a", "b"} {
		pts, err := s.Snapshots(ctx, app, time.Time{}, cutoff.AddDate(1, 0, 0), 100)
		if err != nil {
			t.Fatal(err)
		}
		var kept []time.Time
		for _, p := range pts {
			kept = append(kept, p.T)
		}
		if len(kept) != 3 || !kept[0].Equal(times[2]) {
			t.Errorf("%s kept %v, want the last three", app, kept)
		}
		bs, err := s.Buckets(ctx, app, time.Time{}, cutoff.AddDate(1, 0, 0), time.Hour, "total_balance")
		if err != nil || len(bs) != 3 {
			t.Errorf("%s: %d hourly buckets (%v), want the 3 of the kept snapshots", app, len(bs), err)
		}
	}
	// The first and latest snapshot each app's state notes follow: c has none left, a's
	// history begins with the week kept.
	statuses, err := s.AppStatuses(ctx)
	if err != nil || len(statuses) != 3 || statuses[2].Latest != nil || statuses[0].Latest == nil || !statuses[0].Latest.PolledAt.Equal(times[4]) {
		t.Errorf("statuses after pruning %+v (%v); want a's latest at %s and none for c", statuses, err, times[4])
	}
	in, err := s.SpendInputs(ctx, ids["a"], cutoff, time.Hour, cutoff.Truncate(24*time.Hour))
	if err != nil || !in.FirstAt.Equal(times[2]) {
		t.Errorf("a's first snapshot is at %s (%v), want %s", in.FirstAt, err, times[2])
	}
	parts, err := s.SnapshotPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) == 0 || parts[0].Name != "balance_snapshots_p20261012" {
		t.Errorf("oldest partition left is %v, want balance_snapshots_p20261012", parts)
	}
	if again, err := s.Prune(ctx, cutoff, cutoff, cutoff, 1); err != nil || again != (store.PruneCounts{}) {
		t.Errorf("second pass pruned %+v (%v)", again, err)
	}
}

// A week that is over gets its index rebuilt with full pages, once; the week being written
// keeps its own. Every row stays.
func TestPackRebuildsTheIndexOfWeeksThatAreOver(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	names := make([]string, 60)
	for i := range names {
		names[i] = fmt.Sprintf("app%03d", i)
	}
	if _, err := s.EnsureApps(ctx, names); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC) // a Wednesday
	if err := s.EnsureSnapshotPartitions(ctx, now); err != nil {
		t.Fatal(err)
	}
	// Every app once a minute from Saturday to Monday, minute by minute as the poller
	// writes, so that the index pages split as in production.
	if _, err := s.Pool().Exec(ctx, `
		INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
		SELECT a.id, '2026-06-06T00:00:00Z'::timestamptz + m * interval '1 minute', 'USD', 1000 - m * 0.0001, 0, 1000 - m * 0.0001
		FROM generate_series(0, 3*1440 - 1) m CROSS JOIN apps a ORDER BY m, a.id`); err != nil {
		t.Fatal(err)
	}
	size := func(table string) (pages int64) {
		t.Helper()
		if err := s.Pool().QueryRow(ctx, `
			SELECT pg_relation_size(indexrelid) / 8192 FROM pg_index WHERE indrelid = $1::regclass`, table).Scan(&pages); err != nil {
			t.Fatal(err)
		}
		return pages
	}
	pastBefore, currentBefore := size("balance_snapshots_p20260601"), size("balance_snapshots_p20260608")

	n, err := s.PackSnapshotPartitions(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("packed %d indexes (%v), want 1: the week of June 1 only", n, err)
	}
	// About 290 entries of 28 B fill a page: 60 apps × 2 days × 1440 are 172,800 entries.
	if past := size("balance_snapshots_p20260601"); past >= pastBefore || past > 172800/290*102/100 {
		t.Errorf("index of the past week: %d pages, before %d; want fewer, about %d", past, pastBefore, 172800/290)
	}
	if cur := size("balance_snapshots_p20260608"); cur != currentBefore {
		t.Errorf("index of the current week went from %d to %d pages; want it left alone", currentBefore, cur)
	}
	if again, err := s.PackSnapshotPartitions(ctx, now); err != nil || again != 0 {
		t.Errorf("second pass packed %d (%v), want 0", again, err)
	}
	pts, err := s.Snapshots(ctx, "app042", time.Date(2026, 6, 6, 0, 0, 0, 0, time.UTC), now, 10000)
	if err != nil || len(pts) != 3*1440 || pts[1439].Balance.StringFixed(4) != "999.8561" {
		t.Errorf("app042 reads back %d points (%v), want %d", len(pts), err, 3*1440)
	}
}

// The snapshot just before the spend window is found however long ago it was: in the week
// before the window by the first query, further back by a second one.
func TestSpendInputsFindTheSnapshotBeforeTheWindow(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"gap", "steady"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	window := 24 * time.Hour
	opening := map[string]time.Time{"gap": now.AddDate(0, 0, -30), "steady": now.Add(-window - 2*time.Hour)}
	for app, at := range opening {
		pgtest.Snapshot(t, s, ids[app], snap(at, "100.0000"))
		pgtest.Snapshot(t, s, ids[app], snap(now.Add(-2*time.Hour), "90.0000"))
	}
	if err := s.EnsureSnapshotPartitions(ctx, now); err != nil {
		t.Fatal(err)
	}
	many, err := s.SpendInputsMany(ctx, []store.SpendQuery{
		{AppID: ids["gap"], Now: now, Window: window, Day: now.Truncate(24 * time.Hour)},
		{AppID: ids["steady"], Now: now, Window: window, Day: now.Truncate(24 * time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, app := range []string{"gap", "steady"} {
		one, err := s.SpendInputs(ctx, ids[app], now, window, now.Truncate(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range []spend.Inputs{one, many[i]} {
			if len(in.Recent) != 2 || !in.Recent[0].PolledAt.Equal(opening[app]) || in.Recent[0].TotalBalance.StringFixed(4) != "100.0000" ||
				in.Recent[1].TotalBalance.StringFixed(4) != "90.0000" {
				t.Errorf("%s: recent snapshots %+v; want the one at %s, then 90.0000", app, in.Recent, opening[app])
			}
		}
	}
}
