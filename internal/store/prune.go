package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PruneCounts says how many rows one pruning pass deleted.
type PruneCounts struct {
	Snapshots, Rollups, Failures, Slots, Notifications, Events int64
}

// Prune deletes, in batches of at most batch rows per statement (short transactions, no long
// locks), snapshots, failed polls, poll slots and finished outbox rows older than dataBefore,
// poll slots older than slotsBefore, and events older than eventsBefore (their outbox rows go
// with them). Pending outbox rows are
// never deleted here: the delivery worker retires them.
func (s *Store) Prune(ctx context.Context, dataBefore, eventsBefore, slotsBefore time.Time, batch int) (PruneCounts, error) {
	var c PruneCounts
	ids, err := s.appIDs(ctx)
	if err != nil {
		return c, err
	}
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
	for _, id := range ids {
		// Per app, so each batch walks the (app_id, polled_at) index instead of the table.
		if err := loop(&c.Snapshots, `DELETE FROM balance_snapshots WHERE id IN (
			SELECT id FROM balance_snapshots WHERE app_id = $1 AND polled_at < $2 ORDER BY polled_at LIMIT $3)`,
			id, dataBefore.UTC(), batch); err != nil {
			return c, fmt.Errorf("prune snapshots: %w", err)
		}
		if err := loop(&c.Failures, `DELETE FROM poll_failures WHERE id IN (
			SELECT id FROM poll_failures WHERE app_id = $1 AND last_at < $2 ORDER BY last_at LIMIT $3)`,
			id, dataBefore.UTC(), batch); err != nil {
			return c, fmt.Errorf("prune failed polls: %w", err)
		}
		if err := loop(&c.Rollups, `DELETE FROM balance_rollups_1h WHERE (app_id, bucket) IN (
			SELECT app_id, bucket FROM balance_rollups_1h WHERE app_id = $1 AND bucket < $2 ORDER BY bucket LIMIT $3)`,
			id, dataBefore.UTC().Truncate(time.Hour).Add(-time.Hour), batch); err != nil {
			return c, fmt.Errorf("prune roll-ups: %w", err)
		}
		if err := loop(&c.Slots, `DELETE FROM poll_slots WHERE (app_id, slot) IN (
			SELECT app_id, slot FROM poll_slots WHERE app_id = $1 AND slot < $2 ORDER BY slot LIMIT $3)`,
			id, slotsBefore.UTC(), batch); err != nil {
			return c, fmt.Errorf("prune poll slots: %w", err)
		}
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

func (s *Store) appIDs(ctx context.Context) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM apps ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
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
