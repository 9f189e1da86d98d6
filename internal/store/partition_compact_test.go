package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// A database filled at version 13 (rows in several weekly partitions and in the DEFAULT
// partition) and migrated by 00014 keeps every row with its exact amounts, each in the same
// partition, with the integer app id after polled_at in every partition, new weeks included;
// app_state's first and latest snapshot still follow inserts, and going back keeps every row.
func TestCompactSnapshotsMigrationKeepsEveryRow(t *testing.T) {
	ctx := context.Background()
	st, p := pgtest.AtVersion(t, 13)

	ids := map[string]int64{}
	for _, name := range []string{"alpha", "beta", "gamma"} {
		var id int64
		if err := st.Pool().QueryRow(ctx, `INSERT INTO apps (name) VALUES ($1) RETURNING id`, name).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Pool().Exec(ctx, `INSERT INTO app_state (app_id) VALUES ($1)`, id); err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	// Three weeks with a partition; 2024 has none, so its rows sit in the DEFAULT partition.
	for _, w := range []string{"2025-12-01", "2026-02-09", "2026-03-02"} {
		if _, err := st.Pool().Exec(ctx, `SELECT balance_snapshots_ensure_partition($1::timestamptz)`, w+"T00:00:00Z"); err != nil {
			t.Fatal(err)
		}
	}
	type row struct {
		app, at, currency, bal, gift, total string
	}
	rows := []row{
		{"alpha", "2025-12-01T00:00:00Z", "USD", "-12.3400", "0.0000", "-12.3400"}, // the week's first instant
		{"alpha", "2025-12-07T23:59:59.999999Z", "USD", "0.0001", "0.0000", "0.0001"},
		{"alpha", "2026-02-14T08:31:00Z", "USD", "0.0000", "7.2500", "7.2500"},
		{"alpha", "2026-03-03T03:03:03Z", "USD", "100.0000", "25.5000", "125.5000"},
		{"beta", "2026-02-09T12:00:00Z", "EUR", "9999999999999999.9999", "0.0000", "9999999999999999.9999"},
		{"beta", "2026-02-10T12:00:00Z", "EUR", "84210.5000", "12.3456", "84222.8456"},
		{"beta", "2026-03-08T23:59:59Z", "EUR", "-9999999999999999.9999", "0.0000", "-9999999999999999.9999"},
		{"gamma", "2024-03-05T10:17:00Z", "USD", "995.4567", "1.2500", "996.7067"},
		{"gamma", "2024-03-05T10:18:00Z", "USD", "995.4466", "1.2500", "999.0000"}, // total as the upstream gave it
		{"gamma", "2026-02-11T00:00:00Z", "USD", "1.0000", "0.0000", "1.0000"},
		{"gamma", "2026-02-11T00:00:00Z", "USD", "1.0000", "0.0000", "1.0000"}, // a twin
	}
	for _, r := range rows {
		if _, err := st.Pool().Exec(ctx, `
			INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
			VALUES ($1, $2, $3, $4::numeric, $5::numeric, $6::numeric)`, ids[r.app], r.at, r.currency, r.bal, r.gift, r.total); err != nil {
			t.Fatal(err)
		}
	}
	want := snapshotsWithPartition(t, st)
	if len(want) != len(rows) {
		t.Fatalf("%d rows stored at version 13, want %d", len(want), len(rows))
	}
	if n := countIn(want, "balance_snapshots_default"); n != 2 {
		t.Fatalf("%d rows in the DEFAULT partition at version 13, want gamma's 2 of 2024", n)
	}
	wantEnds := appStateEnds(t, st)
	sizeBefore := rowSize(t, st)
	// Restarts of earlier versions spent ids (one per configured app each) past what an integer
	// holds, though no app has them.
	if _, err := st.Pool().Exec(ctx, `SELECT setval(pg_get_serial_sequence('apps', 'id'), 3000000000)`); err != nil {
		t.Fatal(err)
	}

	if _, err := p.UpTo(ctx, 14); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, snapshotsWithPartition(t, st)); diff != "" {
		t.Errorf("snapshots after the migration (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(wantEnds, appStateEnds(t, st)); diff != "" {
		t.Errorf("app_state's first and latest snapshots after the migration (-before +after):\n%s", diff)
	}
	// 4 bytes less: an integer app id, which after polled_at needs no padding.
	if after := rowSize(t, st); after != sizeBefore-4*len(rows) {
		t.Errorf("rows take %d bytes after the migration, %d before; want 4 less each", after, sizeBefore)
	}

	// A week made after the migration is laid out as the others, and its index has full pages.
	if err := st.EnsureSnapshotPartitions(ctx, time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	layouts := partitionLayouts(t, st)
	if len(layouts) < 8 { // the DEFAULT partition, the three weeks above, those made at migrate, June 2026's four
		t.Errorf("%d partitions: %v", len(layouts), layouts)
	}
	const layout = "polled_at timestamp with time zone, app_id integer, currency text, balance numeric(20,4), " +
		"gift_balance numeric(20,4), total_balance numeric(20,4); index (app_id, polled_at) fillfactor=100"
	for name, l := range layouts {
		if l != layout {
			t.Errorf("%s: %s\nwant %s", name, l, layout)
		}
	}
	if _, err := st.Pool().Exec(ctx, `INSERT INTO balance_snapshots (polled_at, app_id, currency, balance, gift_balance, total_balance)
		VALUES ('2026-06-10T00:00:00Z', $1, 'USD', 1, 0, 1)`, ids["gamma"]+1000); err == nil {
		t.Error("a snapshot of an app that does not exist was stored")
	}

	var next int64
	if err := st.Pool().QueryRow(ctx, `INSERT INTO apps (name) VALUES ('delta') RETURNING id`).Scan(&next); err != nil || next != ids["gamma"]+1 {
		t.Errorf("a new app got id %d (%v), want %d, the next after the largest in use", next, err, ids["gamma"]+1)
	}

	// Inserts still move each app's first and latest snapshot.
	d := func(s string) decimal.Decimal { return decimal.RequireFromString(s) }
	pgtest.Snapshot(t, st, ids["alpha"], balance.Snapshot{PolledAt: time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC),
		Currency: "USD", Balance: d("42.4200"), GiftBalance: d("0.5000"), TotalBalance: d("42.9200")})
	pgtest.Snapshot(t, st, ids["beta"], balance.Snapshot{PolledAt: time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC),
		Currency: "EUR", Balance: d("7.0000"), GiftBalance: d("0.0000"), TotalBalance: d("7.0000")})
	wantEnds["alpha"] = "2025-12-01 00:00:00+00 2026-06-10 09:00:00+00 USD 42.4200 0.5000 42.9200"
	// An earlier snapshot moves only the first.
	wantEnds["beta"] = "2025-01-06 00:00:00+00 2026-03-08 23:59:59+00 EUR -9999999999999999.9999 0.0000 -9999999999999999.9999"
	if diff := cmp.Diff(wantEnds, appStateEnds(t, st)); diff != "" {
		t.Errorf("app_state's first and latest snapshots after inserts (-want +got):\n%s", diff)
	}

	// Deleting an app still deletes its snapshots.
	if _, err := st.Pool().Exec(ctx, `DELETE FROM apps WHERE name = 'gamma'`); err != nil {
		t.Fatal(err)
	}
	var gamma int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM balance_snapshots WHERE app_id = $1`, ids["gamma"]).Scan(&gamma); err != nil || gamma != 0 {
		t.Errorf("%d snapshots of a deleted app (%v)", gamma, err)
	}

	// Going back to version 13 keeps every row and its partition.
	want = snapshotsWithPartition(t, st)
	if _, err := p.DownTo(ctx, 13); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, snapshotsWithPartition(t, st)); diff != "" {
		t.Errorf("snapshots after migrating down (-before +after):\n%s", diff)
	}
	var appID string
	if err := st.Pool().QueryRow(ctx, `SELECT data_type FROM information_schema.columns
		WHERE table_name = 'balance_snapshots' AND column_name = 'app_id'`).Scan(&appID); err != nil || appID != "bigint" {
		t.Errorf("app_id is %q after migrating down (%v), want bigint", appID, err)
	}
}

// Apps' ids stay small: registering the apps again does not spend ids, and the integer that
// snapshots refer to an app by is as far as ids go.
func TestAppIDsFitTheSnapshotsReference(t *testing.T) {
	ctx := context.Background()
	s := pgtest.New(t)
	first, err := s.EnsureApps(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.EnsureApps(ctx, []string{"a", "b"}); err != nil {
			t.Fatal(err)
		}
	}
	again, err := s.EnsureApps(ctx, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if again["a"] != first["a"] || again["b"] != first["b"] || again["c"] != max(first["a"], first["b"])+1 {
		t.Errorf("ids %v after %v and three restarts; want the same and the next for c", again, first)
	}

	if _, err := s.Pool().Exec(ctx, `SELECT setval(pg_get_serial_sequence('apps', 'id'), 2147483646)`); err != nil {
		t.Fatal(err)
	}
	last, err := s.EnsureApps(ctx, []string{"d"})
	if err != nil || last["d"] != 2147483647 {
		t.Fatalf("app d got id %v (%v), want 2147483647", last, err)
	}
	at := time.Now().UTC().Truncate(time.Second)
	if err := s.EnsureSnapshotPartitions(ctx, at); err != nil {
		t.Fatal(err)
	}
	pgtest.Snapshot(t, s, last["d"], balance.Snapshot{PolledAt: at, Currency: "USD",
		Balance: decimal.RequireFromString("1.0000"), GiftBalance: decimal.Zero, TotalBalance: decimal.RequireFromString("1.0000")})
	if pts, err := s.Snapshots(ctx, "d", at, at.Add(time.Second), 10); err != nil || len(pts) != 1 {
		t.Errorf("the snapshot of the app with the last id reads back as %v (%v)", pts, err)
	}
	if _, err := s.EnsureApps(ctx, []string{"e"}); err == nil {
		t.Error("an app was registered past the ids that snapshots can refer to")
	}
}

// snapshotsWithPartition is every stored snapshot as Postgres prints it, with the partition
// that holds it, in a fixed order.
func snapshotsWithPartition(t *testing.T, st *store.Store) []string {
	t.Helper()
	rows, err := st.Pool().Query(context.Background(), `
		SELECT s.tableoid::regclass::text || ' ' || a.name || ' ' || s.polled_at::text || ' ' || s.currency || ' ' ||
		       s.balance::text || ' ' || s.gift_balance::text || ' ' || s.total_balance::text
		FROM balance_snapshots s JOIN apps a ON a.id = s.app_id ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func countIn(rows []string, partition string) int {
	n := 0
	for _, r := range rows {
		if strings.HasPrefix(r, partition+" ") {
			n++
		}
	}
	return n
}

// appStateEnds is each app's first snapshot time and latest snapshot as its app_state row
// notes them.
func appStateEnds(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	return textByName(t, st, `
		SELECT a.name, s.first_polled_at::text || ' ' || s.latest_polled_at::text || ' ' || s.latest_currency || ' ' ||
		       s.latest_balance::text || ' ' || s.latest_gift_balance::text || ' ' || s.latest_total_balance::text
		FROM apps a JOIN app_state s ON s.app_id = a.id`)
}

// rowSize is the bytes of every stored row (pg_column_size, header included).
func rowSize(t *testing.T, st *store.Store) int {
	t.Helper()
	var n int
	if err := st.Pool().QueryRow(context.Background(), `SELECT sum(pg_column_size(s.*))::int FROM balance_snapshots s`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// partitionLayouts is, for each partition of balance_snapshots, its columns in order and its
// index's columns and storage parameters.
func partitionLayouts(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	return textByName(t, st, `
		SELECT c.relname,
		       (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
		        FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped) || '; ' ||
		       (SELECT string_agg('index (' || (SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute
		                                        WHERE attrelid = x.indexrelid) || ') ' || coalesce(array_to_string(ic.reloptions, ','), ''), '; ')
		        FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid WHERE x.indrelid = c.oid)
		FROM pg_partition_tree('balance_snapshots') t JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf`)
}
