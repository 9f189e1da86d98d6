package evaluate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/spend"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// BenchmarkSpendAt10kApps measures what the spend ledger costs a poll, and what reading it
// costs, with 10,000 apps that each have 7 days of hourly ledger (1,690,000 rows) and a few
// snapshots. Seeding is server-side SQL (INSERT ... SELECT over generate_series), not polls.
//
//   - observe: one poll through the evaluator (lock, snapshot, roll-up, ledger booking, burn
//     rates, runway, every alert rule), per poll;
//   - insert_ceiling: the bare INSERT of one snapshot row, per row: no poll can be cheaper;
//   - api_app_spend: SpendInputs + Compute + RunwayOf for one app (one spend object);
//   - api_all_apps_spend: the same for all 10,000 apps through SpendInputsMany, per request of
//     GET /api/v1/apps;
//   - metrics_all_apps: the metrics' ledger sums of all 10,000 apps in one query, per scrape.
func BenchmarkSpendAt10kApps(b *testing.B) {
	const apps = 10000
	var yaml strings.Builder
	yaml.WriteString("database: {url: \"postgres://unused\"}\ndefaults: {notify: [], thresholds: {warning: \"100\", critical: \"20\"}}\napps:\n")
	names := make([]string, apps)
	for i := range apps {
		names[i] = fmt.Sprintf("app%05d", i)
		fmt.Fprintf(&yaml, "  - {name: %s, dev_key: k, dev_secret: s}\n", names[i])
	}
	cfg, err := config.Parse([]byte(yaml.String()), func(string) (string, bool) { return "", false }, ".")
	if err != nil {
		b.Fatal(err)
	}
	st := pgtest.New(b)
	ctx := context.Background()
	ids, err := st.EnsureApps(ctx, names)
	if err != nil {
		b.Fatal(err)
	}
	// Hourly rows from 2026-11-19T12:00Z to 2026-11-26T12:00Z, 2.0000 spent an hour from
	// 100000.0000; the first snapshot at 2026-11-19T12:00Z and the last three at 11:40, 12:00
	// and 12:20 on 2026-11-26, consistent with them.
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	start := time.Date(2026, 11, 19, 12, 0, 0, 0, time.UTC)
	seeded := time.Now()
	for _, q := range []string{
		`INSERT INTO spend_ledger_1h (app_id, bucket, first_at, last_at, first_total, last_total, spent)
		 SELECT a.id, $1::timestamptz + k * interval '1 hour', $1::timestamptz + k * interval '1 hour',
		        $1::timestamptz + k * interval '1 hour' + interval '40 minutes', 100000 - 2 * k, 100000 - 2 * (k + 1), 2
		 FROM apps a, generate_series(0, 168) k ORDER BY a.id, k`,
		`INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
		 SELECT id, $1, 'USD', 100000, 0, 100000 FROM apps`, // each app's first snapshot
		`INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
		 SELECT a.id, $1::timestamptz + interval '1 hour' * 167 + interval '20 minutes' * (2 + k), 'USD',
		        99664 - k, 0, 99664 - k
		 FROM apps a, generate_series(0, 2) k`,
		`UPDATE app_state SET last_polled_at = $1::timestamptz + interval '168 hours 20 minutes',
		        last_success_at = $1::timestamptz + interval '168 hours 20 minutes'`,
	} {
		if _, err := st.Pool().Exec(ctx, q, start); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	if _, err := st.Pool().Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatalf("analyze: %v", err)
	}
	b.Logf("seeded %d apps × 169 ledger hours and 4 snapshots in %s", apps, time.Since(seeded).Round(time.Millisecond))

	clock := now
	ev, err := evaluate.New(evaluate.Config{Store: st, Apps: cfg.Apps, AppIDs: ids, Clock: func() time.Time { return clock }})
	if err != nil {
		b.Fatal(err)
	}
	const perIter = 200 // polls per benchmark iteration, on distinct apps
	var observeMs float64
	b.Run("observe", func(b *testing.B) {
		n := 0
		for b.Loop() {
			for range perIter {
				round := n / apps
				at := now.Add(time.Duration(round) * time.Minute)
				total := decimal.New(99662_0000-int64(round+1)*5000, -4)
				s := &balance.Snapshot{PolledAt: at, Currency: "USD", Balance: total, GiftBalance: decimal.Zero, TotalBalance: total}
				if _, err := ev.Observe(ctx, names[n%apps], s, nil); err != nil {
					b.Fatal(err)
				}
				n++
			}
		}
		observeMs = float64(b.Elapsed().Nanoseconds()) / float64(b.N*perIter) / 1e6
		b.ReportMetric(observeMs, "ms/poll")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("insert_ceiling", func(b *testing.B) {
		n := 0
		for b.Loop() {
			for range perIter {
				at := now.Add(time.Hour + time.Duration(n/apps)*time.Minute)
				if _, err := st.Pool().Exec(ctx, `
					INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
					VALUES ($1, $2, 'USD', 1, 0, 1)`, ids[names[n%apps]], at); err != nil {
					b.Fatal(err)
				}
				n++
			}
		}
		ms := float64(b.Elapsed().Nanoseconds()) / float64(b.N*perIter) / 1e6
		b.ReportMetric(ms, "ms/insert")
		if ms > 0 {
			b.ReportMetric(observeMs/ms, "poll_vs_insert_x")
		}
		b.ReportMetric(0, "ns/op")
	})
	b.Run("api_app_spend", func(b *testing.B) {
		n := 0
		for b.Loop() {
			for range perIter {
				in, err := st.SpendInputs(ctx, ids[names[n%apps]], now, time.Hour, now.Truncate(24*time.Hour))
				if err != nil {
					b.Fatal(err)
				}
				if rw := spend.Compute(in).RunwayOf(decimal.NewFromInt(99662), decimal.Zero, time.Hour); !rw.Known {
					b.Fatalf("runway unknown: %+v", in)
				}
				n++
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perIter)/1e6, "ms/app")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("api_all_apps_spend", func(b *testing.B) {
		qs := make([]store.SpendQuery, apps)
		for i := range apps {
			qs[i] = store.SpendQuery{AppID: ids[names[i]], Now: now, Window: time.Hour, Day: now.Truncate(24 * time.Hour)}
		}
		for b.Loop() {
			ins, err := st.SpendInputsMany(ctx, qs)
			if err != nil || len(ins) != apps {
				b.Fatalf("%d inputs, %v", len(ins), err)
			}
			for _, in := range ins {
				if rw := spend.Compute(in).RunwayOf(decimal.NewFromInt(99662), decimal.Zero, time.Hour); !rw.Known {
					b.Fatal("runway unknown")
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/request")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("metrics_all_apps", func(b *testing.B) {
		for b.Loop() {
			sums, err := st.AllLedgerSums(ctx, now)
			if err != nil || len(sums) != apps {
				b.Fatalf("%d apps, %v", len(sums), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/scrape")
		b.ReportMetric(0, "ns/op")
	})
}
