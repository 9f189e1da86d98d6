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

// spendInputs reads, in one round trip, the app's first snapshot time, at most a week and a
// window of hourly ledger rows, and the snapshots of the trailing window with the one before.
func spendInputs(ctx context.Context, q querier, appID int64, now time.Time, window time.Duration, day time.Time) (spend.Inputs, error) {
	in := spend.Inputs{Now: now, Window: window, Day: day}
	since := spend.RecentSince(now, window).UTC()
	b := &pgx.Batch{}
	b.Queue(`SELECT polled_at FROM balance_snapshots WHERE app_id = $1 ORDER BY polled_at LIMIT 1`, appID)
	b.Queue(`SELECT bucket, spent FROM spend_ledger_1h WHERE app_id = $1 AND bucket >= $2 AND bucket <= $3 ORDER BY bucket`,
		appID, spend.HoursSince(now, window).UTC(), now.UTC())
	b.Queue(`
		(SELECT polled_at, currency, balance, gift_balance, total_balance FROM balance_snapshots
		 WHERE app_id = $1 AND polled_at <= $2 ORDER BY polled_at DESC LIMIT 1)
		UNION ALL
		(SELECT polled_at, currency, balance, gift_balance, total_balance FROM balance_snapshots
		 WHERE app_id = $1 AND polled_at > $2 AND polled_at <= $3)
		ORDER BY 1`, appID, since, now.UTC())
	br := q.SendBatch(ctx, b)
	defer br.Close()
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
