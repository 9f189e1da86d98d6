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
)

// Evaluation is what a decide function sees, read under the app's state row lock.
type Evaluation struct {
	State         alert.State
	SilenceReason string
	Latest        *balance.Snapshot // the newest stored snapshot (this poll's when it succeeded)
	LastFailure   *balance.Failure  // the newest failed poll since the last success
	// Told lists, per firing alert, the notifiers already sent something about its current
	// episode: they get its resolve whatever their min_severity.
	Told map[alert.Kind][]string
	// Overtaken is true when a newer poll of this app was already evaluated (two polls ran at
	// once and this one lost the race to the lock): its result is history, not news, and must
	// not move the alerts backwards.
	Overtaken bool
}

// Decision is what the decide function returns: written in the same transaction.
type Decision struct {
	State         alert.State
	SilenceReason string
	Events        []EventRecord
}

// EventRecord is one alert event and the notifiers it must reach.
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
}

// Apply records one poll (snap or fail, or neither for a timer tick or a silence change) and
// runs decide on the app's alert state under a row lock. The snapshot or failure, the new
// state, the events and their outbox rows commit together or not at all.
func (s *Store) Apply(ctx context.Context, appID int64, snap *balance.Snapshot, fail *balance.Failure, decide func(Evaluation) (Decision, error)) (Decision, error) {
	if snap != nil {
		for _, d := range []decimal.Decimal{snap.Balance, snap.GiftBalance, snap.TotalBalance} {
			if err := balance.CheckAmount(d); err != nil {
				return Decision{}, err
			}
		}
	}
	var dec Decision
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var ev Evaluation
		var lastSuccess, silencedUntil, lastPolled *time.Time
		err := tx.QueryRow(ctx, `
			SELECT consecutive_failures, last_success_at, silenced_until, silence_reason, last_polled_at
			FROM app_state WHERE app_id = $1 FOR UPDATE`, appID).
			Scan(&ev.State.ConsecutiveFailures, &lastSuccess, &silencedUntil, &ev.SilenceReason, &lastPolled)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("app %d has no state row: %w", appID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		ev.State.LastSuccessAt = deref(lastSuccess)
		ev.State.SilencedUntil = deref(silencedUntil)
		if polledAt := pollTime(snap, fail); !polledAt.IsZero() && lastPolled != nil && polledAt.Before(*lastPolled) {
			ev.Overtaken = true
		}

		if snap != nil {
			if _, err := tx.Exec(ctx, `
				INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
				VALUES ($1, $2, $3, $4, $5, $6)`,
				appID, snap.PolledAt.UTC(), snap.Currency, snap.Balance, snap.GiftBalance, snap.TotalBalance); err != nil {
				return fmt.Errorf("insert snapshot: %w", err)
			}
			if err := rollUp(ctx, tx, appID, snap); err != nil {
				return err
			}
		}
		if fail != nil {
			if err := recordFailure(ctx, tx, appID, fail, ev.State.LastSuccessAt, ev.Overtaken); err != nil {
				return err
			}
		}
		if err := loadAlerts(ctx, tx, appID, &ev.State); err != nil {
			return err
		}
		if ev.Latest, err = latestSnapshot(ctx, tx, appID); err != nil {
			return err
		}
		if snap == nil {
			if ev.LastFailure, err = lastFailure(ctx, tx, appID, ev.State.LastSuccessAt); err != nil {
				return err
			}
		}
		if fail != nil && !ev.Overtaken {
			ev.LastFailure = fail
		}
		if ev.Told, err = told(ctx, tx, appID, ev.State); err != nil {
			return err
		}

		dec, err = decide(ev)
		if err != nil {
			return err
		}
		if ev.Overtaken {
			snap, fail = nil, nil // history is stored; the newer poll's bookkeeping stands
		}
		return saveDecision(ctx, tx, appID, snap, fail, ev, dec)
	})
	if err != nil {
		return Decision{}, fmt.Errorf("store poll result: %w", err)
	}
	return dec, nil
}

func recordFailure(ctx context.Context, tx pgx.Tx, appID int64, f *balance.Failure, lastSuccess time.Time, overtaken bool) error {
	if overtaken {
		// Older than what is recorded: a row of its own, so the newest run stays intact.
		return insertFailure(ctx, tx, appID, f)
	}
	// A run of identical failures since the last success is one row with a count.
	tag, err := tx.Exec(ctx, `
		UPDATE poll_failures SET last_at = $2, polls = polls + 1
		WHERE id = (SELECT id FROM poll_failures WHERE app_id = $1 ORDER BY last_at DESC, id DESC LIMIT 1)
		  AND kind = $3 AND http_status = $4 AND code = $5 AND message = $6 AND last_at >= $7`,
		appID, f.At.UTC(), f.Kind, f.HTTPStatus, f.Code, f.Message, lastSuccess.UTC())
	if err != nil {
		return fmt.Errorf("record failed poll: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return insertFailure(ctx, tx, appID, f)
}

func insertFailure(ctx context.Context, tx pgx.Tx, appID int64, f *balance.Failure) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO poll_failures (app_id, first_at, last_at, kind, http_status, code, message)
		VALUES ($1, $2, $2, $3, $4, $5, $6)`, appID, f.At.UTC(), f.Kind, f.HTTPStatus, f.Code, f.Message)
	if err != nil {
		return fmt.Errorf("record failed poll: %w", err)
	}
	return nil
}

func loadAlerts(ctx context.Context, tx pgx.Tx, appID int64, st *alert.State) error {
	rows, err := tx.Query(ctx, `
		SELECT alert, rule, severity, since, level_since, last_sent_at
		FROM alert_state WHERE app_id = $1`, appID)
	if err != nil {
		return fmt.Errorf("load alert state: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var a alert.AlertState
		var sev string
		if err := rows.Scan(&kind, &a.Level.Rule, &sev, &a.Since, &a.LevelSince, &a.LastSentAt); err != nil {
			return err
		}
		a.Level.Severity = alert.Severity(sev)
		switch alert.Kind(kind) {
		case alert.Money:
			st.Money = a
		case alert.Access:
			st.Access = a
		case alert.Data:
			st.Data = a
		}
	}
	return rows.Err()
}

func latestSnapshot(ctx context.Context, tx pgx.Tx, appID int64) (*balance.Snapshot, error) {
	var sn balance.Snapshot
	err := tx.QueryRow(ctx, `
		SELECT polled_at, currency, balance, gift_balance, total_balance
		FROM balance_snapshots WHERE app_id = $1 ORDER BY polled_at DESC LIMIT 1`, appID).
		Scan(&sn.PolledAt, &sn.Currency, &sn.Balance, &sn.GiftBalance, &sn.TotalBalance)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load latest snapshot: %w", err)
	}
	return &sn, nil
}

func lastFailure(ctx context.Context, tx pgx.Tx, appID int64, since time.Time) (*balance.Failure, error) {
	var f balance.Failure
	err := tx.QueryRow(ctx, `
		SELECT last_at, kind, http_status, code, message FROM poll_failures
		WHERE app_id = $1 AND last_at >= $2 ORDER BY last_at DESC, id DESC LIMIT 1`, appID, since.UTC()).
		Scan(&f.At, &f.Kind, &f.HTTPStatus, &f.Code, &f.Message)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load last failure: %w", err)
	}
	return &f, nil
}

func told(ctx context.Context, tx pgx.Tx, appID int64, st alert.State) (map[alert.Kind][]string, error) {
	out := map[alert.Kind][]string{}
	for _, k := range []alert.Kind{alert.Money, alert.Access, alert.Data} {
		a := st.Alert(k)
		if !a.Level.Firing() {
			continue
		}
		rows, err := tx.Query(ctx, `
			SELECT DISTINCT o.notifier FROM outbox o JOIN alert_events e ON e.id = o.event_id
			WHERE e.app_id = $1 AND e.alert = $2 AND e.since = $3 ORDER BY 1`, appID, string(k), a.Since.UTC())
		if err != nil {
			return nil, fmt.Errorf("load notified receivers: %w", err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		out[k] = names
	}
	return out, nil
}

func pollTime(snap *balance.Snapshot, fail *balance.Failure) time.Time {
	switch {
	case snap != nil:
		return snap.PolledAt
	case fail != nil:
		return fail.At
	}
	return time.Time{}
}

func saveDecision(ctx context.Context, tx pgx.Tx, appID int64, snap *balance.Snapshot, fail *balance.Failure, prev Evaluation, d Decision) error {
	if snap == nil && fail == nil && len(d.Events) == 0 && d.State == prev.State && d.SilenceReason == prev.SilenceReason {
		return nil // a timer tick that changed nothing writes nothing
	}
	var lastPolled *time.Time
	var lastFail []byte
	if snap != nil {
		lastPolled = &snap.PolledAt
	}
	if fail != nil {
		lastPolled = &fail.At
		lastFail, _ = json.Marshal(fail)
	}
	_, err := tx.Exec(ctx, `
		UPDATE app_state SET
			consecutive_failures = $2,
			last_success_at = $3,
			silenced_until = $4,
			silence_reason = $5,
			last_polled_at = coalesce($6, last_polled_at),
			last_failure = CASE WHEN $7::boolean THEN NULL WHEN $8::jsonb IS NOT NULL THEN $8::jsonb ELSE last_failure END,
			updated_at = now()
		WHERE app_id = $1`,
		appID, d.State.ConsecutiveFailures, nullTime(d.State.LastSuccessAt), nullTime(d.State.SilencedUntil),
		d.SilenceReason, lastPolled, snap != nil, lastFail)
	if err != nil {
		return fmt.Errorf("save app state: %w", err)
	}
	for _, k := range []alert.Kind{alert.Money, alert.Access, alert.Data} {
		a := d.State.Alert(k)
		if !a.Level.Firing() {
			if _, err := tx.Exec(ctx, `DELETE FROM alert_state WHERE app_id = $1 AND alert = $2`, appID, string(k)); err != nil {
				return fmt.Errorf("save alert state: %w", err)
			}
			continue
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO alert_state (app_id, alert, rule, severity, since, level_since, last_sent_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (app_id, alert) DO UPDATE SET rule = excluded.rule, severity = excluded.severity,
				since = excluded.since, level_since = excluded.level_since, last_sent_at = excluded.last_sent_at`,
			appID, string(k), a.Level.Rule, string(a.Level.Severity), a.Since.UTC(), a.LevelSince.UTC(), a.LastSentAt.UTC())
		if err != nil {
			return fmt.Errorf("save alert state: %w", err)
		}
	}
	for _, e := range d.Events {
		_, err := tx.Exec(ctx, `
			INSERT INTO alert_events (id, app_id, alert, type, rule, severity, since, created_at, silenced, payload)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			e.ID, appID, string(e.Alert), string(e.Type), e.Rule, string(e.Severity), e.Since.UTC(), e.At.UTC(), e.Silenced, e.Payload)
		if err != nil {
			return fmt.Errorf("insert event: %w", err)
		}
		for _, n := range e.Notifiers {
			_, err := tx.Exec(ctx, `
				INSERT INTO outbox (event_id, app_id, notifier, created_at, next_attempt_at)
				VALUES ($1, $2, $3, $4, $4)`, e.ID, appID, n, e.At.UTC())
			if err != nil {
				return fmt.Errorf("queue notification: %w", err)
			}
		}
	}
	if len(d.Events) > 0 {
		// Wakes delivery workers (of every replica) without waiting for their next poll.
		if _, err := tx.Exec(ctx, `SELECT pg_notify('engagelab_outbox', '')`); err != nil {
			return err
		}
	}
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

// rollUp folds a snapshot into its hourly roll-up row. The app's state row lock, held by the
// caller, keeps two writers of the same app from interleaving here.
func rollUp(ctx context.Context, tx pgx.Tx, appID int64, snap *balance.Snapshot) error {
	at := snap.PolledAt.UTC()
	_, err := tx.Exec(ctx, `
		INSERT INTO balance_rollups_1h AS r (app_id, bucket, first_at, last_at,
			first_balance, last_balance, min_balance, max_balance,
			first_total, last_total, min_total, max_total, snapshots)
		VALUES ($1, $2, $3, $3, $4, $4, $4, $4, $5, $5, $5, $5, 1)
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
		appID, at.Truncate(time.Hour), at, snap.Balance, snap.TotalBalance)
	if err != nil {
		return fmt.Errorf("update hourly roll-up: %w", err)
	}
	return nil
}
