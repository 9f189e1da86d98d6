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

// SpendInputsMany is SpendInputs for many apps in few round trips (one per 500 apps), for the
// API's list of every app.
func (s *Store) SpendInputsMany(ctx context.Context, qs []SpendQuery) ([]spend.Inputs, error) {
	const chunk = 500
	out := make([]spend.Inputs, 0, len(qs))
	for len(qs) > 0 {
		n := min(len(qs), chunk)
		b := &pgx.Batch{}
		for _, q := range qs[:n] {
			queueSpendInputs(b, q)
		}
		if err := func() error {
			br := s.pool.SendBatch(ctx, b)
			defer br.Close()
			for _, q := range qs[:n] {
				in, err := readSpendInputs(br, q)
				if err != nil {
					return err
				}
				out = append(out, in)
			}
			return br.Close()
		}(); err != nil {
			return nil, err
		}
		qs = qs[n:]
	}
	return out, nil
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
	b.Queue(`SELECT first_polled_at FROM app_state WHERE app_id = $1`, q.AppID)
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
