package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Delivery is one outbox row claimed for sending.
type Delivery struct {
	ID        int64
	EventID   string
	App       string
	Notifier  string
	Alert     string
	Type      string
	Attempts  int // attempts made before this one
	CreatedAt time.Time
	Payload   []byte
	// Superseded is true when a newer event of the same alert waits behind this row for the
	// same notifier: a reminder in that position may be dropped.
	Superseded bool
}

// OutcomeStatus is what became of one delivery attempt.
type OutcomeStatus string

const (
	Delivered OutcomeStatus = "delivered"
	Retry     OutcomeStatus = "retry"   // stays pending until NextAttempt
	Dead      OutcomeStatus = "dead"    // permanent refusal or too old: never sent
	Dropped   OutcomeStatus = "dropped" // a superseded reminder
)

// Outcome is the result of one attempt, written back to the row.
type Outcome struct {
	Status      OutcomeStatus
	NextAttempt time.Time // for Retry
	Error       string    // last error, never containing a secret
	// Unsent is true when the row was settled without a request (too old, notifier gone,
	// unreadable event): attempts counts requests made, so it stays as it was.
	Unsent bool
}

// DeliverOne claims the oldest due pending row whose (app, notifier) has no older pending row,
// calls send while holding the row's lock, and records the outcome. Rows locked by another
// worker are skipped, and so are the rows queued behind them, so two workers never send the
// same row and each (app, notifier) is delivered in order. It reports whether a row was found.
//
// only, when not empty, limits the claim to rows of those events (poll-once delivers what it
// caused and leaves the rest to the service).
func (s *Store) DeliverOne(ctx context.Context, now time.Time, only []string, send func(context.Context, Delivery) Outcome) (bool, error) {
	found := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var d Delivery
		err := tx.QueryRow(ctx, `
			SELECT o.id, o.event_id, a.name, o.notifier, e.alert, e.type, o.attempts, o.created_at, e.payload,
				EXISTS (SELECT 1 FROM outbox o3 JOIN alert_events e3 ON e3.id = o3.event_id
				        WHERE o3.app_id = o.app_id AND o3.notifier = o.notifier AND o3.id > o.id
				          AND o3.status = 'pending' AND e3.alert = e.alert)
			FROM outbox o
			JOIN alert_events e ON e.id = o.event_id
			JOIN apps a ON a.id = o.app_id
			WHERE o.status = 'pending' AND o.next_attempt_at <= $1
			  AND (coalesce(cardinality($2::text[]), 0) = 0 OR o.event_id = ANY($2))
			  AND NOT EXISTS (SELECT 1 FROM outbox o2 WHERE o2.app_id = o.app_id AND o2.notifier = o.notifier
			                  AND o2.status = 'pending' AND o2.id < o.id)
			ORDER BY o.next_attempt_at, o.id
			LIMIT 1
			FOR UPDATE OF o SKIP LOCKED`, now.UTC(), only).
			Scan(&d.ID, &d.EventID, &d.App, &d.Notifier, &d.Alert, &d.Type, &d.Attempts, &d.CreatedAt, &d.Payload, &d.Superseded)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim outbox row: %w", err)
		}
		found = true
		out := send(ctx, d)
		attempted := 1
		if out.Status == Dropped || out.Unsent {
			attempted = 0
		}
		switch out.Status {
		case Retry:
			_, err = tx.Exec(ctx, `UPDATE outbox SET attempts = attempts + $4, next_attempt_at = $2, last_error = $3 WHERE id = $1`,
				d.ID, out.NextAttempt.UTC(), out.Error, attempted)
		case Delivered, Dead, Dropped:
			_, err = tx.Exec(ctx, `UPDATE outbox SET status = $2, attempts = attempts + $3, finished_at = $4, last_error = $5 WHERE id = $1`,
				d.ID, string(out.Status), attempted, now.UTC(), out.Error)
		default:
			err = fmt.Errorf("unknown outcome %q", out.Status)
		}
		if err != nil {
			return fmt.Errorf("record delivery: %w", err)
		}
		return nil
	})
	// A context cancelled mid-send rolls back: the row stays pending and is sent again later.
	return found, err
}

// NextDue returns when the next sendable row becomes due, or zero when none is pending. Rows
// queued behind an older pending row of their (app, notifier) do not count: they are due in
// the past but cannot be sent, and counting them would make an idle worker spin through the
// whole backoff of the row ahead of them.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var t *time.Time
	if err := s.pool.QueryRow(ctx, `
		SELECT min(o.next_attempt_at) FROM outbox o
		WHERE o.status = 'pending'
		  AND NOT EXISTS (SELECT 1 FROM outbox o2 WHERE o2.app_id = o.app_id AND o2.notifier = o.notifier
		                  AND o2.status = 'pending' AND o2.id < o.id)`).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("read outbox: %w", err)
	}
	return deref(t), nil
}

// OutboxStats is what the outbox gauges show.
type OutboxStats struct {
	Pending       int
	OldestPending time.Time // zero when nothing is pending
}

// OutboxStats counts pending rows.
func (s *Store) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	var oldest *time.Time
	err := s.pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM outbox WHERE status = 'pending'`).Scan(&st.Pending, &oldest)
	st.OldestPending = deref(oldest)
	if err != nil {
		return st, fmt.Errorf("read outbox: %w", err)
	}
	return st, nil
}

// OutboxRow describes one notification for listings and tests.
type OutboxRow struct {
	ID         int64
	EventID    string
	App        string
	Notifier   string
	Type       string
	Status     string
	Attempts   int
	LastError  string
	CreatedAt  time.Time
	FinishedAt time.Time
}

// PendingOf returns how many of the given events' rows are still pending.
func (s *Store) PendingOf(ctx context.Context, eventIDs []string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE status = 'pending' AND event_id = ANY($1)`, eventIDs).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	return n, nil
}

// Notifications lists outbox rows, newest first; eventIDs limits them when not empty.
func (s *Store) Notifications(ctx context.Context, eventIDs []string, limit int) ([]OutboxRow, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT o.id, o.event_id, a.name, o.notifier, e.type, o.status, o.attempts, o.last_error, o.created_at,
			coalesce(o.finished_at, 'epoch'::timestamptz)
		FROM outbox o JOIN alert_events e ON e.id = o.event_id JOIN apps a ON a.id = o.app_id
		WHERE (coalesce(cardinality($1::text[]), 0) = 0 OR o.event_id = ANY($1))
		ORDER BY o.id DESC LIMIT $2`, eventIDs, limit)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxRow, error) {
		var o OutboxRow
		err := r.Scan(&o.ID, &o.EventID, &o.App, &o.Notifier, &o.Type, &o.Status, &o.Attempts, &o.LastError, &o.CreatedAt, &o.FinishedAt)
		if o.FinishedAt.Unix() == 0 {
			o.FinishedAt = time.Time{}
		}
		return o, err
	})
}

// ListenOutbox calls wake whenever any process queues notifications (Apply sends a NOTIFY in
// the same transaction), so rows queued by poll-once, a silence or another replica go out at
// once rather than at the worker's next poll. It holds one connection of its own, reconnects
// after errors, and returns when ctx ends.
func (s *Store) ListenOutbox(ctx context.Context, wake func()) {
	wait := time.Second
	for ctx.Err() == nil {
		start := time.Now()
		err := s.listen(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			wait = time.Second // it was working: retry promptly
		}
		if wait == time.Second {
			s.logger.Warn("outbox listener lost its connection; reconnecting", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (s *Store) listen(ctx context.Context, wake func()) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A listening connection must not go back to the pool: close it instead.
	conn := pc.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN engagelab_outbox`); err != nil {
		return err
	}
	wake() // rows may have been queued while we were not listening
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}
