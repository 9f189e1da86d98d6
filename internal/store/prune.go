package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PruneCounts says what one pruning pass removed: rows, and whole weekly partitions of
// snapshots.
type PruneCounts struct {
	SnapshotPartitions                                         int64
	Snapshots, Rollups, Failures, Slots, Notifications, Events int64
}

// Prune removes what is past retention. Snapshots go a weekly partition at a time: every
// partition that lies wholly before dataBefore is dropped, so the partition that straddles
// dataBefore keeps its older rows until all of it is past (at most a week more than
// retention); their hourly roll-ups go with them. Failed polls and finished outbox rows older
// than dataBefore, poll slots older than slotsBefore, and events older than eventsBefore
// (their outbox rows go with them) are deleted in batches of at most batch rows per statement
// (short transactions, no long locks), each statement over all apps at once. Pending outbox
// rows are never deleted here: the delivery worker retires them.
func (s *Store) Prune(ctx context.Context, dataBefore, eventsBefore, slotsBefore time.Time, batch int) (PruneCounts, error) {
	var c PruneCounts
	loop := func(count *int64, q string, args ...any) error {
		for {
			tag, err := s.pool.Exec(ctx, q, args...)
			if err != nil {
				return err
			}
			*count += tag.RowsAffected()
			if tag.RowsAffected() < int64(batch) {
				return nil
			}
		}
	}
	snapshotsBefore := WeekStart(dataBefore)
	var err error
	if c.SnapshotPartitions, c.Snapshots, err = s.dropSnapshotPartitions(ctx, snapshotsBefore, batch); err != nil {
		return c, fmt.Errorf("prune snapshots: %w", err)
	}
	// The first and latest snapshot noted on each app's state row follow what is left: an app
	// whose every snapshot went has none. Every pass, not only one that dropped something, so a
	// pass stopped between the drop and this still gets it done. The rows are locked in app_id
	// order, as a group of polls locks them, so the two cannot deadlock.
	if _, err := s.pool.Exec(ctx, `
		UPDATE app_state s SET latest_polled_at = NULL, latest_currency = NULL, latest_balance = NULL,
			latest_gift_balance = NULL, latest_total_balance = NULL
		FROM (SELECT app_id FROM app_state WHERE latest_polled_at < $1 ORDER BY app_id FOR UPDATE) l
		WHERE s.app_id = l.app_id`, snapshotsBefore); err != nil {
		return c, fmt.Errorf("prune snapshots: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `
		UPDATE app_state s SET first_polled_at = (
			SELECT min(polled_at) FROM balance_snapshots b WHERE b.app_id = s.app_id AND b.polled_at >= $1)
		FROM (SELECT app_id FROM app_state WHERE first_polled_at < $1 ORDER BY app_id FOR UPDATE) l
		WHERE s.app_id = l.app_id`, snapshotsBefore); err != nil {
		return c, fmt.Errorf("prune snapshots: %w", err)
	}
	// Each statement walks every app's (app_id, time) index from its start, so a batch costs
	// one index probe per app plus the rows it deletes, never a scan of the table.
	if err := loop(&c.Rollups, `DELETE FROM balance_rollups_1h WHERE (app_id, bucket) IN (
		SELECT r.app_id, r.bucket FROM apps a CROSS JOIN LATERAL (
			SELECT app_id, bucket FROM balance_rollups_1h WHERE app_id = a.id AND bucket < $1 ORDER BY bucket LIMIT $2) r
		LIMIT $2)`,
		snapshotsBefore, batch); err != nil {
		return c, fmt.Errorf("prune roll-ups: %w", err)
	}
	if err := loop(&c.Failures, `DELETE FROM poll_failures WHERE id IN (
		SELECT f.id FROM apps a CROSS JOIN LATERAL (
			SELECT id FROM poll_failures WHERE app_id = a.id AND last_at < $1 ORDER BY last_at LIMIT $2) f
		LIMIT $2)`,
		dataBefore.UTC(), batch); err != nil {
		return c, fmt.Errorf("prune failed polls: %w", err)
	}
	if err := loop(&c.Slots, `DELETE FROM poll_slots WHERE (app_id, slot) IN (
		SELECT p.app_id, p.slot FROM apps a CROSS JOIN LATERAL (
			SELECT app_id, slot FROM poll_slots WHERE app_id = a.id AND slot < $1 ORDER BY slot LIMIT $2) p
		LIMIT $2)`,
		slotsBefore.UTC(), batch); err != nil {
		return c, fmt.Errorf("prune poll slots: %w", err)
	}
	if err := loop(&c.Notifications, `DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox WHERE status <> 'pending' AND finished_at < $1 ORDER BY finished_at LIMIT $2)`,
		dataBefore.UTC(), batch); err != nil {
		return c, fmt.Errorf("prune notifications: %w", err)
	}
	if err := loop(&c.Events, `DELETE FROM alert_events WHERE id IN (
		SELECT e.id FROM alert_events e WHERE e.created_at < $1
		  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.id AND o.status = 'pending')
		ORDER BY e.created_at LIMIT $2)`,
		eventsBefore.UTC(), batch); err != nil {
		return c, fmt.Errorf("prune events: %w", err)
	}
	return c, nil
}

// RebuildRollups recomputes app's hourly roll-ups from its snapshots, for bulk loads that
// bypass Apply (benchmarks, imports).
func (s *Store) RebuildRollups(ctx context.Context, appID int64) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM balance_rollups_1h WHERE app_id = $1`, appID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO balance_rollups_1h
			SELECT app_id, date_trunc('hour', polled_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
			       min(polled_at), max(polled_at),
			       (array_agg(balance ORDER BY polled_at))[1], (array_agg(balance ORDER BY polled_at DESC))[1],
			       min(balance), max(balance),
			       (array_agg(total_balance ORDER BY polled_at))[1], (array_agg(total_balance ORDER BY polled_at DESC))[1],
			       min(total_balance), max(total_balance), count(*)
			FROM balance_snapshots WHERE app_id = $1
			GROUP BY 1, 2`, appID)
		return err
	})
}
