package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// SnapshotPartitionSpan is the span of one partition of balance_snapshots: a UTC week from
// Monday 00:00 (migration 00008 says why a week). Every partition, those made later included,
// takes the parent's layout (migration 00014): polled_at, then app_id as an integer (so a row
// pads to 64 bytes, not 72), currency and the three amounts, and an (app_id, polled_at) index
// with fill factor 100.
const SnapshotPartitionSpan = 7 * 24 * time.Hour

// partitionAhead is how many weeks after now's have their partition ready: with the retention
// loop making them every hour, two weeks leave room for a monitor stopped for days.
const partitionAhead = 2

// partitionAdvisoryLock is the advisory lock that balance_snapshots_ensure_partition takes
// (migration 00008).
const partitionAdvisoryLock = "7734008"

// partitionLockTimeout bounds the wait for the locks that creating or dropping a partition
// takes: behind a long history query it gives up and the next pass tries again, rather than
// queueing every poll behind itself.
const partitionLockTimeout = "10s"

// WeekStart returns the start of the UTC week (Monday 00:00) that holds t: the lower bound of
// t's snapshot partition.
func WeekStart(t time.Time) time.Time {
	d := t.UTC().Truncate(24 * time.Hour)
	return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
}

// EnsureSnapshotPartitions makes sure balance_snapshots has the weekly partitions of the week
// before now's through partitionAhead weeks after it, and one for every week that has rows in
// the DEFAULT partition (rows no partition held when they were written), moving those rows
// into it. Safe to run from several replicas at once.
func (s *Store) EnsureSnapshotPartitions(ctx context.Context, now time.Time) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+partitionLockTimeout+`'`); err != nil {
			return err
		}
		// The function's own lock, taken before reading the DEFAULT partition: two callers that
		// both read it and then both wanted it exclusively would deadlock.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+partitionAdvisoryLock+`)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			SELECT balance_snapshots_ensure_partition(w)
			FROM (SELECT DISTINCT date_trunc('week', polled_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS w
			      FROM balance_snapshots_default
			      UNION SELECT $1::timestamptz + d * interval '7 days' FROM generate_series(-1, $2::int) d) weeks
			ORDER BY w`, now.UTC(), partitionAhead)
		return err
	})
	if err != nil {
		return fmt.Errorf("create snapshot partitions: %w", err)
	}
	return nil
}

// SnapshotPartition is one weekly partition of balance_snapshots.
type SnapshotPartition struct {
	Name     string
	From, To time.Time // [From, To)
}

// SnapshotPartitions lists the weekly partitions of balance_snapshots, oldest first (the
// DEFAULT partition is not one of them).
func (s *Store) SnapshotPartitions(ctx context.Context) ([]SnapshotPartition, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'balance_snapshots'::regclass AND c.relname ~ '^balance_snapshots_p[0-9]{8}$'
		ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("list snapshot partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list snapshot partitions: %w", err)
	}
	out := make([]SnapshotPartition, 0, len(names))
	for _, n := range names {
		from, err := time.Parse("20060102", strings.TrimPrefix(n, "balance_snapshots_p"))
		if err != nil {
			return nil, fmt.Errorf("snapshot partition %s: %w", n, err)
		}
		out = append(out, SnapshotPartition{Name: n, From: from, To: from.Add(SnapshotPartitionSpan)})
	}
	return out, nil
}

// dropSnapshotPartitions drops the weekly partitions that lie wholly before before and deletes
// the DEFAULT partition's rows before it, returning how many partitions and rows went.
func (s *Store) dropSnapshotPartitions(ctx context.Context, before time.Time, batch int) (partitions, rows int64, err error) {
	parts, err := s.SnapshotPartitions(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, p := range parts {
		if p.To.After(before) {
			break
		}
		// One partition per transaction: each DROP holds an exclusive lock on
		// balance_snapshots until commit.
		if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+partitionLockTimeout+`'`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DROP TABLE `+pgx.Identifier{p.Name}.Sanitize())
			return err
		}); err != nil {
			return partitions, rows, fmt.Errorf("drop snapshot partition %s: %w", p.Name, err)
		}
		partitions++
	}
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM balance_snapshots_default WHERE ctid = ANY (ARRAY(
			SELECT ctid FROM balance_snapshots_default WHERE polled_at < $1 LIMIT $2))`, before.UTC(), batch)
		if err != nil {
			return partitions, rows, fmt.Errorf("prune snapshots without a partition: %w", err)
		}
		rows += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			return partitions, rows, nil
		}
	}
}

// PackSnapshotPartitions rebuilds, once, the index of every weekly partition whose week ended
// before now, with its pages full. While a week is written, each app's index entries grow
// at their own place in the index, so pages split in halves and stay about 70 % full (38 B
// of index per snapshot; the fill factor of 100 fills only the pages that are split at the
// index's end); a week that is over takes no more rows in the normal course, so full pages
// (28 B per snapshot) cost nothing later. The rebuild does not block polls or
// queries (REINDEX CONCURRENTLY); a rebuilt index is marked by its comment, so the next pass
// leaves it alone, and the invalid copy a failed rebuild leaves behind is dropped. It returns
// how many indexes it rebuilt.
func (s *Store) PackSnapshotPartitions(ctx context.Context, now time.Time) (int, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.relname, ix.indexrelid::regclass::text, ix.indisvalid
		FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_index ix ON ix.indrelid = c.oid
		WHERE i.inhparent = 'balance_snapshots'::regclass AND c.relname ~ '^balance_snapshots_p[0-9]{8}$'
		  AND obj_description(ix.indexrelid, 'pg_class') IS DISTINCT FROM '`+packedComment+`'
		ORDER BY c.relname`)
	if err != nil {
		return 0, fmt.Errorf("list snapshot indexes: %w", err)
	}
	type index struct {
		Table, Name string
		Valid       bool
	}
	idx, err := pgx.CollectRows(rows, pgx.RowToStructByPos[index])
	if err != nil {
		return 0, fmt.Errorf("list snapshot indexes: %w", err)
	}
	packed := 0
	for _, ix := range idx {
		from, err := time.Parse("20060102", strings.TrimPrefix(ix.Table, "balance_snapshots_p"))
		if err != nil || from.Add(SnapshotPartitionSpan).After(now) {
			continue
		}
		// The index name comes from the catalog, quoted as needed (regclass::text).
		// Every partition's index has fill factor 100 (migration 00014), so the rebuild fills its
		// pages.
		steps := []string{`REINDEX INDEX CONCURRENTLY ` + ix.Name, `COMMENT ON INDEX ` + ix.Name + ` IS '` + packedComment + `'`}
		if !ix.Valid {
			steps = []string{`DROP INDEX ` + ix.Name}
		}
		for _, q := range steps {
			if _, err := s.pool.Exec(ctx, q); err != nil {
				return packed, fmt.Errorf("pack snapshot index %s: %w", ix.Name, err)
			}
		}
		if ix.Valid {
			packed++
		}
	}
	return packed, nil
}

// packedComment marks a snapshot partition's index that PackSnapshotPartitions rebuilt (or
// that migrations 00008 and 00014 built in bulk, which write the same words).
const packedComment = "packed: its week is over"
