package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
)

// A database upgraded with snapshots already stored gets its ledger backfilled by migration
// 00003: for every app, every range of rows balances exactly, the rows chain (each opens where
// the one before closed), the ledger closes at the latest snapshot, and the running totals
// are the sums of the rows.
func TestLedgerBackfillBalances(t *testing.T) {
	ctx := context.Background()
	st, p := pgtest.AtVersion(t, 2)
	const apps = 20
	r := rand.New(rand.NewPCG(7, 7))
	latest := map[int64]decimal.Decimal{}
	for i := range apps {
		var id int64
		if err := st.Pool().QueryRow(ctx, `INSERT INTO apps (name) VALUES ($1) RETURNING id`, fmt.Sprintf("app%d", i)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Pool().Exec(ctx, `INSERT INTO app_state (app_id) VALUES ($1)`, id); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(3600)) * time.Second)
		bal, gift := decimal.New(r.Int64N(10_000_000), -4), decimal.Zero
		for range 40 {
			at = at.Add(time.Duration(60+r.IntN(3*3600)) * time.Second)
			switch k := r.IntN(10); {
			case k == 0:
				bal = bal.Add(decimal.New(r.Int64N(5_000_000), -4))
			case k == 1:
				gift = gift.Add(decimal.New(r.Int64N(1_000_000), -4))
			case k == 2:
				gift = decimal.Zero
			default:
				s := decimal.New(r.Int64N(300_000), -4)
				g := decimal.Min(s, gift)
				gift, bal = gift.Sub(g), bal.Sub(s.Sub(g))
			}
			if _, err := st.Pool().Exec(ctx, `
				INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
				VALUES ($1, $2, 'USD', $3, $4, $5)`, id, at, bal, gift, bal.Add(gift)); err != nil {
				t.Fatal(err)
			}
		}
		latest[id] = bal.Add(gift)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}

	allExpired, allUp := decimal.Zero, decimal.Zero
	for id, last := range latest {
		rows, err := st.Pool().Query(ctx, `
			SELECT bucket, first_total, last_total, spent, topped_up, gift_expired FROM spend_ledger_1h
			WHERE app_id = $1 ORDER BY bucket`, id)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			bucket                          time.Time
			first, last, spent, up, expired decimal.Decimal
		}
		var got []row
		for rows.Next() {
			var x row
			if err := rows.Scan(&x.bucket, &x.first, &x.last, &x.spent, &x.up, &x.expired); err != nil {
				t.Fatal(err)
			}
			got = append(got, x)
		}
		rows.Close()
		spent, up, expired := decimal.Zero, decimal.Zero, decimal.Zero
		for i, x := range got {
			if net := x.first.Add(x.up).Sub(x.spent).Sub(x.expired); !net.Equal(x.last) {
				t.Errorf("app %d hour %s: %s + %s − %s − %s = %s, but last_total is %s", id, x.bucket.UTC().Format(time.RFC3339),
					x.first, x.up, x.spent, x.expired, net, x.last)
			}
			if i > 0 && !x.first.Equal(got[i-1].last) {
				t.Errorf("app %d hour %s opens at %s, the hour before closed at %s", id, x.bucket.UTC().Format(time.RFC3339), x.first, got[i-1].last)
			}
			spent, up, expired = spent.Add(x.spent), up.Add(x.up), expired.Add(x.expired)
		}
		if n := len(got); n == 0 || !got[n-1].last.Equal(last) {
			t.Errorf("app %d: the ledger (%d rows) does not close at the latest snapshot's %s", id, n, last)
		}
		var ts, tu, te decimal.Decimal
		if err := st.Pool().QueryRow(ctx, `SELECT spent_total, topped_up_total, gift_expired_total FROM app_state WHERE app_id = $1`, id).
			Scan(&ts, &tu, &te); err != nil {
			t.Fatal(err)
		}
		if !ts.Equal(spent) || !tu.Equal(up) || !te.Equal(expired) {
			t.Errorf("app %d: running totals %s/%s/%s, the rows sum to %s/%s/%s", id, ts, tu, te, spent, up, expired)
		}
		allExpired, allUp = allExpired.Add(expired), allUp.Add(up)
	}
	if !allExpired.IsPositive() || !allUp.IsPositive() {
		t.Errorf("the series booked %s expired and %s topped up: want some of each, or the test proves little", allExpired, allUp)
	}
}
