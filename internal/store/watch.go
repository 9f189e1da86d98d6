package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PollHealth is what the heartbeat reads of one configured app.
type PollHealth struct {
	Name         string
	LastPolledAt time.Time // zero: never polled
	// Told is true when an access or data alert of the app fires and a notification of its
	// episode was delivered: the app fails, but someone knows.
	Told bool
}

// PollHealth reads, in one query, when each named app was last polled and whether a failure
// alert of it reached someone. Names the database does not know come back never polled.
func (s *Store) PollHealth(ctx context.Context, names []string) ([]PollHealth, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT n.name, st.last_polled_at,
			EXISTS (SELECT 1 FROM alert_state al
			        JOIN alert_events e ON e.app_id = al.app_id AND e.alert = al.alert AND e.created_at >= al.since
			        JOIN outbox o ON o.event_id = e.id AND o.status = 'delivered'
			        WHERE al.app_id = a.id AND al.alert IN ('access', 'data'))
		FROM unnest($1::text[]) WITH ORDINALITY AS n(name, i)
		LEFT JOIN apps a ON a.name = n.name
		LEFT JOIN app_state st ON st.app_id = a.id
		ORDER BY n.i`, names)
	if err != nil {
		return nil, fmt.Errorf("read poll health: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PollHealth, error) {
		var h PollHealth
		var polled *time.Time
		err := r.Scan(&h.Name, &polled, &h.Told)
		h.LastPolledAt = deref(polled)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("read poll health: %w", err)
	}
	return out, nil
}

// ClaimMark sets the mark name to now if it is unset or not after notAfter, and reports
// whether it did, with the value it replaced (zero when unset). Of replicas claiming at once,
// exactly one wins: the loser's upsert waits for the winner's and then finds the mark too new.
func (s *Store) ClaimMark(ctx context.Context, name string, now, notAfter time.Time) (prev time.Time, ok bool, err error) {
	var p *time.Time
	err = s.pool.QueryRow(ctx, `
		WITH old AS (SELECT at FROM monitor_marks WHERE name = $1)
		INSERT INTO monitor_marks (name, at) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET at = excluded.at WHERE monitor_marks.at <= $3
		RETURNING (SELECT at FROM old)`, name, now.UTC(), notAfter.UTC()).Scan(&p)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("claim %s: %w", name, err)
	}
	return deref(p), true, nil
}

// ReleaseMark puts the mark name back to prev (removing it when prev is zero), if it still
// holds the claim made at claimed: a claim whose work failed lets another replica try.
func (s *Store) ReleaseMark(ctx context.Context, name string, claimed, prev time.Time) error {
	var err error
	if prev.IsZero() {
		_, err = s.pool.Exec(ctx, `DELETE FROM monitor_marks WHERE name = $1 AND at = $2`, name, claimed.UTC())
	} else {
		_, err = s.pool.Exec(ctx, `UPDATE monitor_marks SET at = $3 WHERE name = $1 AND at = $2`, name, claimed.UTC(), prev.UTC())
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", name, err)
	}
	return nil
}

// SetMark records now as the mark name, unless it already holds a later time.
func (s *Store) SetMark(ctx context.Context, name string, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO monitor_marks (name, at) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET at = greatest(monitor_marks.at, excluded.at)`, name, now.UTC()); err != nil {
		return fmt.Errorf("record %s: %w", name, err)
	}
	return nil
}

// Mark reads the mark name; zero when unset.
func (s *Store) Mark(ctx context.Context, name string) (time.Time, error) {
	var at time.Time
	err := s.pool.QueryRow(ctx, `SELECT at FROM monitor_marks WHERE name = $1`, name).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read %s: %w", name, err)
	}
	return at.UTC(), nil
}

// MonitorApp names the row of apps that the monitor's own events (the daily digest) belong to.
// No configured app can have it: app names start with a letter or a digit.
const MonitorApp = "(monitor)"

// MonitorEvent is an event of the monitor itself, not of an app: the daily digest.
type MonitorEvent struct {
	ID        string // derived from what it is about ("dig_2026-11-27"), so replicas agree on it
	Type      string
	At        time.Time
	Payload   []byte
	Notifiers []string // one outbox row each
}

// EventExists reports whether an event with this id is in the event log.
func (s *Store) EventExists(ctx context.Context, id string) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM alert_events WHERE id = $1)`, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("read event %s: %w", id, err)
	}
	return ok, nil
}

// QueueMonitorEvent stores e in the event log under MonitorApp with one outbox row per
// notifier, in one transaction, unless an event with its id exists: then it writes nothing and
// reports false. Replicas and restarts racing to queue the same event queue it once.
func (s *Store) QueueMonitorEvent(ctx context.Context, e MonitorEvent) (bool, error) {
	queued := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var appID int64
		// DO UPDATE, not DO NOTHING: it returns the id also when another replica inserted the
		// row a moment ago, which a separate SELECT in this statement's snapshot would not see.
		if err := tx.QueryRow(ctx, `
			INSERT INTO apps (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = excluded.name
			RETURNING id`, MonitorApp).Scan(&appID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO alert_events (id, app_id, alert, type, rule, severity, since, created_at, payload)
			VALUES ($1, $2, $3, $3, '', 'info', $4, $4, $5)
			ON CONFLICT (id) DO NOTHING`, e.ID, appID, e.Type, e.At.UTC(), e.Payload)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		queued = true
		if len(e.Notifiers) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO outbox (event_id, app_id, notifier, created_at, next_attempt_at)
			SELECT $1, $2, n, $3, $3 FROM unnest($4::text[]) AS n
			ON CONFLICT (event_id, notifier) DO NOTHING`, e.ID, appID, e.At.UTC(), e.Notifiers); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify('engagelab_outbox', '')`)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("queue %s %s: %w", e.Type, e.ID, err)
	}
	return queued, nil
}

// DeadSince lists the notifications that died at or after since, oldest first.
func (s *Store) DeadSince(ctx context.Context, since time.Time) ([]OutboxRow, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT o.id, o.event_id, a.name, o.notifier, e.type, o.status, o.attempts, o.last_error, o.created_at, o.finished_at
		FROM outbox o JOIN alert_events e ON e.id = o.event_id JOIN apps a ON a.id = o.app_id
		WHERE o.status = 'dead' AND o.finished_at >= $1
		ORDER BY o.finished_at, o.id`, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("list dead notifications: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxRow, error) {
		var o OutboxRow
		err := r.Scan(&o.ID, &o.EventID, &o.App, &o.Notifier, &o.Type, &o.Status, &o.Attempts, &o.LastError, &o.CreatedAt, &o.FinishedAt)
		o.CreatedAt, o.FinishedAt = o.CreatedAt.UTC(), o.FinishedAt.UTC()
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("list dead notifications: %w", err)
	}
	return out, nil
}
