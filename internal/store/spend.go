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
		ins := make([]spend.Inputs, 0, n)
		ids := make([]int64, 0, n)
		if err := func() error {
			br := s.pool.SendBatch(ctx, b)
			defer br.Close()
			for _, q := range qs[:n] {
				in, err := readSpendInputs(br, q)
				if err != nil {
					return err
				}
				ins, ids = append(ins, in), append(ids, q.AppID)
			}
			return br.Close()
		}(); err != nil {
			return nil, err
		}
		if err := openingSnapshots(ctx, s.pool, ins, ids); err != nil {
			return nil, err
		}
		out = append(out, ins...)
		qs = qs[n:]
	}
	return out, nil
}

// spendInputs reads, in one round trip (two for an app whose snapshot before the window is
// more than a week older than it), the app's first snapshot time, at most a week and a
// window of hourly ledger rows, and the snapshots of the trailing window with the one before.
func spendInputs(ctx context.Context, qr querier, appID int64, now time.Time, window time.Duration, day time.Time) (spend.Inputs, error) {
	q := SpendQuery{AppID: appID, Now: now, Window: window, Day: day}
	b := &pgx.Batch{}
	queueSpendInputs(b, q)
	in, err := func() (spend.Inputs, error) {
		br := qr.SendBatch(ctx, b)
		defer br.Close()
		in, err := readSpendInputs(br, q)
		if err != nil {
			return in, err
		}
		return in, br.Close()
	}()
	if err != nil {
		return in, err
	}
	ins := []spend.Inputs{in}
	if err := openingSnapshots(ctx, qr, ins, []int64{appID}); err != nil {
		return in, err
	}
	return ins[0], nil
}

// queueSpendInputs queues the three reads of q; readSpendInputs reads their answers.
func queueSpendInputs(b *pgx.Batch, q SpendQuery) {
	now := q.Now
	since := spend.RecentSince(now, q.Window).UTC()
	b.Queue(`SELECT first_polled_at FROM app_state WHERE app_id = $1`, q.AppID)
	b.Queue(`SELECT bucket, spent FROM spend_ledger_1h WHERE app_id = $1 AND bucket >= $2 AND bucket <= $3 ORDER BY bucket`,
		q.AppID, spend.HoursSince(now, q.Window).UTC(), now.UTC())
	// The snapshot just before the window is looked for in the week before it only, so that
	// the query reads two or three weekly partitions rather than every one; an app with no
	// snapshot there has it read by openingSnapshots.
	b.Queue(`
		(SELECT polled_at, currency, balance, gift_balance, total_balance FROM balance_snapshots
		 WHERE app_id = $1 AND polled_at <= $2 AND polled_at > $4 ORDER BY polled_at DESC LIMIT 1)
		UNION ALL
		(SELECT polled_at, currency, balance, gift_balance, total_balance FROM balance_snapshots
		 WHERE app_id = $1 AND polled_at > $2 AND polled_at <= $3)
		ORDER BY 1`, q.AppID, since, now.UTC(), since.Add(-SnapshotPartitionSpan))
}

// needsOpening reports whether in lacks the snapshot just before its window although one may
// exist, older than the week queueSpendInputs looked in.
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
		err := br.QueryRow().Scan(&sn.PolledAt, &sn.Currency, &sn.Balance, &sn.GiftBalance, &sn.TotalBalance)
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
