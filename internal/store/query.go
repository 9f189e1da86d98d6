package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/shopspring/decimal"
)

// FiringAlert is an alert firing now.
type FiringAlert struct {
	App        string
	Alert      string
	Rule       string
	Severity   string
	Since      time.Time
	LevelSince time.Time
	LastSentAt time.Time
}

// AppStatus is everything known about one app now.
type AppStatus struct {
	Name                string
	Latest              *balance.Snapshot
	LastSuccessAt       time.Time
	LastPolledAt        time.Time
	ConsecutiveFailures int
	LastFailure         *balance.Failure
	SilencedUntil       time.Time
	SilenceReason       string
	Firing              []FiringAlert
}

// AppStatuses returns the state of every stored app, by name.
func (s *Store) AppStatuses(ctx context.Context) ([]AppStatus, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.name, st.consecutive_failures, st.last_success_at, st.last_polled_at, st.last_failure,
			st.silenced_until, st.silence_reason,
			st.latest_polled_at, st.latest_currency, st.latest_balance, st.latest_gift_balance, st.latest_total_balance
		FROM apps a
		JOIN app_state st ON st.app_id = a.id
		ORDER BY a.name`)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AppStatus, error) {
		var a AppStatus
		var lastSuccess, lastPolled, silenced, polledAt *time.Time
		var failure []byte
		var currency *string
		var bal, gift, total decimal.NullDecimal
		if err := r.Scan(&a.Name, &a.ConsecutiveFailures, &lastSuccess, &lastPolled, &failure, &silenced, &a.SilenceReason,
			&polledAt, &currency, &bal, &gift, &total); err != nil {
			return a, err
		}
		a.LastSuccessAt, a.LastPolledAt, a.SilencedUntil = deref(lastSuccess), deref(lastPolled), deref(silenced)
		if polledAt != nil {
			a.Latest = &balance.Snapshot{PolledAt: polledAt.UTC(), Currency: *currency, Balance: bal.Decimal, GiftBalance: gift.Decimal, TotalBalance: total.Decimal}
		}
		if failure != nil {
			var f balance.Failure
			if err := json.Unmarshal(failure, &f); err == nil {
				a.LastFailure = &f
			}
		}
		return a, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	firing, err := s.FiringAlerts(ctx, "")
	if err != nil {
		return nil, err
	}
	for i := range out {
		for _, f := range firing {
			if f.App == out[i].Name {
				out[i].Firing = append(out[i].Firing, f)
			}
		}
	}
	return out, nil
}

// FiringAlerts lists the alerts firing now, of one app or (app == "") of all.
func (s *Store) FiringAlerts(ctx context.Context, app string) ([]FiringAlert, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.name, s.alert, s.rule, s.severity, s.since, s.level_since, s.last_sent_at
		FROM alert_state s JOIN apps a ON a.id = s.app_id
		WHERE $1 = '' OR a.name = $1
		ORDER BY a.name, array_position(ARRAY['money','access','data','runway','drain','daily_spend'], s.alert)`, app)
	if err != nil {
		return nil, fmt.Errorf("list firing alerts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FiringAlert, error) {
		var f FiringAlert
		err := r.Scan(&f.App, &f.Alert, &f.Rule, &f.Severity, &f.Since, &f.LevelSince, &f.LastSentAt)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("list firing alerts: %w", err)
	}
	return out, nil
}

// Event is one entry of the event log.
type Event struct {
	ID       string
	App      string
	Alert    string
	Type     string
	Rule     string
	Severity string
	Since    time.Time
	At       time.Time
	Silenced bool
	Message  string // the one-line message of the rendered payload
	Payload  json.RawMessage
	// Deliveries are the event's outbox rows, one per notifier, with their status.
	Deliveries []OutboxRow
}

// Events returns the event log newest first: of one app (or all when app == ""), older than
// before when it is not zero, at most limit entries.
func (s *Store) Events(ctx context.Context, app string, before time.Time, limit int) ([]Event, error) {
	if before.IsZero() {
		before = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return s.events(ctx, app, before, "", limit)
}

// EventsBefore pages the event log strictly after (older than) the event with id cursor, so
// that events sharing a timestamp are neither skipped nor repeated. An unknown cursor is
// ErrNotFound.
func (s *Store) EventsBefore(ctx context.Context, app, cursor string, limit int) ([]Event, error) {
	var at time.Time
	err := s.pool.QueryRow(ctx, `SELECT created_at FROM alert_events WHERE id = $1`, cursor).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return s.events(ctx, app, at, cursor, limit)
}

// events lists events ordered by (created_at, id) descending, below the (before, beforeID)
// key; an empty beforeID sorts below every id, so it means "strictly before the time".
func (s *Store) events(ctx context.Context, app string, before time.Time, beforeID string, limit int) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT e.id, a.name, e.alert, e.type, e.rule, e.severity, e.since, e.created_at, e.silenced,
			coalesce(e.payload->>'message', ''), e.payload
		FROM alert_events e JOIN apps a ON a.id = e.app_id
		WHERE ($1 = '' OR a.name = $1) AND (e.created_at, e.id) < ($2, $3)
		ORDER BY e.created_at DESC, e.id DESC LIMIT $4`, app, before.UTC(), beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.ID, &e.App, &e.Alert, &e.Type, &e.Rule, &e.Severity, &e.Since, &e.At, &e.Silenced, &e.Message, &e.Payload)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if len(events) == 0 {
		return events, nil
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	outs, err := s.Notifications(ctx, ids, 100*len(ids))
	if err != nil {
		return nil, err
	}
	byEvent := map[string][]OutboxRow{}
	for i := len(outs) - 1; i >= 0; i-- {
		byEvent[outs[i].EventID] = append(byEvent[outs[i].EventID], outs[i])
	}
	for i := range events {
		events[i].Deliveries = byEvent[events[i].ID]
	}
	return events, nil
}

// Point is one raw snapshot in a history answer.
type Point struct {
	T            time.Time
	Balance      decimal.Decimal
	GiftBalance  decimal.Decimal
	TotalBalance decimal.Decimal
}

// ErrTooManyPoints is returned when a raw history query would exceed its cap.
var ErrTooManyPoints = errors.New("too many points")

// Snapshots returns the raw snapshots of app in [from, to), oldest first, at most limit of
// them (else ErrTooManyPoints).
func (s *Store) Snapshots(ctx context.Context, app string, from, to time.Time, limit int) ([]Point, error) {
	id, err := s.AppID(ctx, app)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT polled_at, balance, gift_balance, total_balance FROM balance_snapshots
		WHERE app_id = $1 AND polled_at >= $2 AND polled_at < $3
		ORDER BY polled_at LIMIT $4`, id, from.UTC(), to.UTC(), limit+1)
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", app, err)
	}
	pts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Point, error) {
		var p Point
		err := r.Scan(&p.T, &p.Balance, &p.GiftBalance, &p.TotalBalance)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", app, err)
	}
	if len(pts) > limit {
		return nil, ErrTooManyPoints
	}
	return pts, nil
}

// Bucket is one step of a bucketed history: the chosen amount's first, last, min and max.
type Bucket struct {
	T                     time.Time
	First, Last, Min, Max decimal.Decimal
}

// Buckets aggregates app's snapshots in [from, to) into buckets aligned to UTC multiples of
// step, on the amount column ("total_balance" or "balance"). Empty buckets are left out. The
// arithmetic stays in NUMERIC. Steps of an hour or more read the hourly roll-ups for the whole
// hours of the range and raw snapshots only for its ragged ends.
func (s *Store) Buckets(ctx context.Context, app string, from, to time.Time, step time.Duration, amount string) ([]Bucket, error) {
	if step >= time.Hour && step%time.Hour == 0 {
		return s.buckets(ctx, app, from, to, step, amount, true)
	}
	return s.buckets(ctx, app, from, to, step, amount, false)
}

// BucketsRaw is Buckets computed from raw snapshots only; tests and benchmarks compare the two.
func (s *Store) BucketsRaw(ctx context.Context, app string, from, to time.Time, step time.Duration, amount string) ([]Bucket, error) {
	return s.buckets(ctx, app, from, to, step, amount, false)
}

func (s *Store) buckets(ctx context.Context, app string, from, to time.Time, step time.Duration, amount string, rollups bool) ([]Bucket, error) {
	col, short := "total_balance", "total"
	switch amount {
	case "total_balance":
	case "balance":
		col, short = "balance", "balance"
	default:
		return nil, fmt.Errorf("unknown amount %q", amount)
	}
	if step < time.Second {
		return nil, fmt.Errorf("step %s is too small", step)
	}
	id, err := s.AppID(ctx, app)
	if err != nil {
		return nil, err
	}
	from, to = from.UTC(), to.UTC()
	// Rows of (t_first, t_last, first, last, min, max): raw snapshots are one-row buckets.
	raw := fmt.Sprintf(`SELECT polled_at AS first_at, polled_at AS last_at, %[1]s AS f, %[1]s AS l, %[1]s AS mn, %[1]s AS mx
		FROM balance_snapshots WHERE app_id = $1 AND polled_at >= $2 AND polled_at < $3`, col)
	src := raw
	args := []any{id, from, to, int64(step / time.Second)}
	if rollups {
		hFrom := from.Truncate(time.Hour)
		if hFrom.Before(from) {
			hFrom = hFrom.Add(time.Hour)
		}
		hTo := to.Truncate(time.Hour)
		if hFrom.Before(hTo) {
			src = fmt.Sprintf(`%[1]s AND (polled_at < $5 OR polled_at >= $6)
				UNION ALL
				SELECT first_at, last_at, first_%[2]s, last_%[2]s, min_%[2]s, max_%[2]s
				FROM balance_rollups_1h WHERE app_id = $1 AND bucket >= $5 AND bucket < $6`, raw, short)
			args = append(args, hFrom, hTo)
		}
	}
	q := fmt.Sprintf(`
		SELECT to_timestamp(b * $4), (array_agg(f ORDER BY first_at))[1], (array_agg(l ORDER BY last_at DESC))[1], min(mn), max(mx)
		FROM (SELECT floor(extract(epoch FROM first_at) / $4)::bigint AS b, * FROM (%s) src) x
		GROUP BY b ORDER BY b`, src)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", app, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Bucket, error) {
		var b Bucket
		err := r.Scan(&b.T, &b.First, &b.Last, &b.Min, &b.Max)
		b.T = b.T.UTC()
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", app, err)
	}
	return out, nil
}

// PollFailures lists the failed-poll rows of app, newest first.
func (s *Store) PollFailures(ctx context.Context, app string) ([]PollFailure, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT f.first_at, f.last_at, f.polls, f.kind, f.http_status, f.code, f.message
		FROM poll_failures f JOIN apps a ON a.id = f.app_id WHERE a.name = $1
		ORDER BY f.last_at DESC, f.id DESC`, app)
	if err != nil {
		return nil, fmt.Errorf("list failed polls: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PollFailure, error) {
		var f PollFailure
		err := r.Scan(&f.FirstAt, &f.LastAt, &f.Polls, &f.Kind, &f.HTTPStatus, &f.Code, &f.Message)
		return f, err
	})
}

// PollFailure is a run of identical failed polls.
type PollFailure struct {
	FirstAt, LastAt  time.Time
	Polls            int
	Kind             string
	HTTPStatus, Code int
	Message          string
}
