package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/spend"
)

// AppState is an app's remembered state: its alerts, its silence and when it was last polled.
type AppState struct {
	Alerts        alert.State
	SilenceReason string
	LastPolledAt  time.Time // the newest poll evaluated; an older one arriving later is overtaken
}

// EventRecord is one event of an app and the notifiers it must reach.
type EventRecord struct {
	ID        string
	Alert     alert.Kind
	Type      alert.EventType
	Rule      string
	Severity  alert.Severity
	Since     time.Time
	At        time.Time
	Silenced  bool
	Payload   []byte   // the rendered JSON body sent to webhooks
	Notifiers []string // one outbox row each
	// Grouped are those of Notifiers whose row waits GroupWait for the same GroupKey on
	// other apps, to be sent as one message with them (grouped outages).
	Grouped   []string
	GroupKey  string
	GroupWait time.Duration
}

// AppTx is a unit of work on one app, under the lock of its state row. Its writes are sent
// together just before commit (with those of the other apps of its group, see group.go);
// reads see the database as it was when the lock was taken (and SpendInputs the snapshot
// being written, too). Everything done through it commits together when the function given
// to WithAppLock returns nil, or not at all.
type AppTx struct {
	tx     txConn // a pooled connection inside the transaction that holds the lock
	appID  int64
	state  AppState
	flaps  alert.Flaps       // the alerts' flap histories, read with the lock
	latest *balance.Snapshot // the newest stored snapshot, read with the lock
	queued bool              // an outbox row was written: wake the delivery workers at commit

	// Writes wait to be sent once, with those of the other apps of the group and the COMMIT.
	// The common ones (snapshots, ledger entries, the app_state row) are kept as rows and
	// written by one set-based statement each for the whole group; the rare ones (events,
	// alert state, failures) as statements. Their errors surface at the end.
	writes   pgx.Batch
	snaps    []balance.Snapshot
	books    []LedgerEntry
	inserted *balance.Snapshot // the snapshot this unit of work stores, when it is the newest
	dirty    bool              // the app_state row changed
	polled   *pollMark         // the newest evaluated poll, when this unit of work made one

	found    bool          // the app's state row was there to lock
	spendQ   *SpendQuery   // what was read ahead of fn with the locks, when asked
	spendPre *spend.Inputs // its answer
}

type pollMark struct {
	at      time.Time
	failure []byte // JSON, nil for a success
}

// WithAppLock runs fn in a transaction that holds app's state row lock, so evaluations of one
// app never interleave, across processes too. fn may be run again if the transaction has to
// be retried, so it must not have effects outside the AppTx.
//
// BEGIN goes out with the first reads and COMMIT with the writes, so a unit of work costs two
// round trips (lock and read, writes and commit) plus one per read fn makes.
func (s *Store) WithAppLock(ctx context.Context, appID int64, fn func(context.Context, *AppTx) error) error {
	u := &unit{appID: appID, fn: fn}
	if err := s.runGroup(ctx, []*unit{u}, 0); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if u.err != nil {
		return fmt.Errorf("store: %w", u.err)
	}
	return nil
}

// txConn is what an AppTx reads and writes through.
type txConn interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// State is the app's state as read under the lock.
func (t *AppTx) State() AppState { return t.state }

// InsertSnapshot stores a successful poll and folds it into its hourly roll-up. Amounts that
// NUMERIC(20,4) would round or refuse are an error: money is stored exactly or not at all.
func (t *AppTx) InsertSnapshot(_ context.Context, snap balance.Snapshot) error {
	for _, d := range []decimal.Decimal{snap.Balance, snap.GiftBalance, snap.TotalBalance} {
		if err := balance.CheckAmount(d); err != nil {
			return err
		}
	}
	t.snaps = append(t.snaps, snap)
	if t.latest == nil || !snap.PolledAt.Before(t.latest.PolledAt) {
		s := snap
		t.latest, t.inserted = &s, &s
	}
	return nil
}

// LedgerEntry is one change of an app's money between two consecutive snapshots, booked in
// the UTC hour of At (the later snapshot). Opening is the total before it, Closing after it.
type LedgerEntry struct {
	At               time.Time
	Opening, Closing decimal.Decimal
	Delta            spend.Delta
}

// Book adds an entry to the hourly spend ledger and remembers a top-up as the app's latest.
// Entries must be booked in time order: the evaluator books only snapshots newer than every
// one before, so the ledger is one unbroken chain of totals.
func (t *AppTx) Book(_ context.Context, e LedgerEntry) error {
	t.books = append(t.books, e)
	return nil
}

// SpendInputs reads what spend.Compute needs as of now: the trailing week of the ledger and
// the trailing window of snapshots.
func (t *AppTx) SpendInputs(ctx context.Context, now time.Time, window time.Duration, day time.Time) (spend.Inputs, error) {
	var in spend.Inputs
	var err error
	if q := t.spendQ; q != nil && t.spendPre != nil && q.Now.Equal(now) && q.Window == window && q.Day.Equal(day) {
		in, t.spendPre = *t.spendPre, nil // read ahead with the lock; taken once
	} else {
		in, err = spendInputs(ctx, t.tx, t.appID, now, window, day)
	}
	if err != nil || t.inserted == nil {
		return in, err
	}
	// The snapshot of this unit of work is not written yet: count it as if it were.
	sn := *t.inserted
	sn.PolledAt = sn.PolledAt.UTC()
	if n := len(in.Recent); (n == 0 || sn.PolledAt.After(in.Recent[n-1].PolledAt)) && !sn.PolledAt.After(now.UTC()) {
		in.Recent = append(in.Recent, sn)
	}
	if in.FirstAt.IsZero() || sn.PolledAt.Before(in.FirstAt) {
		in.FirstAt = sn.PolledAt
	}
	return in, nil
}

// RecordFailure stores a failed poll. A run of identical failures since the last success is
// one row with a count; separate keeps it a row of its own (an overtaken poll, older than
// what is recorded, must leave the newest run intact).
func (t *AppTx) RecordFailure(_ context.Context, f balance.Failure, separate bool) error {
	t.writes.Queue(`
		WITH run AS (
			UPDATE poll_failures SET last_at = $2, polls = polls + 1
			WHERE NOT $8 AND id = (SELECT id FROM poll_failures WHERE app_id = $1 ORDER BY last_at DESC, id DESC LIMIT 1)
			  AND kind = $3 AND http_status = $4 AND code = $5 AND message = $6 AND last_at >= $7
			RETURNING id
		)
		INSERT INTO poll_failures (app_id, first_at, last_at, kind, http_status, code, message)
		SELECT $1, $2, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM run)`,
		t.appID, f.At.UTC(), string(f.Kind), f.HTTPStatus, f.Code, f.Message, t.state.Alerts.LastSuccessAt.UTC(), separate)
	return nil
}

// Latest returns the newest stored snapshot (this unit of work's included), nil if there is none.
func (t *AppTx) Latest() *balance.Snapshot { return t.latest }

// LastFailure returns the newest failed poll since the last success, nil if there is none.
func (t *AppTx) LastFailure(ctx context.Context) (*balance.Failure, error) {
	var f balance.Failure
	var kind string
	err := t.tx.QueryRow(ctx, `
		SELECT last_at, kind, http_status, code, message FROM poll_failures
		WHERE app_id = $1 AND last_at >= $2 ORDER BY last_at DESC, id DESC LIMIT 1`, t.appID, t.state.Alerts.LastSuccessAt.UTC()).
		Scan(&f.At, &kind, &f.HTTPStatus, &f.Code, &f.Message)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load last failure: %w", err)
	}
	f.Kind = balance.FailureKind(kind)
	return &f, nil
}

// Told lists the notifiers already sent something about the episode of alert k that began at
// since: they get its resolve whatever their min_severity.
func (t *AppTx) Told(ctx context.Context, k alert.Kind, since time.Time) ([]string, error) {
	rows, err := t.tx.Query(ctx, `
		SELECT DISTINCT o.notifier FROM outbox o JOIN alert_events e ON e.id = o.event_id
		WHERE e.app_id = $1 AND e.alert = $2 AND e.since = $3 ORDER BY 1`, t.appID, string(k), since.UTC())
	if err != nil {
		return nil, fmt.Errorf("load notified receivers: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("load notified receivers: %w", err)
	}
	return names, nil
}

// MarkPolled records the newest evaluated poll: its time and, for a failure, what failed (a
// success clears the last failure).
func (t *AppTx) MarkPolled(_ context.Context, at time.Time, fail *balance.Failure) error {
	m := &pollMark{at: at.UTC()}
	if fail != nil {
		var err error
		if m.failure, err = json.Marshal(fail); err != nil {
			return err
		}
	}
	t.polled = m
	t.state.LastPolledAt = at
	return nil
}

// SaveState writes the app's state; alerts whose state did not change are not written.
func (t *AppTx) SaveState(_ context.Context, s AppState) error {
	for _, k := range alert.Kinds {
		a := s.Alerts.Alert(k)
		if a == t.state.Alerts.Alert(k) {
			continue
		}
		if !a.Level.Firing() {
			t.writes.Queue(`DELETE FROM alert_state WHERE app_id = $1 AND alert = $2`, t.appID, string(k))
			continue
		}
		t.writes.Queue(`
			INSERT INTO alert_state (app_id, alert, rule, severity, since, level_since, last_sent_at, sent_rule, sent_severity)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (app_id, alert) DO UPDATE SET rule = excluded.rule, severity = excluded.severity,
				since = excluded.since, level_since = excluded.level_since, last_sent_at = excluded.last_sent_at,
				sent_rule = excluded.sent_rule, sent_severity = excluded.sent_severity`,
			t.appID, string(k), a.Level.Rule, string(a.Level.Severity), a.Since.UTC(), a.LevelSince.UTC(), a.LastSentAt.UTC(),
			a.Sent.Rule, string(a.Sent.Severity))
	}
	lastPolled := t.state.LastPolledAt
	t.state = s
	t.state.LastPolledAt = lastPolled
	t.dirty = true
	return nil
}

// InsertEvent stores an event in the event log and queues one outbox row per notifier.
func (t *AppTx) InsertEvent(_ context.Context, e EventRecord) error {
	t.writes.Queue(`
		WITH ev AS (
			INSERT INTO alert_events (id, app_id, alert, type, rule, severity, since, created_at, silenced, payload)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		)
		INSERT INTO outbox (event_id, app_id, notifier, created_at, next_attempt_at, group_key)
		SELECT $1, $2, n, $8,
		       CASE WHEN n = ANY($12) THEN $8 + $14::interval ELSE $8 END,
		       CASE WHEN n = ANY($12) THEN $13 END
		FROM unnest($11::text[]) AS n`,
		e.ID, t.appID, string(e.Alert), string(e.Type), e.Rule, string(e.Severity), e.Since.UTC(), e.At.UTC(), e.Silenced, e.Payload,
		e.Notifiers, e.Grouped, e.GroupKey, e.GroupWait)
	t.queued = t.queued || len(e.Notifiers) > 0
	return nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// TickRule is what decides whether a timer tick can change an app: its reminder interval and
// its staleness limit (0: none).
type TickRule struct {
	AppID       int64
	RepeatEvery time.Duration
	StaleAfter  time.Duration
	FlapWindow  time.Duration // 0: flap damping off
}

// TickRules are the apps' TickRules as DueForTick sends them: built once per configuration,
// not at every tick (at 10,000 apps, four arrays of 80 kB each).
type TickRules struct{ ids, repeat, stale, flap []int64 }

// NewTickRules prepares rules for DueForTick.
func NewTickRules(rules []TickRule) *TickRules {
	r := &TickRules{ids: make([]int64, len(rules)), repeat: make([]int64, len(rules)), stale: make([]int64, len(rules)), flap: make([]int64, len(rules))}
	for i, t := range rules {
		r.ids[i], r.repeat[i], r.stale[i], r.flap[i] = t.AppID, t.RepeatEvery.Microseconds(), t.StaleAfter.Microseconds(), t.FlapWindow.Microseconds()
	}
	return r
}

// DueForTick returns, of the given apps, those a timer tick at now could change: a silence
// that has ended, a reminder that is due, data that has gone stale (measured from the later
// of the last success and startedAt), a flapping alert stable for its window (which ends the
// flap), or a daily spend alert (which ends at midnight). It is
// one query, so that ten thousand idle apps cost one statement per tick, not ten thousand
// transactions.
func (s *Store) DueForTick(ctx context.Context, now, startedAt time.Time, rules *TickRules) ([]int64, error) {
	ids, repeat, stale, flap := rules.ids, rules.repeat, rules.stale, rules.flap
	rows, err := s.pool.Query(ctx, `
		WITH cfg AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $6::bigint[]) AS c(app_id, repeat_us, stale_us, flap_us))
		SELECT c.app_id FROM cfg c JOIN app_state s ON s.app_id = c.app_id
		WHERE (s.silenced_until IS NOT NULL AND s.silenced_until <= $4)
		   OR (c.repeat_us > 0 AND (s.silenced_until IS NULL OR s.silenced_until <= $4)
		       AND EXISTS (SELECT 1 FROM alert_state a WHERE a.app_id = c.app_id
		           AND a.last_sent_at + c.repeat_us * interval '1 microsecond' <= $4))
		   OR (c.stale_us > 0
		       AND greatest(coalesce(s.last_success_at, $5), $5) + c.stale_us * interval '1 microsecond' <= $4
		       AND NOT EXISTS (SELECT 1 FROM alert_state a WHERE a.app_id = c.app_id
		           AND (a.alert = 'access' OR (a.alert = 'data' AND a.rule = 'stale'))))
		   OR EXISTS (SELECT 1 FROM alert_state a WHERE a.app_id = c.app_id AND a.alert = 'daily_spend')
		   OR EXISTS (SELECT 1 FROM alert_flaps f WHERE f.app_id = c.app_id AND f.flapping_since IS NOT NULL
		       AND (c.flap_us = 0 OR coalesce(f.changes[cardinality(f.changes)], f.flapping_since)
		           + c.flap_us * interval '1 microsecond' <= $4))
		ORDER BY c.app_id`, ids, repeat, stale, now.UTC(), startedAt.UTC(), flap)
	if err != nil {
		return nil, fmt.Errorf("find apps due for a tick: %w", err)
	}
	due, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("find apps due for a tick: %w", err)
	}
	return due, nil
}

// Flaps are the app's flap histories as read under the lock (alert.Damp's input).
func (t *AppTx) Flaps() alert.Flaps { return t.flaps }

// SaveFlaps writes the app's flap histories; those that did not change are not written, and
// an empty one deletes its row.
func (t *AppTx) SaveFlaps(_ context.Context, flaps alert.Flaps) error {
	for _, k := range alert.Kinds {
		f, old := flaps[k], t.flaps[k]
		if f.Equal(old) {
			continue
		}
		if f.Zero() {
			t.writes.Queue(`DELETE FROM alert_flaps WHERE app_id = $1 AND alert = $2`, t.appID, string(k))
			continue
		}
		changes := make([]time.Time, len(f.Changes))
		for i, c := range f.Changes {
			changes[i] = c.UTC()
		}
		t.writes.Queue(`
			INSERT INTO alert_flaps (app_id, alert, changes, flapping_since, rule, severity, since)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (app_id, alert) DO UPDATE SET changes = excluded.changes, flapping_since = excluded.flapping_since,
				rule = excluded.rule, severity = excluded.severity, since = excluded.since`,
			t.appID, string(k), changes, nullTime(f.FlappingSince), f.Level.Rule, string(f.Level.Severity), nullTime(f.Since))
	}
	t.flaps = flaps
	return nil
}
