package store

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/spend"
)

// Group commit: polls that finish while others are being written are written together, in
// one transaction that locks every app's state row (in app_id order, so two groups never
// deadlock), reads each app's state, alerts, flaps and spend history with set-based
// statements, runs each app's unit of work in turn, and writes their snapshots, ledger
// entries and state rows with one statement each. A poll then costs the database a share of
// a dozen statements instead of a dozen of its own. Each app is still evaluated under its own
// row lock and its writes commit together with it; a group whose writes fail is undone and
// each of its units run again alone, so one bad app cannot lose the others' polls.

// maxGroup is the most units written in one transaction. One group is written at a time:
// while it is, the polls finishing meanwhile gather for the next (two groups in flight
// measured as twice the database's CPU per poll for a few per cent of wall time).
const maxGroup = 64

// groupLockWait bounds how long a group (and each poll of a group that failed, written alone)
// waits for a state row another transaction holds. One app's row held elsewhere must not
// hold up the polls of the others behind it: the group fails, its polls are written alone,
// and only that app's poll, if its row is still held, is not stored (its next poll is).
var groupLockWait = 5 * time.Second // a variable for tests

// unit is one app's unit of work waiting for, or done by, a group.
type unit struct {
	appID  int64
	spendQ *SpendQuery // read ahead with the lock, when the unit will ask for it
	fn     func(context.Context, *AppTx) error
	err    error

	taken bool          // a leader has put it in a group (under committer.mu)
	done  chan struct{} // closed when its group is over
}

// committer gathers grouped units, first come first written. It has no goroutine of its
// own: a waiting caller that finds no group being written writes the next one, of the units
// at the head of the queue (its own or not) and goes on until its own is written.
type committer struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*unit
	leading bool
	groups  int64 // groups written, and the units in them (GroupStats)
	units   int64
}

// WithAppLockGrouped is WithAppLock for a poll's result: it shares its transaction with
// other polls finishing at the same time (group commit). spendQ, when not nil, is the spend
// read fn will ask for first (AppTx.SpendInputs), read ahead for the whole group with the
// locks. fn may be run more than once.
func (s *Store) WithAppLockGrouped(ctx context.Context, appID int64, spendQ *SpendQuery, fn func(context.Context, *AppTx) error) error {
	if spendQ != nil {
		q := *spendQ
		q.AppID = appID
		spendQ = &q
	}
	u := &unit{appID: appID, spendQ: spendQ, fn: fn, done: make(chan struct{})}
	c := &s.group
	c.mu.Lock()
	if c.cond == nil {
		c.cond = sync.NewCond(&c.mu)
	}
	c.queue = append(c.queue, u)
	for !u.taken {
		if c.leading {
			c.cond.Wait()
			continue
		}
		c.leading = true
		g := c.take()
		c.groups, c.units = c.groups+1, c.units+int64(len(g))
		c.mu.Unlock()
		s.lead(ctx, g)
		c.mu.Lock()
	}
	c.mu.Unlock()
	<-u.done
	return u.result()
}

// lead writes g and hands the lead on, whatever happens to it.
func (s *Store) lead(ctx context.Context, g []*unit) {
	c := &s.group
	defer func() {
		for _, x := range g {
			close(x.done)
		}
		c.mu.Lock()
		c.leading = false
		c.cond.Broadcast()
		c.mu.Unlock()
	}()
	s.runGroupOrAlone(ctx, g)
}

// GroupStats returns how many groups WithAppLockGrouped has written and how many units they
// held, and how many units wait for a group now (for tests and diagnostics).
func (s *Store) GroupStats() (groups, units int64, waiting int) {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return s.group.groups, s.group.units, len(s.group.queue)
}

func (u *unit) result() error {
	if u.err != nil {
		return fmt.Errorf("store: %w", u.err)
	}
	return nil
}

// take removes up to maxGroup units of distinct apps from the head of the queue. An app's
// later poll stays for a later group, behind its earlier one: one unit per app and
// transaction, in the order they came.
func (c *committer) take() []*unit {
	var g []*unit
	apps := map[int64]bool{}
	rest := c.queue[:0]
	for _, x := range c.queue {
		if len(g) < maxGroup && !apps[x.appID] {
			x.taken = true
			apps[x.appID] = true
			g = append(g, x)
			continue
		}
		rest = append(rest, x)
	}
	clear(c.queue[len(rest):])
	c.queue = rest
	return g
}

// runGroupOrAlone runs g in one transaction; if the database refused it (nothing committed),
// each unit alone. The group is its units' work, not its leader's: it runs under a deadline of
// its own, not the context of the poll that happened to lead it, and so does each retry.
func (s *Store) runGroupOrAlone(ctx context.Context, g []*unit) {
	run := func(units []*unit) error {
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
		defer cancel()
		return s.runGroup(gctx, units, groupLockWait)
	}
	err := run(g)
	if err == nil {
		return
	}
	var unsure *unsureError
	if len(g) == 1 || errors.As(err, &unsure) {
		// Alone already, or the writes may have committed (the connection broke after they
		// were sent): a retry could store them twice.
		for _, u := range g {
			u.err = err
		}
		return
	}
	s.logger.Warn("a group of polls could not be written together; writing each alone", "apps", len(g), "error", err)
	for _, u := range g {
		u.err = nil
		if err := run([]*unit{u}); err != nil {
			u.err = err
		}
	}
}

// groupTimeout bounds one group's transaction (and each retry of one of its units).
const groupTimeout = 30 * time.Second

// unsureError is a failure to write a group after its writes and COMMIT went out without the
// server refusing them (a broken connection): they may have committed.
type unsureError struct{ err error }

func (e *unsureError) Error() string { return e.err.Error() }
func (e *unsureError) Unwrap() error { return e.err }

// runGroup runs units (of distinct apps) in one transaction. An error is the transaction's
// (nothing committed); a unit's own failure is its err, and only its writes are left out.
// lockWait, when not 0, bounds the wait for the apps' row locks.
func (s *Store) runGroup(ctx context.Context, units []*unit, lockWait time.Duration) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A transaction that fails is left open (or aborted): Release then closes the connection
	// rather than pooling it, which ends the transaction and its locks.
	defer conn.Release()
	ids := make([]int64, len(units))
	txs := make(map[int64]*AppTx, len(units))
	var qs []SpendQuery
	var asked []*AppTx
	for i, u := range units {
		ids[i] = u.appID
		t := &AppTx{tx: conn, appID: u.appID, spendQ: u.spendQ}
		txs[u.appID] = t
		if u.spendQ != nil {
			qs, asked = append(qs, *u.spendQ), append(asked, t)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	if lockWait > 0 {
		b.Queue(fmt.Sprintf(`SET LOCAL lock_timeout = %d`, lockWait.Milliseconds()))
	}
	queueLock(b, ids, txs)
	if lockWait > 0 {
		// Only the row locks: the writes wait as long as they need (for example for a
		// partition being made).
		b.Queue(`RESET lock_timeout`)
	}
	// Read after the locks are held (the statements of a batch run in order, each seeing
	// what was committed before it began), so these see the last writer's commit.
	pre := make([]spend.Inputs, len(qs))
	if len(qs) > 0 {
		queueSpendMany(b, qs, pre)
	}
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("lock app state: %w", err)
	}
	if len(qs) > 0 {
		if err := openingSnapshots(ctx, conn, pre, spendAppIDs(qs)); err != nil {
			return err
		}
		for i, t := range asked {
			t.spendPre = &pre[i]
		}
	}
	var ok []*AppTx
	for _, u := range units {
		t := txs[u.appID]
		if !t.found {
			u.err = fmt.Errorf("app %d has no state row: %w", u.appID, ErrNotFound)
			continue
		}
		if u.err = runUnit(ctx, u, t); u.err == nil {
			ok = append(ok, t)
		}
	}
	if conn.Conn().PgConn().TxStatus() == 'E' {
		// A unit's read failed on the server and aborted the transaction for every unit after
		// it: nothing is written (COMMIT would answer ROLLBACK without an error).
		return fmt.Errorf("a read aborted the transaction of %d apps: %w", len(units), firstErr(units))
	}
	if err := flush(ctx, conn, ok); err != nil {
		var refused *pgconn.PgError
		if errors.As(err, &refused) {
			return err // the server refused a statement: the transaction did not commit
		}
		return &unsureError{err}
	}
	return nil
}

func firstErr(units []*unit) error {
	for _, u := range units {
		if u.err != nil {
			return u.err
		}
	}
	return errors.New("no unit says why")
}

func runUnit(ctx context.Context, u *unit, t *AppTx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unit of work for app %d panicked: %v\n%s", u.appID, r, debug.Stack())
		}
	}()
	return u.fn(ctx, t)
}

// queueLock queues the reads that take the apps' locks and load what an AppTx starts with.
func queueLock(b *pgx.Batch, ids []int64, txs map[int64]*AppTx) {
	b.Queue(`
		SELECT s.app_id, s.consecutive_failures, s.last_success_at, s.silenced_until, s.silence_reason, s.last_polled_at,
			s.latest_polled_at, s.latest_currency, s.latest_balance, s.latest_gift_balance, s.latest_total_balance
		FROM app_state s
		WHERE s.app_id = ANY($1) ORDER BY s.app_id FOR UPDATE OF s`, ids).Query(func(rows pgx.Rows) error {
		var id int64
		var failures int
		var reason string
		var lastSuccess, silencedUntil, lastPolled, polledAt *time.Time
		var currency *string
		var bal, gift, total pgxdecimal.NullDecimal // from binary digits, as exact() does
		_, err := pgx.ForEachRow(rows, []any{&id, &failures, &lastSuccess, &silencedUntil, &reason, &lastPolled,
			&polledAt, &currency, &bal, &gift, &total}, func() error {
			t := txs[id]
			t.found = true
			st := &t.state
			st.Alerts.ConsecutiveFailures, st.SilenceReason = failures, reason
			st.Alerts.LastSuccessAt, st.Alerts.SilencedUntil, st.LastPolledAt = deref(lastSuccess), deref(silencedUntil), deref(lastPolled)
			if polledAt != nil {
				t.latest = &balance.Snapshot{PolledAt: polledAt.UTC(), Currency: *currency,
					Balance: bal.Decimal, GiftBalance: gift.Decimal, TotalBalance: total.Decimal}
			}
			return nil
		})
		return err
	})
	b.Queue(`SELECT app_id, alert, rule, severity, since, level_since, last_sent_at, sent_rule, sent_severity
		FROM alert_state WHERE app_id = ANY($1)`, ids).Query(func(rows pgx.Rows) error {
		var id int64
		var kind, sev, sentSev string
		var a alert.AlertState
		_, err := pgx.ForEachRow(rows, []any{&id, &kind, &a.Level.Rule, &sev, &a.Since, &a.LevelSince, &a.LastSentAt, &a.Sent.Rule, &sentSev}, func() error {
			a.Level.Severity, a.Sent.Severity = alert.Severity(sev), alert.Severity(sentSev)
			txs[id].state.Alerts.Set(alert.Kind(kind), a)
			return nil
		})
		return err
	})
	for _, t := range txs {
		t.flaps = alert.Flaps{}
	}
	b.Queue(`SELECT app_id, alert, changes, flapping_since, rule, severity, since FROM alert_flaps WHERE app_id = ANY($1)`, ids).
		Query(func(rows pgx.Rows) error {
			var id int64
			var kind, rule, sev string
			var changes []time.Time
			var flapping, since *time.Time
			_, err := pgx.ForEachRow(rows, []any{&id, &kind, &changes, &flapping, &rule, &sev, &since}, func() error {
				f := alert.Flap{FlappingSince: deref(flapping), Level: alert.Level{Rule: rule, Severity: alert.Severity(sev)}, Since: deref(since)}
				for _, c := range changes {
					f.Changes = append(f.Changes, c.UTC())
				}
				txs[id].flaps[alert.Kind(kind)] = f
				return nil
			})
			return err
		})
}

// flush sends the writes of txs and the COMMIT in one round trip: snapshots (with their
// hourly roll-ups) and ledger entries set-based, in waves of one per app (an upsert may not
// touch a row twice), each app's other statements, then the app_state rows set-based.
func flush(ctx context.Context, conn *pgxpool.Conn, txs []*AppTx) error {
	b := &pgx.Batch{}
	for wave := 0; ; wave++ {
		var snaps []*AppTx
		for _, t := range txs {
			if wave < len(t.snaps) {
				snaps = append(snaps, t)
			}
		}
		if len(snaps) == 0 {
			break
		}
		queueSnapshots(b, snaps, wave)
	}
	queued := false
	for _, t := range txs {
		b.QueuedQueries = append(b.QueuedQueries, t.writes.QueuedQueries...)
		queued = queued || t.queued
	}
	for wave := 0; ; wave++ {
		var books []*AppTx
		for _, t := range txs {
			if wave < len(t.books) {
				books = append(books, t)
			}
		}
		if len(books) == 0 {
			break
		}
		queueLedger(b, books, wave)
	}
	queueStates(b, txs)
	if queued {
		// Wakes delivery workers (of every replica) at commit, without waiting for their next poll.
		b.Queue(`SELECT pg_notify('engagelab_outbox', '')`)
	}
	// A timer tick that changed nothing writes nothing: the COMMIT goes alone.
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		if len(txs) == 1 {
			return fmt.Errorf("write app %d: %w", txs[0].appID, err)
		}
		return fmt.Errorf("write %d apps: %w", len(txs), err)
	}
	return nil
}

func queueSnapshots(b *pgx.Batch, txs []*AppTx, wave int) {
	n := len(txs)
	ids, at, cur := make([]int64, n), make([]time.Time, n), make([]string, n)
	bal, gift, total := make([]string, n), make([]string, n), make([]string, n)
	for i, t := range txs {
		s := t.snaps[wave]
		ids[i], at[i], cur[i] = t.appID, s.PolledAt.UTC(), s.Currency
		bal[i], gift[i], total[i] = s.Balance.String(), s.GiftBalance.String(), s.TotalBalance.String()
	}
	b.Queue(`
		WITH s AS (
			SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::numeric[], $5::numeric[], $6::numeric[])
				AS s(app_id, polled_at, currency, balance, gift_balance, total_balance)
		), ins AS (
			INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
			SELECT app_id, polled_at, currency, balance, gift_balance, total_balance FROM s
		)
		INSERT INTO balance_rollups_1h AS r (app_id, bucket, first_at, last_at,
			first_balance, last_balance, min_balance, max_balance,
			first_total, last_total, min_total, max_total, snapshots)
		SELECT app_id, date_trunc('hour', polled_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', polled_at, polled_at,
			balance, balance, balance, balance, total_balance, total_balance, total_balance, total_balance, 1
		FROM s
		ON CONFLICT (app_id, bucket) DO UPDATE SET
			first_balance = CASE WHEN excluded.first_at < r.first_at THEN excluded.first_balance ELSE r.first_balance END,
			first_total   = CASE WHEN excluded.first_at < r.first_at THEN excluded.first_total ELSE r.first_total END,
			last_balance  = CASE WHEN excluded.last_at >= r.last_at THEN excluded.last_balance ELSE r.last_balance END,
			last_total    = CASE WHEN excluded.last_at >= r.last_at THEN excluded.last_total ELSE r.last_total END,
			first_at      = LEAST(r.first_at, excluded.first_at),
			last_at       = GREATEST(r.last_at, excluded.last_at),
			min_balance   = LEAST(r.min_balance, excluded.min_balance),
			max_balance   = GREATEST(r.max_balance, excluded.max_balance),
			min_total     = LEAST(r.min_total, excluded.min_total),
			max_total     = GREATEST(r.max_total, excluded.max_total),
			snapshots     = r.snapshots + 1`,
		ids, at, cur, bal, gift, total)
}

// queueLedger books the wave-th ledger entry of each of txs in the hourly spend ledger; the
// app_state totals and latest top-up follow in queueStates.
func queueLedger(b *pgx.Batch, txs []*AppTx, wave int) {
	n := len(txs)
	ids, at := make([]int64, n), make([]time.Time, n)
	opening, closing, spent, topped, expired := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, t := range txs {
		e := t.books[wave]
		ids[i], at[i] = t.appID, e.At.UTC()
		opening[i], closing[i] = e.Opening.String(), e.Closing.String()
		spent[i], topped[i], expired[i] = e.Delta.Spent.String(), e.Delta.ToppedUp.String(), e.Delta.GiftExpired.String()
	}
	b.Queue(`
		INSERT INTO spend_ledger_1h AS l (app_id, bucket, first_at, last_at, first_total, last_total, spent, topped_up, gift_expired)
		SELECT app_id, date_trunc('hour', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', at, at, opening, closing, spent, topped_up, gift_expired
		FROM unnest($1::bigint[], $2::timestamptz[], $3::numeric[], $4::numeric[], $5::numeric[], $6::numeric[], $7::numeric[])
			AS e(app_id, at, opening, closing, spent, topped_up, gift_expired)
		ON CONFLICT (app_id, bucket) DO UPDATE SET
			last_at = excluded.last_at, last_total = excluded.last_total,
			spent = l.spent + excluded.spent, topped_up = l.topped_up + excluded.topped_up,
			gift_expired = l.gift_expired + excluded.gift_expired`,
		ids, at, opening, closing, spent, topped, expired)
}

// queueStates writes the app_state row of each of txs that changed: its alert counters and
// silence, the newest evaluated poll, and the ledger's running totals and latest top-up.
func queueStates(b *pgx.Batch, txs []*AppTx) {
	var ids []int64
	var failures []int32
	var lastSuccess, silencedUntil, polledAt, topupAt []*time.Time
	var reasons []string
	var lastFailure []*string
	var spent, topped, expired, topupAmount []string
	for _, t := range txs {
		if !t.dirty && t.polled == nil && len(t.books) == 0 {
			continue
		}
		st := t.state.Alerts
		ids = append(ids, t.appID)
		failures = append(failures, int32(st.ConsecutiveFailures))
		lastSuccess, silencedUntil = append(lastSuccess, nullTime(st.LastSuccessAt)), append(silencedUntil, nullTime(st.SilencedUntil))
		reasons = append(reasons, t.state.SilenceReason)
		var at *time.Time
		var fail *string
		if t.polled != nil {
			at = &t.polled.at
			if t.polled.failure != nil {
				f := string(t.polled.failure)
				fail = &f
			}
		}
		polledAt, lastFailure = append(polledAt, at), append(lastFailure, fail)
		sp, tu, ex := decimal.Zero, decimal.Zero, decimal.Zero
		var lastTopup *time.Time
		last := "0"
		for _, e := range t.books {
			sp, tu, ex = sp.Add(e.Delta.Spent), tu.Add(e.Delta.ToppedUp), ex.Add(e.Delta.GiftExpired)
			if e.Delta.ToppedUp.IsPositive() {
				a := e.At.UTC()
				lastTopup, last = &a, e.Delta.ToppedUp.String()
			}
		}
		spent, topped, expired = append(spent, sp.String()), append(topped, tu.String()), append(expired, ex.String())
		topupAt, topupAmount = append(topupAt, lastTopup), append(topupAmount, last)
	}
	if len(ids) == 0 {
		return
	}
	b.Queue(`
		UPDATE app_state s SET consecutive_failures = u.failures, last_success_at = u.last_success,
			silenced_until = u.silenced_until, silence_reason = u.reason,
			last_polled_at = CASE WHEN u.polled_at IS NULL THEN s.last_polled_at ELSE u.polled_at END,
			last_failure = CASE WHEN u.polled_at IS NULL THEN s.last_failure ELSE u.failure::jsonb END,
			spent_total = s.spent_total + u.spent, topped_up_total = s.topped_up_total + u.topped_up,
			gift_expired_total = s.gift_expired_total + u.gift_expired,
			last_topup_at = CASE WHEN u.topup_at IS NULL THEN s.last_topup_at ELSE u.topup_at END,
			last_topup_amount = CASE WHEN u.topup_at IS NULL THEN s.last_topup_amount ELSE u.topup_amount END,
			updated_at = now()
		FROM unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::timestamptz[], $7::text[],
		            $8::numeric[], $9::numeric[], $10::numeric[], $11::timestamptz[], $12::numeric[])
			AS u(app_id, failures, last_success, silenced_until, reason, polled_at, failure,
			     spent, topped_up, gift_expired, topup_at, topup_amount)
		WHERE s.app_id = u.app_id`,
		ids, failures, lastSuccess, silencedUntil, reasons, polledAt, lastFailure, spent, topped, expired, topupAt, topupAmount)
}
