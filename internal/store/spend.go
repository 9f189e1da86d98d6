package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	ids := make([]int64, len(qs))
	hoursFrom, since, now := make([]time.Time, len(qs)), make([]time.Time, len(qs)), make([]time.Time, len(qs))
	for i, q := range qs {
		out[i] = spend.Inputs{Now: q.Now, Window: q.Window, Day: q.Day}
		ids[i], hoursFrom[i], since[i], now[i] = q.AppID, spend.HoursSince(q.Now, q.Window).UTC(), spend.RecentSince(q.Now, q.Window).UTC(), q.Now.UTC()
	}
	b := &pgx.Batch{}
	b.Queue(`
		SELECT q.i, (SELECT polled_at FROM balance_snapshots s WHERE s.app_id = q.id ORDER BY polled_at LIMIT 1)
		FROM unnest($1::bigint[]) WITH ORDINALITY AS q(id, i)`, ids)
	b.Queue(`
		SELECT q.i, l.bucket, l.spent
		FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS q(id, lo, hi, i)
		JOIN LATERAL (SELECT bucket, spent FROM spend_ledger_1h
		              WHERE app_id = q.id AND bucket >= q.lo AND bucket <= q.hi) l ON true
		ORDER BY q.i, l.bucket`, ids, hoursFrom, now)
	b.Queue(`
		SELECT q.i, r.polled_at, r.currency, r.balance, r.gift_balance, r.total_balance
		FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS q(id, since, now, i)
		JOIN LATERAL (
			(SELECT polled_at, currency, balance, gift_balance, total_balance FROM balance_snapshots
			 WHERE app_id = q.id AND polled_at <= q.since ORDER BY polled_at DESC LIMIT 1)
			UNION ALL
			(SELECT polled_at, currency, balance, gift_balance, total_balance FROM balance_snapshots
			 WHERE app_id = q.id AND polled_at > q.since AND polled_at <= q.now)) r ON true
		ORDER BY q.i, r.polled_at`, ids, since, now)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	var i int64
	var first *time.Time
	rows, _ := br.Query()
	if _, err := pgx.ForEachRow(rows, []any{&i, &first}, func() error {
		if first != nil {
			out[i-1].FirstAt = first.UTC()
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read spend history: %w", err)
	}
	var h spend.Hour
	rows, _ = br.Query()
	if _, err := pgx.ForEachRow(rows, []any{&i, &h.Bucket, &h.Spent}, func() error {
		h.Bucket = h.Bucket.UTC()
		out[i-1].Hours = append(out[i-1].Hours, h)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read spend ledger: %w", err)
	}
	var sn balance.Snapshot
	rows, _ = br.Query()
	if _, err := pgx.ForEachRow(rows, []any{&i, &sn.PolledAt, &sn.Currency, &sn.Balance, &sn.GiftBalance, &sn.TotalBalance}, func() error {
		sn.PolledAt = sn.PolledAt.UTC()
		out[i-1].Recent = append(out[i-1].Recent, sn)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read recent snapshots: %w", err)
	}
	return out, br.Close()
}

// spendInputs reads, in one round trip, the app's first snapshot time, at most a week and a
// window of hourly ledger rows, and the snapshots of the trailing window with the one before.
func spendInputs(ctx context.Context, qr querier, appID int64, now time.Time, window time.Duration, day time.Time) (spend.Inputs, error) {
	q := SpendQuery{AppID: appID, Now: now, Window: window, Day: day}
	b := &pgx.Batch{}
	queueSpendInputs(b, q)
	br := qr.SendBatch(ctx, b)
	defer br.Close()
	return readSpendInputs(br, q)
}

// queueSpendInputs queues the three reads of q; readSpendInputs reads their answers.
func queueSpendInputs(b *pgx.Batch, q SpendQuery) {
	now := q.Now
	since := spend.RecentSince(now, q.Window).UTC()
	b.Queue(`SELECT polled_at FROM balance_snapshots WHERE app_id = $1 ORDER BY polled_at LIMIT 1`, q.AppID)
	b.Queue(`SELECT bucket, spent FROM spend_ledger_1h WHERE app_id = $1 AND bucket >= $2 AND bucket <= $3 ORDER BY bucket`,
		q.AppID, spend.HoursSince(now, q.Window).UTC(), now.UTC())
	b.Queue(`
		(SELECT polled_at, currency, balance, gift_balance, total_balance FROM balance_snapshots
		 WHERE app_id = $1 AND polled_at <= $2 ORDER BY polled_at DESC LIMIT 1)
		UNION ALL
		(SELECT polled_at, currency, balance, gift_balance, total_balance FROM balance_snapshots
		 WHERE app_id = $1 AND polled_at > $2 AND polled_at <= $3)
		ORDER BY 1`, q.AppID, since, now.UTC())
}

func readSpendInputs(br pgx.BatchResults, q SpendQuery) (spend.Inputs, error) {
	in := spend.Inputs{Now: q.Now, Window: q.Window, Day: q.Day}
	var first *time.Time
	if err := br.QueryRow().Scan(&first); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return in, fmt.Errorf("read spend history: %w", err)
	}
	if first != nil {
		in.FirstAt = first.UTC()
	}
	rows, err := br.Query()
	if err != nil {
		return in, fmt.Errorf("read spend ledger: %w", err)
	}
	var h spend.Hour
	if _, err := pgx.ForEachRow(rows, []any{&h.Bucket, &h.Spent}, func() error {
		h.Bucket = h.Bucket.UTC()
		in.Hours = append(in.Hours, h)
		return nil
	}); err != nil {
		return in, fmt.Errorf("read spend ledger: %w", err)
	}
	rows, err = br.Query()
	if err != nil {
		return in, fmt.Errorf("read recent snapshots: %w", err)
	}
	var sn balance.Snapshot
	if _, err := pgx.ForEachRow(rows, []any{&sn.PolledAt, &sn.Currency, &sn.Balance, &sn.GiftBalance, &sn.TotalBalance}, func() error {
		sn.PolledAt = sn.PolledAt.UTC()
		in.Recent = append(in.Recent, sn)
		return nil
	}); err != nil {
		return in, fmt.Errorf("read recent snapshots: %w", err)
	}
	return in, nil
}
