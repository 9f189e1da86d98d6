package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// A database filled by the schema before partitioning (snapshots stored at version 2, so that
// migration 00003 backfills their ledger, as on a real install) and migrated to the latest
// keeps every row with its exact amounts, each in its week's partition, and answers every
// history, ledger and spend question as before.
func TestPartitioningMigrationKeepsEverySnapshot(t *testing.T) {
	ctx := context.Background()
	st, p := pgtest.AtVersion(t, 2)

	type row struct {
		at                         time.Time
		currency, bal, gift, total string
	}
	edges := []row{
		{time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), "USD", "-12.3400", "0.0000", "-12.3400"},         // a Monday: the week's first instant
		{time.Date(2025, 11, 30, 23, 59, 59, 999999000, time.UTC), "USD", "0.0001", "0.0000", "0.0001"}, // the week before's last
		{time.Date(2026, 2, 14, 8, 31, 0, 0, time.UTC), "USD", "0.0000", "7.2500", "7.2500"},
		{time.Date(2026, 3, 3, 3, 3, 3, 0, time.UTC), "USD", "100.0000", "25.5000", "125.5000"},
		{time.Date(2026, 3, 3, 3, 3, 3, 0, time.UTC), "USD", "100.0000", "25.5000", "125.5000"}, // the old schema allowed a twin
	}
	series := map[string][]row{"alpha": edges,
		// Alone: any change to or from it would overflow the ledger's NUMERIC(20,4) sums.
		"delta": {{time.Date(2026, 2, 14, 8, 30, 0, 0, time.UTC), "USD", "9999999999999999.9999", "0.0000", "9999999999999999.9999"}}}
	// Two apps polled every 37 h 11 min from September 2025 to November 2026, one in EUR with
	// gift credit that comes and goes.
	for i, name := range []string{"beta", "gamma"} {
		at := time.Date(2025, 9, 2, 10, 17, 0, 0, time.UTC).Add(time.Duration(i) * 13 * time.Minute)
		bal, gift := decimal.RequireFromString("84210.5000"), decimal.Zero
		for k := 0; at.Before(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)); k++ {
			switch {
			case k%23 == 7:
				bal = bal.Add(decimal.RequireFromString("5000.0001"))
			case k%17 == 3 && name == "gamma":
				gift = decimal.RequireFromString("12.3456")
			case k%17 == 9:
				gift = decimal.Zero
			default:
				bal = bal.Sub(decimal.New(int64(1_000_000+k*7919%90_000), -4))
			}
			cur := "USD"
			if name == "gamma" {
				cur = "EUR"
			}
			series[name] = append(series[name], row{at, cur, bal.StringFixed(4), gift.StringFixed(4), bal.Add(gift).StringFixed(4)})
			at = at.Add(37*time.Hour + 11*time.Minute)
		}
	}
	ids := map[string]int64{}
	for name, rows := range series {
		var id int64
		if err := st.Pool().QueryRow(ctx, `INSERT INTO apps (name) VALUES ($1) RETURNING id`, name).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[name] = id
		if _, err := st.Pool().Exec(ctx, `INSERT INTO app_state (app_id) VALUES ($1)`, id); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if _, err := st.Pool().Exec(ctx, `
				INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
				VALUES ($1, $2, $3, $4::numeric, $5::numeric, $6::numeric)`, id, r.at, r.currency, r.bal, r.gift, r.total); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.RebuildRollups(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.UpTo(ctx, 7); err != nil {
		t.Fatal(err)
	}
	want := snapshotText(t, st)
	if n := len(series["alpha"]) + len(series["beta"]) + len(series["gamma"]) + len(series["delta"]); len(want) != n || n < 500 {
		t.Fatalf("%d rows stored at version 7, want %d (and several hundred)", len(want), n)
	}
	before := storeAnswers(t, st, ids)
	beforeEnds := firstAndLatest(t, st)

	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if cur, latest, err := st.SchemaVersion(ctx); err != nil || cur != latest || cur < 8 {
		t.Fatalf("schema at %d of %d (%v)", cur, latest, err)
	}
	if diff := cmp.Diff(want, snapshotText(t, st)); diff != "" {
		t.Errorf("snapshots after the migration (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(before, storeAnswers(t, st, ids)); diff != "" {
		t.Errorf("answers after the migration (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(beforeEnds, firstAndLatestNow(t, st, ids)); diff != "" {
		t.Errorf("first and latest snapshots after the migration (-before +after):\n%s", diff)
	}
	var kind string
	var idColumn, misplaced, inDefault int
	if err := st.Pool().QueryRow(ctx, `
		SELECT (SELECT relkind::text FROM pg_class WHERE oid = 'balance_snapshots'::regclass),
		       (SELECT count(*) FROM information_schema.columns WHERE table_name = 'balance_snapshots' AND column_name = 'id'),
		       (SELECT count(*) FROM balance_snapshots
		        WHERE tableoid::regclass::text <> 'balance_snapshots_p' || to_char(date_trunc('week', polled_at AT TIME ZONE 'UTC'), 'YYYYMMDD')),
		       (SELECT count(*) FROM balance_snapshots_default)`).Scan(&kind, &idColumn, &misplaced, &inDefault); err != nil {
		t.Fatal(err)
	}
	if kind != "p" || idColumn != 0 || misplaced != 0 || inDefault != 0 {
		t.Errorf("relkind %q, id columns %d, rows outside their week's partition %d, in DEFAULT %d; want p, 0, 0, 0",
			kind, idColumn, misplaced, inDefault)
	}

	// The service writes and reads through the new table.
	at := time.Now().UTC().Truncate(time.Second)
	d := decimal.RequireFromString("42.4200")
	pgtest.Snapshot(t, st, ids["alpha"], balance.Snapshot{PolledAt: at, Currency: "USD", Balance: d, GiftBalance: decimal.Zero, TotalBalance: d})
	pts, err := st.Snapshots(ctx, "alpha", at, at.Add(time.Second), 10)
	if err != nil || len(pts) != 1 || pts[0].TotalBalance.StringFixed(4) != "42.4200" {
		t.Errorf("snapshot stored after the migration reads back as %v (%v)", pts, err)
	}

	// Going back to the plain table keeps every row too.
	want = snapshotText(t, st)
	if _, err := p.DownTo(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, snapshotText(t, st)); diff != "" {
		t.Errorf("snapshots after migrating down (-before +after):\n%s", diff)
	}
}

// snapshotText is every stored snapshot as Postgres prints it, in a fixed order.
func snapshotText(t *testing.T, st *store.Store) []string {
	t.Helper()
	rows, err := st.Pool().Query(context.Background(), `
		SELECT a.name || ' ' || s.polled_at::text || ' ' || s.currency || ' ' ||
		       s.balance::text || ' ' || s.gift_balance::text || ' ' || s.total_balance::text
		FROM balance_snapshots s JOIN apps a ON a.id = s.app_id ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// storeAnswers asks the store the history and ledger questions the API asks, and returns the
// answers as text.
func storeAnswers(t *testing.T, st *store.Store, ids map[string]int64) map[string]string {
	t.Helper()
	ctx := context.Background()
	from, to := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	out := map[string]string{}
	ask := func(key string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		out[key] = fmt.Sprintf("%+v", v)
	}
	for name := range ids {
		pts, err := st.Snapshots(ctx, name, from, to, 10000)
		ask(name+" snapshots", pts, err)
		b, err := st.Buckets(ctx, name, from.Add(90*time.Minute), to, 24*time.Hour, "total_balance")
		ask(name+" buckets 1d", b, err)
		b, err = st.BucketsRaw(ctx, name, from, to, 7*time.Hour, "balance")
		ask(name+" buckets raw 7h", b, err)
		l, err := st.LedgerPoints(ctx, name, from, to, 24*time.Hour)
		ask(name+" ledger 1d", l, err)
	}
	return out
}

// firstAndLatest is each app's first snapshot time and latest snapshot, as the old schema's
// queries found them.
func firstAndLatest(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	return textByName(t, st, `
		SELECT a.name,
		       (SELECT min(polled_at) FROM balance_snapshots WHERE app_id = a.id)::text || ' ' || l.polled_at::text || ' ' ||
		       l.currency || ' ' || l.balance::text || ' ' || l.gift_balance::text || ' ' || l.total_balance::text
		FROM apps a CROSS JOIN LATERAL (
			SELECT * FROM balance_snapshots WHERE app_id = a.id ORDER BY polled_at DESC LIMIT 1) l`)
}

// textByName runs query, which answers (name, text) rows, and returns the texts by name.
func textByName(t *testing.T, st *store.Store, query string) map[string]string {
	t.Helper()
	rows, err := st.Pool().Query(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var name, v string
	if _, err := pgx.ForEachRow(rows, []any{&name, &v}, func() error { out[name] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// firstAndLatestNow is firstAndLatest as the store answers it now: the first snapshot time
// from the spend inputs, the latest snapshot from the app statuses and the ledger sums.
func firstAndLatestNow(t *testing.T, st *store.Store, ids map[string]int64) map[string]string {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	statuses, err := st.AppStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sums, err := st.AllLedgerSums(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, a := range statuses {
		in, err := st.SpendInputs(ctx, ids[a.Name], now, 72*time.Hour, now.Truncate(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		l := a.Latest
		if l == nil || sums[i].Name != a.Name || !sums[i].TotalBalance.Equal(l.TotalBalance) || !sums[i].Balance.Equal(l.Balance) {
			t.Fatalf("%s: latest %+v, ledger sums %+v", a.Name, l, sums[i])
		}
		ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.999999") + "+00" }
		out[a.Name] = ts(in.FirstAt) + " " + ts(l.PolledAt) + " " + l.Currency + " " + l.Balance.StringFixed(4) + " " +
			l.GiftBalance.StringFixed(4) + " " + l.TotalBalance.StringFixed(4)
	}
	return out
}
