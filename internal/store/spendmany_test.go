package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// The API's bulk read of every app's spend inputs answers what the per-app read answers, app
// by app: apps with a week of ledger, with snapshots only before the window, with nothing, and
// with different windows and days, in one list.
func TestSpendInputsManyEqualsSpendInputsPerApp(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	names := []string{"busy", "quiet", "empty", "fresh"}
	ids, err := s.EnsureApps(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		// busy: a snapshot every 10 minutes for 8 days, 0.0100 spent each, and its hourly ledger.
		{`INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
		  SELECT $1, $2::timestamptz - i * interval '10 minutes', 'USD', 900 + i * 0.01, 1.25, 901.25 + i * 0.01
		  FROM generate_series(0, 8 * 144) i`, []any{ids["busy"], now.Add(-5 * time.Minute)}},
		{`INSERT INTO spend_ledger_1h (app_id, bucket, first_at, last_at, first_total, last_total, spent)
		  SELECT $1, $2::timestamptz - k * interval '1 hour', $2::timestamptz - k * interval '1 hour',
		         $2::timestamptz - k * interval '1 hour' + interval '50 minutes', 1000 - k * 0.06, 1000 - k * 0.06 - 0.05, 0.0600
		  FROM generate_series(0, 200) k`, []any{ids["busy"], now.Truncate(time.Hour)}},
		// quiet: two snapshots three days ago.
		{`INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
		  VALUES ($1, $2, 'EUR', 10.5000, 0, 10.5000), ($1, $3, 'EUR', 10.2500, 0, 10.2500)`,
			[]any{ids["quiet"], now.Add(-72 * time.Hour), now.Add(-71 * time.Hour)}},
		// fresh: one snapshot in the last hour.
		{`INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
		  VALUES ($1, $2, 'USD', 50.0000, 5.0000, 55.0000)`, []any{ids["fresh"], now.Add(-20 * time.Minute)}},
	} {
		if _, err := s.Pool().Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	var qs []store.SpendQuery
	for i, name := range append(names, "busy", "quiet") {
		window := []time.Duration{time.Hour, 6 * time.Hour}[i/len(names)]
		qs = append(qs, store.SpendQuery{AppID: ids[name], Now: now, Window: window, Day: now.Truncate(24 * time.Hour).Add(-time.Duration(i) * time.Hour)})
	}
	many, err := s.SpendInputsMany(ctx, qs)
	if err != nil {
		t.Fatal(err)
	}
	if len(many) != len(qs) {
		t.Fatalf("%d answers for %d questions", len(many), len(qs))
	}
	for i, q := range qs {
		one, err := s.SpendInputs(ctx, q.AppID, q.Now, q.Window, q.Day)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprintf("%+v", many[i]), fmt.Sprintf("%+v", one); got != want {
			t.Errorf("question %d (app %d, window %s):\nmany: %s\none:  %s", i, q.AppID, q.Window, got, want)
		}
	}
	if len(many[0].Hours) == 0 || len(many[0].Recent) == 0 || many[2].FirstAt != (time.Time{}) || len(many[1].Recent) != 1 {
		t.Errorf("the data does not cover the cases: busy %d hours %d recent, empty first %s, quiet %d recent",
			len(many[0].Hours), len(many[0].Recent), many[2].FirstAt, len(many[1].Recent))
	}
}
