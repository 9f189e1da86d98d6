package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/spend"
)

// querier is what both a transaction and the pool offer.
type querier interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// SpendInputs reads what spend.Compute needs for app as of now, outside any lock (the read
// side: API, metrics, reports).
func (s *Store) SpendInputs(ctx context.Context, appID int64, now time.Time, window time.Duration, day time.Time) (spend.Inputs, error) {
	return spendInputs(ctx, s.pool, appID, now, window, day)
}

// SpendQuery asks for the spend inputs of one app as of Now (see spend.Inputs).
type SpendQuery struct {
	AppID  int64
	Now    time.Time
	Window time.Duration
	Day    time.Time
}

// SpendInputsMany is SpendInputs for many apps, for the API's list of every app: three
// set-based statements per 2,000 apps, sent together (one round trip), instead of three
// statements per app. Each app's rows are still read through its own index range.
func (s *Store) SpendInputsMany(ctx context.Context, qs []SpendQuery) ([]spend.Inputs, error) {
	const chunk = 2000
	out := make([]spend.Inputs, 0, len(qs))
	for len(qs) > 0 {
		n := min(len(qs), chunk)
		ins, err := s.spendInputsChunk(ctx, qs[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, ins...)
		qs = qs[n:]
	}
	return out, nil
}

func (s *Store) spendInputsChunk(ctx context.Context, qs []SpendQuery) ([]spend.Inputs, error) {
	out := make([]spend.Inputs, len(qs))
	b := &pgx.Batch{}
	queueSpendMany(b, qs, out)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return out, openingSnapshots(ctx, s.pool, out, spendAppIDs(qs))
}

func spendAppIDs(qs []SpendQuery) []int64 {
	ids := make([]int64, len(qs))
	for i, q := range qs {
		ids[i] = q.AppID
	}
	return ids
}

// queueSpendMany queues three set-based reads that fill out[i] with the inputs of qs[i] when
// the batch is sent, except the snapshot before a window older than a week
// (openingSnapshots reads those after).
func queueSpendMany(b *pgx.Batch, qs []SpendQuery, out []spend.Inputs) {
	ids := spendAppIDs(qs)
	hoursFrom, since, now := make([]time.Time, len(qs)), make([]time.Time, len(qs)), make([]time.Time, len(qs))
	for i, q := range qs {
		out[i] = spend.Inputs{Now: q.Now, Window: q.Window, Day: q.Day}
		hoursFrom[i], since[i], now[i] = spend.HoursSince(q.Now, q.Window).UTC(), spend.RecentSince(q.Now, q.Window).UTC(), q.Now.UTC()
	}
	var i int64
	b.Queue(`
		SELECT q.i, st.first_polled_at
		FROM unnest($1::bigint[]) WITH ORDINALITY AS q(id, i) LEFT JOIN app_state st ON st.app_id = q.id`, ids).
		Query(func(rows pgx.Rows) error {
			var first *time.Time
			_, err := pgx.ForEachRow(rows, []any{&i, &first}, func() error {
				if first != nil {
					out[i-1].FirstAt = first.UTC()
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("read spend history: %w", err)
			}
			return nil
		})
	b.Queue(`
		SELECT q.i, l.bucket, l.spent
		FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS q(id, lo, hi, i)
		JOIN LATERAL (SELECT bucket, spent FROM spend_ledger_1h
		              WHERE app_id = q.id AND bucket >= q.lo AND bucket <= q.hi) l ON true
		ORDER BY q.i, l.bucket`, ids, hoursFrom, now).
		Query(func(rows pgx.Rows) error {
			var h spend.Hour
			_, err := pgx.ForEachRow(rows, []any{&i, &h.Bucket, exact(&h.Spent)}, func() error {
				h.Bucket = h.Bucket.UTC()
				out[i-1].Hours = append(out[i-1].Hours, h)
				return nil
			})
			if err != nil {
				return fmt.Errorf("read spend ledger: %w", err)
			}
			return nil
		})
	// The snapshot just before the window is looked for in the week before it only, so that
	// the query reads two or three weekly partitions rather than every one; an app with no
	// snapshot there has it read by openingSnapshots.
	b.Queue(`
		SELECT q.i, r.polled_at, r.currency, r.balance, r.gift_balance, r.total_balance
		FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS q(id, since, now, i)
		JOIN LATERAL (
			(SELECT polled_at, currency, balance, gift_balance, total_balance FROM balance_snapshots
			 WHERE app_id = q.id AND polled_at <= q.since AND polled_at > q.since - $4::interval
			 ORDER BY polled_at DESC LIMIT 1)
			UNION ALL
			(SELECT polled_at, currency, balance, gift_balance, total_balance FROM balance_snapshots
			 WHERE app_id = q.id AND polled_at > q.since AND polled_at <= q.now)) r ON true
		ORDER BY q.i, r.polled_at`, ids, since, now, SnapshotPartitionSpan).
		Query(func(rows pgx.Rows) error {
			var sn balance.Snapshot
			_, err := pgx.ForEachRow(rows, []any{&i, &sn.PolledAt, &sn.Currency, exact(&sn.Balance), exact(&sn.GiftBalance), exact(&sn.TotalBalance)}, func() error {
				sn.PolledAt = sn.PolledAt.UTC()
				out[i-1].Recent = append(out[i-1].Recent, sn)
				return nil
			})
			if err != nil {
				return fmt.Errorf("read recent snapshots: %w", err)
			}
			return nil
		})
}

// spendInputs reads, in one round trip (two for an app whose snapshot before the window is
// more than a week older than it), the app's first snapshot time, at most a week and a
// window of hourly ledger rows, and the snapshots of the trailing window with the one before:
// queueSpendMany's reads for one app.
func spendInputs(ctx context.Context, qr querier, appID int64, now time.Time, window time.Duration, day time.Time) (spend.Inputs, error) {
	qs := []SpendQuery{{AppID: appID, Now: now, Window: window, Day: day}}
	ins := make([]spend.Inputs, 1)
	b := &pgx.Batch{}
	queueSpendMany(b, qs, ins)
	if err := qr.SendBatch(ctx, b).Close(); err != nil {
		return ins[0], err
	}
	if err := openingSnapshots(ctx, qr, ins, []int64{appID}); err != nil {
		return ins[0], err
	}
	return ins[0], nil
}

// needsOpening reports whether in lacks the snapshot just before its window although one may
// exist, older than the week queueSpendMany looked in.
func needsOpening(in spend.Inputs) bool {
	since := spend.RecentSince(in.Now, in.Window).UTC()
	if len(in.Recent) > 0 && !in.Recent[0].PolledAt.After(since) {
		return false
	}
	return !in.FirstAt.IsZero() && !in.FirstAt.After(since.Add(-SnapshotPartitionSpan))
}

// openingSnapshots reads, in one round trip, the snapshot just before the window of each of
// ins that needsOpening, and puts it first in its Recent.
func openingSnapshots(ctx context.Context, qr querier, ins []spend.Inputs, appIDs []int64) error {
	b := &pgx.Batch{}
	var which []int
	for i, in := range ins {
		if !needsOpening(in) {
			continue
		}
		which = append(which, i)
		b.Queue(`SELECT polled_at, currency, balance, gift_balance, total_balance FROM balance_snapshots
			WHERE app_id = $1 AND polled_at <= $2 ORDER BY polled_at DESC LIMIT 1`,
			appIDs[i], spend.RecentSince(in.Now, in.Window).UTC())
	}
	if len(which) == 0 {
		return nil
	}
	br := qr.SendBatch(ctx, b)
	defer br.Close()
	for _, i := range which {
		var sn balance.Snapshot
		err := br.QueryRow().Scan(&sn.PolledAt, &sn.Currency, exact(&sn.Balance), exact(&sn.GiftBalance), exact(&sn.TotalBalance))
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read recent snapshots: %w", err)
		}
		sn.PolledAt = sn.PolledAt.UTC()
		ins[i].Recent = append([]balance.Snapshot{sn}, ins[i].Recent...)
	}
	return br.Close()
}

// exact scans a NUMERIC into d from its binary digits (pgxdecimal's NumericScanner), not
// through decimal.Decimal's sql.Scanner, which pgx feeds the number as text to parse: the same
// exact value at a fraction of the cost, which counts for the window of snapshots every poll
// reads.
func exact(d *decimal.Decimal) *pgxdecimal.Decimal { return (*pgxdecimal.Decimal)(d) }
