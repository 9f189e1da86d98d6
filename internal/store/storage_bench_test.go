package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// BenchmarkSnapshotStorage measures the bytes one stored snapshot costs: 500 apps polled once
// a minute for two days, inserted minute by minute as the poller writes (so each app's index
// entries grow at 500 places at once, as in production), then pg_total_relation_size (heap,
// indexes, free space and visibility maps) summed over every partition, divided by the rows.
// "open" is the week while it is written, "packed" after store.PackSnapshotPartitions. A
// NUMERIC's size depends on its digits (2 bytes per group of 4, plus 3): "small" amounts are
// below 10,000 without gift credit, "large" ones above 10,000 with gift credit, and
// "large_no_gift" above 10,000 without: a row of 61 to 64 bytes, which migration 00014 fits in
// 64 on the page (72 before).
func BenchmarkSnapshotStorage(b *testing.B) {
	const apps, minutes = 500, 2 * 1440
	for _, amounts := range []struct{ name, balance, gift string }{
		{"small", "2500 - m * 0.0137 - a.id * 0.01", "0"},
		{"large", "25000 - m * 0.0137 - a.id", "12.5000"},
		{"large_no_gift", "25000 - m * 0.0137 - a.id", "0"},
	} {
		b.Run(amounts.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				s := pgtest.New(b)
				ctx := context.Background()
				names := make([]string, apps)
				for i := range names {
					names[i] = fmt.Sprintf("app%04d", i)
				}
				if _, err := s.EnsureApps(ctx, names); err != nil {
					b.Fatal(err)
				}
				// A Friday weeks ahead, so both days fall in one week that nothing made before.
				start := store.WeekStart(time.Now()).AddDate(0, 0, 5*7+4)
				if err := s.EnsureSnapshotPartitions(ctx, start); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := s.Pool().Exec(ctx, fmt.Sprintf(`
					INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
					SELECT a.id, $1::timestamptz + m * interval '1 minute', 'USD', %[1]s, %[2]s, %[1]s + %[2]s
					FROM generate_series(0, $2 - 1) m CROSS JOIN apps a
					ORDER BY m, a.id`, amounts.balance, amounts.gift), start, minutes); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				perRow := func(label string) {
					if _, err := s.Pool().Exec(ctx, `VACUUM ANALYZE balance_snapshots`); err != nil {
						b.Fatal(err)
					}
					var heap, index, total, rows float64
					if err := s.Pool().QueryRow(ctx, `
						SELECT sum(pg_table_size(relid)), sum(pg_indexes_size(relid)), sum(pg_total_relation_size(relid)),
						       (SELECT count(*) FROM balance_snapshots)
						FROM pg_partition_tree('balance_snapshots')`).Scan(&heap, &index, &total, &rows); err != nil {
						b.Fatal(err)
					}
					if rows != apps*minutes {
						b.Fatalf("%v rows, want %d", rows, apps*minutes)
					}
					b.ReportMetric(total/rows, label+"_B/snapshot")
					b.ReportMetric(heap/rows, label+"_heap_B/snapshot")
					b.ReportMetric(index/rows, label+"_index_B/snapshot")
				}
				perRow("open")
				if _, err := s.PackSnapshotPartitions(ctx, start.Add(store.SnapshotPartitionSpan)); err != nil {
					b.Fatal(err)
				}
				perRow("packed")
				b.StartTimer()
			}
		})
	}
}
