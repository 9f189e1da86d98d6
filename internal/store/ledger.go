package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// LedgerPoint is one bucket of the spend ledger: the total before its first change and after
// its last, and what was spent, topped up and expired in it. For every point, exactly:
// FirstTotal + ToppedUp − Spent − GiftExpired = LastTotal.
type LedgerPoint struct {
	T                            time.Time
	Spent, ToppedUp, GiftExpired decimal.Decimal
	FirstTotal, LastTotal        decimal.Decimal
	FirstAt, LastAt              time.Time // the first and last snapshot booked in the bucket
}

// LedgerPoints reads app's spend ledger in buckets of step (a whole number of hours dividing a
// day: 1h or 1d in the API) aligned to UTC multiples of step, for the ledger hours in [from,
// to); a bucket that from falls inside starts at from's hour. Buckets without a booked
// snapshot are left out. It reads spend_ledger_1h only, never raw snapshots; the sums stay
// NUMERIC.
func (s *Store) LedgerPoints(ctx context.Context, app string, from, to time.Time, step time.Duration) ([]LedgerPoint, error) {
	if step < time.Hour || step%time.Hour != 0 {
		return nil, fmt.Errorf("ledger step %s is not a whole number of hours", step)
	}
	id, err := s.AppID(ctx, app)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT to_timestamp(floor(extract(epoch FROM bucket) / $4)::bigint * $4) AS t,
			sum(spent), sum(topped_up), sum(gift_expired),
			(array_agg(first_total ORDER BY bucket))[1], (array_agg(last_total ORDER BY bucket DESC))[1],
			min(first_at), max(last_at)
		FROM spend_ledger_1h
		WHERE app_id = $1 AND bucket >= $2 AND bucket < $3
		GROUP BY 1 ORDER BY 1`, id, from.UTC().Truncate(time.Hour), to.UTC(), int64(step/time.Second))
	if err != nil {
		return nil, fmt.Errorf("read ledger of %s: %w", app, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LedgerPoint, error) {
		var p LedgerPoint
		err := r.Scan(&p.T, &p.Spent, &p.ToppedUp, &p.GiftExpired, &p.FirstTotal, &p.LastTotal, &p.FirstAt, &p.LastAt)
		p.T, p.FirstAt, p.LastAt = p.T.UTC(), p.FirstAt.UTC(), p.LastAt.UTC()
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("read ledger of %s: %w", app, err)
	}
	return out, nil
}

// SpendSummary is an app's running spend totals since it was first seen (retention does not
// lower them) and its latest top-up.
type SpendSummary struct {
	AppID                        int64
	Spent, ToppedUp, GiftExpired decimal.Decimal
	LastTopupAt                  time.Time // zero: never topped up
	LastTopupAmount              decimal.Decimal
}

// SpendSummaries reads the spend totals and latest top-up of every stored app, by name, in
// one query over app_state.
func (s *Store) SpendSummaries(ctx context.Context) (map[string]SpendSummary, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.id, a.name, st.spent_total, st.topped_up_total, st.gift_expired_total, st.last_topup_at, st.last_topup_amount
		FROM apps a JOIN app_state st ON st.app_id = a.id`)
	if err != nil {
		return nil, fmt.Errorf("read spend totals: %w", err)
	}
	out := map[string]SpendSummary{}
	var name string
	var sum SpendSummary
	var at *time.Time
	var amount decimal.NullDecimal
	if _, err := pgx.ForEachRow(rows, []any{&sum.AppID, &name, &sum.Spent, &sum.ToppedUp, &sum.GiftExpired, &at, &amount}, func() error {
		s := sum
		s.LastTopupAt, s.LastTopupAmount = deref(at), amount.Decimal
		out[name] = s
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read spend totals: %w", err)
	}
	return out, nil
}

// LedgerSums is what the hourly ledger says of one app's recent spend, for the metrics of
// every app at once (spend.FromLedgerSums turns it into rates).
type LedgerSums struct {
	Name    string
	FirstAt time.Time // the first booked snapshot; zero when the app has none
	// Spent in the ledger hours that began at or after the start of the hour before now's
	// (the last 60 to 120 minutes), of the day before (24 h) and of the week before (7 d).
	Spent1h, Spent24h, Spent7d decimal.Decimal
	Balance, TotalBalance      decimal.Decimal // of the latest snapshot
	Known                      bool            // the app has a booked snapshot
}

// AllLedgerSums reads, in one query, every stored app's ledger sums as of now: per app one
// index lookup for its first row and an index range scan of at most 169 ledger rows, plus its
// latest snapshot. It reads no raw snapshot range.
func (s *Store) AllLedgerSums(ctx context.Context, now time.Time) ([]LedgerSums, error) {
	h := now.UTC().Truncate(time.Hour)
	rows, err := s.pool.Query(ctx, `
		SELECT a.name, f.first_at,
			coalesce(l.s1, 0), coalesce(l.s24, 0), coalesce(l.s7, 0),
			sn.latest_balance, sn.latest_total_balance
		FROM apps a
		LEFT JOIN LATERAL (
			SELECT first_at FROM spend_ledger_1h WHERE app_id = a.id ORDER BY bucket LIMIT 1
		) f ON true
		LEFT JOIN LATERAL (
			SELECT sum(spent) FILTER (WHERE bucket >= $1) AS s1, sum(spent) FILTER (WHERE bucket >= $2) AS s24, sum(spent) AS s7
			FROM spend_ledger_1h WHERE app_id = a.id AND bucket >= $3 AND bucket <= $4
		) l ON true
		LEFT JOIN app_state sn ON sn.app_id = a.id
		ORDER BY a.name`,
		h.Add(-time.Hour), now.UTC().Add(-24*time.Hour).Truncate(time.Hour), now.UTC().Add(-7*24*time.Hour).Truncate(time.Hour), now.UTC())
	if err != nil {
		return nil, fmt.Errorf("read ledger sums: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LedgerSums, error) {
		var l LedgerSums
		var first *time.Time
		var bal, total decimal.NullDecimal
		if err := r.Scan(&l.Name, &first, &l.Spent1h, &l.Spent24h, &l.Spent7d, &bal, &total); err != nil {
			return l, fmt.Errorf("read ledger sums: %w", err)
		}
		l.FirstAt = deref(first)
		l.Balance, l.TotalBalance = bal.Decimal, total.Decimal
		l.Known = first != nil && bal.Valid
		return l, nil
	})
}
