package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
)

// BenchmarkHistoryYear loads one app with a year of one-minute snapshots (525,600 rows) and
// a second app beside it, then measures the queries the API runs. `make bench` prints them;
// the ratio rollup/raw says what the hourly roll-ups buy.
func BenchmarkHistoryYear(b *testing.B) {
	s := pgtest.New(b)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"year", "other"})
	if err != nil {
		b.Fatal(err)
	}
	end := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	start := end.Add(-365 * 24 * time.Hour)
	for _, id := range []int64{ids["year"], ids["other"]} {
		_, err := s.Pool().Exec(ctx, `
			INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
			SELECT $1, $2::timestamptz + i * interval '1 minute', 'USD',
			       1000 - (i % 1440) * 0.0101, 1.2500, 1001.2500 - (i % 1440) * 0.0101
			FROM generate_series(0, 525599) i`, id, start)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.RebuildRollups(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	// As on an install that polled all year: every week in its partition, none in DEFAULT.
	if err := s.EnsureSnapshotPartitions(ctx, end); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{`VACUUM ANALYZE balance_snapshots`, `VACUUM ANALYZE balance_rollups_1h`} {
		if _, err := s.Pool().Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}

	var rollupNs, rawNs float64
	b.Run("year_step_1d_rollups", func(b *testing.B) {
		for b.Loop() {
			bs, err := s.Buckets(ctx, "year", start, end, 24*time.Hour, "total_balance")
			if err != nil || len(bs) != 365 {
				b.Fatalf("%d buckets, %v", len(bs), err)
			}
		}
		rollupNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(rollupNs/1e6, "ms/query")
	})
	b.Run("year_step_1d_raw", func(b *testing.B) {
		for b.Loop() {
			bs, err := s.BucketsRaw(ctx, "year", start, end, 24*time.Hour, "total_balance")
			if err != nil || len(bs) != 365 {
				b.Fatalf("%d buckets, %v", len(bs), err)
			}
		}
		rawNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(rawNs/1e6, "ms/query")
		if rollupNs > 0 {
			b.ReportMetric(rawNs/rollupNs, "x_slower_than_rollups")
		}
	})
	b.Run("day_raw_points", func(b *testing.B) {
		from := end.Add(-24 * time.Hour)
		for b.Loop() {
			pts, err := s.Snapshots(ctx, "year", from, end, 10000)
			if err != nil || len(pts) != 1440 {
				b.Fatalf("%d points, %v", len(pts), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/query")
	})
	b.Run("month_step_1h_rollups", func(b *testing.B) {
		from := end.Add(-30 * 24 * time.Hour)
		for b.Loop() {
			bs, err := s.Buckets(ctx, "year", from, end, time.Hour, "balance")
			if err != nil || len(bs) != 720 {
				b.Fatalf("%d buckets, %v", len(bs), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/query")
	})
}
