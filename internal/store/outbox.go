package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
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
	// GroupKey is set on a row that may be sent grouped with the same key's rows of other
	// apps (ClaimGroup).
	GroupKey string
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

// Recorded is the outcome of one leased row, to be written by Record.
type Recorded struct {
	ID      int64
	Outcome Outcome
	At      time.Time // when the answer came: the row's finished_at
}

// Claim asks for due rows to send. Claiming leases them: it commits at once, and the send
// happens with no transaction open (nothing waits on a receiver holding a lock or a pooled
// session, and it works behind PgBouncer in transaction mode and with a short
// idle_in_transaction_session_timeout).
type Claim struct {
	Owner string    // who leases the rows: one per delivery worker, never reused
	Now   time.Time // rows due at or before this time of the schedule's clock are claimed
	Limit int       // at most this many rows
	// Lease is how long the rows are the owner's (by the database's clock). It must outlast a
	// send; when it has run out, another owner may take a row over, the owner having crashed.
	Lease time.Duration
	// TakeOver allows taking rows whose lease ran out from another owner. A worker that
	// has itself just failed to reach the database passes false: the rows' owner was likely
	// cut off too, and may still record the answers it holds.
	TakeOver bool
	// Only, when not empty, limits the claim to rows of those events (poll-once delivers
	// what it caused and leaves the rest to the service).
	Only []string
	// Unhold counts rows that wait only to be grouped (never attempted) as due: poll-once has
	// every event of its polls at hand and need not wait for others to join them.
	Unhold bool
}

// Claim leases due rows, the oldest due first, at most one per (app, notifier): a row is
// sendable only when no older row of its (app, notifier) is pending, leased or not, so each
// (app, notifier) is delivered in order and never has two rows in flight. Rows leased by
// c.Owner are never claimed again, even once their lease ran out: the owner still holds them
// (in flight, or with an answer it could not record yet).
//
// An expired lease of another owner is taken over only when c.TakeOver is set and the
// database has been up for a whole lease: after a database restart every owner gets one lease
// to record the answers it kept meanwhile, so an answered send is not sent again.
//
// A later grouped send can claim several rows at once and record them together.
func (s *Store) Claim(ctx context.Context, c Claim) ([]Delivery, error) {
	if c.Limit <= 0 {
		return nil, nil
	}
	// One statement, so one short transaction. FOR UPDATE SKIP LOCKED keeps two claims from
	// waiting on each other, and a row leased by a claim that committed meanwhile fails the
	// lease test when Postgres re-checks it under the lock.
	rows, err := s.pool.Query(ctx, `
		WITH picked AS (
			SELECT o.id,
				EXISTS (SELECT 1 FROM outbox o3 JOIN alert_events e3 ON e3.id = o3.event_id
				        WHERE o3.app_id = o.app_id AND o3.notifier = o.notifier AND o3.id > o.id
				          AND o3.status = 'pending' AND e3.alert = e.alert) AS superseded
			FROM outbox o
			JOIN alert_events e ON e.id = o.event_id
			WHERE o.status = 'pending'
			  AND (o.next_attempt_at <= $1 OR ($7 AND o.group_key IS NOT NULL AND o.attempts = 0))
			  AND (coalesce(cardinality($2::text[]), 0) = 0 OR o.event_id = ANY($2))
			  AND (o.lease_until IS NULL
			       OR ($5 AND o.lease_owner <> $3 AND o.lease_until < now()
			           AND pg_postmaster_start_time() < now() - $4::interval))
			  AND NOT EXISTS (SELECT 1 FROM outbox o2 WHERE o2.app_id = o.app_id AND o2.notifier = o.notifier
			                  AND o2.status = 'pending' AND o2.id < o.id)
			ORDER BY o.next_attempt_at, o.id
			LIMIT $6
			FOR UPDATE OF o SKIP LOCKED
		)
		UPDATE outbox o SET lease_owner = $3, lease_until = now() + $4::interval
		FROM picked, alert_events e, apps a
		WHERE o.id = picked.id AND e.id = o.event_id AND a.id = o.app_id
		RETURNING o.id, o.event_id, a.name, o.notifier, e.alert, e.type, o.attempts, o.created_at, e.payload,
		          coalesce(o.group_key, ''), picked.superseded`,
		c.Now.UTC(), c.Only, c.Owner, c.Lease, c.TakeOver, c.Limit, c.Unhold)
	ds, err := leased(rows, err)
	if err != nil {
		return nil, fmt.Errorf("claim outbox rows: %w", err)
	}
	return ds, nil
}

// leased collects the rows a claim leased (its RETURNING list: id, event, app, notifier,
// alert, type, attempts, created_at, payload, group key, superseded), in id order.
func leased(rows pgx.Rows, err error) ([]Delivery, error) {
	if err != nil {
		return nil, err
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := r.Scan(&d.ID, &d.EventID, &d.App, &d.Notifier, &d.Alert, &d.Type, &d.Attempts, &d.CreatedAt, &d.Payload, &d.GroupKey, &d.Superseded)
		return d, err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ds, func(a, b Delivery) int { return cmp.Compare(a.ID, b.ID) })
	return ds, nil
}

// Record writes the outcomes of rows owner leased, in one short transaction, and clears their
// leases. It returns the ids it did not write because the row was no longer owner's to
// settle.
//
// A retry is written only while the lease is still owner's (expired or not, as long as no one
// took the row over): otherwise it would reschedule a row another owner is sending. A final
// answer (delivered, dead, dropped) is written to any row still pending, whoever leases it
// now: the receiver has answered, and a row that is settled is not sent again by anyone.
func (s *Store) Record(ctx context.Context, owner string, outs []Recorded) (lost []int64, err error) {
	if len(outs) == 0 {
		return nil, nil
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, r := range outs {
			attempted := 1
			if r.Outcome.Status == Dropped || r.Outcome.Unsent {
				attempted = 0
			}
			switch r.Outcome.Status {
			case Retry:
				b.Queue(`UPDATE outbox SET attempts = attempts + $4, next_attempt_at = $2, last_error = $3,
						lease_owner = NULL, lease_until = NULL
					WHERE id = $1 AND status = 'pending' AND lease_owner = $5`,
					r.ID, r.Outcome.NextAttempt.UTC(), r.Outcome.Error, attempted, owner)
			case Delivered, Dead, Dropped:
				b.Queue(`UPDATE outbox SET status = $2, attempts = attempts + $3, finished_at = $4, last_error = $5,
						lease_owner = NULL, lease_until = NULL
					WHERE id = $1 AND status = 'pending'`,
					r.ID, string(r.Outcome.Status), attempted, r.At.UTC(), r.Outcome.Error)
			default:
				return fmt.Errorf("unknown outcome %q", r.Outcome.Status)
			}
		}
		res := tx.SendBatch(ctx, b)
		for _, r := range outs {
			tag, err := res.Exec()
			if err != nil {
				res.Close()
				return err
			}
			if tag.RowsAffected() == 0 {
				lost = append(lost, r.ID)
			}
		}
		return res.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("record delivery: %w", err)
	}
	return lost, nil
}

// NextDue returns when the next row owner could claim becomes due, or zero when none is
// pending. Rows queued behind an older pending row of their (app, notifier) do not count:
// they are due in the past but cannot be sent, and counting them would make an idle worker
// spin through the whole backoff of the row ahead of them. Rows owner leases do not count
// either (their sends wake the worker when they end), and a row another owner leases counts
// from when its lease runs out.
func (s *Store) NextDue(ctx context.Context, owner string) (time.Time, error) {
	var t *time.Time
	if err := s.pool.QueryRow(ctx, `
		SELECT min(CASE WHEN o.lease_until IS NULL THEN o.next_attempt_at
		                ELSE greatest(o.next_attempt_at, o.lease_until) END)
		FROM outbox o
		WHERE o.status = 'pending' AND o.lease_owner IS DISTINCT FROM $1
		  AND NOT EXISTS (SELECT 1 FROM outbox o2 WHERE o2.app_id = o.app_id AND o2.notifier = o.notifier
		                  AND o2.status = 'pending' AND o2.id < o.id)`, owner).Scan(&t); err != nil {
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

// GroupClaim asks for the rows that may join a grouped send: the same notifier and group key,
// queued within a window around the rows already claimed.
type GroupClaim struct {
	Owner    string
	Notifier string
	Key      string
	From, To time.Time // queued (created_at) within
	Claimed  []int64   // the rows already claimed for this group, left out
	Need     int       // lease nothing unless at least this many rows can join
	Lease    time.Duration
}

// ClaimGroup leases, all or nothing, the pending rows of g's notifier and key queued between
// From and To, whether or not they are due yet (they wait only to be grouped), as long as at
// least Need of them can be had. A row joins only when it is the oldest pending row of its
// (app, notifier) and no one leases it, so order per (app, notifier) holds as in Claim.
func (s *Store) ClaimGroup(ctx context.Context, g GroupClaim) ([]Delivery, error) {
	rows, err := s.pool.Query(ctx, `
		WITH candidates AS (
			SELECT o.id FROM outbox o
			WHERE o.status = 'pending' AND o.notifier = $1 AND o.group_key = $2
			  AND o.created_at BETWEEN $3 AND $4 AND o.lease_until IS NULL AND o.id <> ALL(coalesce($5::bigint[], '{}'))
			  AND NOT EXISTS (SELECT 1 FROM outbox o2 WHERE o2.app_id = o.app_id AND o2.notifier = o.notifier
			                  AND o2.status = 'pending' AND o2.id < o.id)
			ORDER BY o.id
			FOR UPDATE OF o SKIP LOCKED
		), enough AS (
			SELECT count(*) >= $6 AS ok FROM candidates
		)
		UPDATE outbox o SET lease_owner = $7, lease_until = now() + $8::interval
		FROM candidates, enough, alert_events e, apps a
		WHERE enough.ok AND o.id = candidates.id AND e.id = o.event_id AND a.id = o.app_id
		RETURNING o.id, o.event_id, a.name, o.notifier, e.alert, e.type, o.attempts, o.created_at, e.payload, o.group_key, false`,
		g.Notifier, g.Key, g.From.UTC(), g.To.UTC(), g.Claimed, g.Need, g.Owner, g.Lease)
	ds, err := leased(rows, err)
	if err != nil {
		return nil, fmt.Errorf("claim a group of outbox rows: %w", err)
	}
	return ds, nil
}
