package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/spend"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// book writes ledger entries of app as the evaluator does, one transaction each.
func book(t *testing.T, st *store.Store, id int64, entries ...store.LedgerEntry) {
	t.Helper()
	for _, e := range entries {
		if err := st.WithAppLock(context.Background(), id, func(ctx context.Context, tx *store.AppTx) error {
			return tx.Book(ctx, e)
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func entry(at, opening, closing, spent, up, expired string) store.LedgerEntry {
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		panic(err)
	}
	return store.LedgerEntry{At: t, Opening: dec(opening), Closing: dec(closing),
		Delta: spend.Delta{Spent: dec(spent), ToppedUp: dec(up), GiftExpired: dec(expired)}}
}

func pointsText(pts []store.LedgerPoint) []string {
	var out []string
	for _, p := range pts {
		out = append(out, fmt.Sprintf("%s %s..%s spent %s up %s expired %s (%s..%s)", p.T.Format("01-02T15"),
			p.FirstTotal.StringFixed(4), p.LastTotal.StringFixed(4), p.Spent.StringFixed(4), p.ToppedUp.StringFixed(4),
			p.GiftExpired.StringFixed(4), p.FirstAt.Format("15:04"), p.LastAt.Format("15:04")))
	}
	return out
}

// Hours and days of the ledger: an hour that from falls inside is included whole, to is
// exclusive, a day opens at its first hour and closes at its last; the read never touches
// snapshots (there are none here).
func TestLedgerPoints(t *testing.T) {
	st := pgtest.New(t)
	ctx := context.Background()
	ids, err := st.EnsureApps(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	book(t, st, ids["a"],
		entry("2026-11-25T22:10:00Z", "100", "100", "0", "0", "0"),
		entry("2026-11-25T22:40:00Z", "100", "97", "3", "0", "0"),
		entry("2026-11-25T23:20:00Z", "97", "596", "1", "500", "0"),
		entry("2026-11-26T01:05:00Z", "596", "560", "6", "0", "30"),
		entry("2026-11-26T01:50:00Z", "560", "559.5", "0.5", "0", "0"),
	)
	book(t, st, ids["b"], entry("2026-11-25T22:30:00Z", "7", "6", "1", "0", "0"))

	for _, c := range []struct {
		name     string
		from, to string
		step     time.Duration
		want     []string
	}{
		{"hours", "2026-11-25T00:00:00Z", "2026-11-27T00:00:00Z", time.Hour, []string{
			"11-25T22 100.0000..97.0000 spent 3.0000 up 0.0000 expired 0.0000 (22:10..22:40)",
			"11-25T23 97.0000..596.0000 spent 1.0000 up 500.0000 expired 0.0000 (23:20..23:20)",
			"11-26T01 596.0000..559.5000 spent 6.5000 up 0.0000 expired 30.0000 (01:05..01:50)",
		}},
		{"days", "2026-11-25T00:00:00Z", "2026-11-27T00:00:00Z", 24 * time.Hour, []string{
			"11-25T00 100.0000..596.0000 spent 4.0000 up 500.0000 expired 0.0000 (22:10..23:20)",
			"11-26T00 596.0000..559.5000 spent 6.5000 up 0.0000 expired 30.0000 (01:05..01:50)",
		}},
		{"from inside an hour, to exclusive", "2026-11-25T22:59:00Z", "2026-11-26T01:00:00Z", time.Hour, []string{
			"11-25T22 100.0000..97.0000 spent 3.0000 up 0.0000 expired 0.0000 (22:10..22:40)",
			"11-25T23 97.0000..596.0000 spent 1.0000 up 500.0000 expired 0.0000 (23:20..23:20)",
		}},
		{"a day cut by from", "2026-11-25T23:00:00Z", "2026-11-27T00:00:00Z", 24 * time.Hour, []string{
			"11-25T00 97.0000..596.0000 spent 1.0000 up 500.0000 expired 0.0000 (23:20..23:20)",
			"11-26T00 596.0000..559.5000 spent 6.5000 up 0.0000 expired 30.0000 (01:05..01:50)",
		}},
		{"nothing in range", "2026-11-27T00:00:00Z", "2026-11-28T00:00:00Z", time.Hour, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			from, _ := time.Parse(time.RFC3339, c.from)
			to, _ := time.Parse(time.RFC3339, c.to)
			pts, err := st.LedgerPoints(ctx, "a", from, to, c.step)
			if err != nil {
				t.Fatal(err)
			}
			got := pointsText(pts)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("got\n%v\nwant\n%v", got, c.want)
			}
		})
	}
	if _, err := st.LedgerPoints(ctx, "nope", time.Now().Add(-time.Hour), time.Now(), time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown app: %v, want ErrNotFound", err)
	}
	if _, err := st.LedgerPoints(ctx, "a", time.Now().Add(-time.Hour), time.Now(), 30*time.Minute); err == nil {
		t.Error("a step of 30m: want an error (the ledger keeps hours)")
	}

	// The running totals and the latest top-up, of every app in one query.
	sums, err := st.SpendSummaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := sums["a"]
	got := fmt.Sprintf("spent %s up %s expired %s last top-up %s at %s", a.Spent.StringFixed(4), a.ToppedUp.StringFixed(4),
		a.GiftExpired.StringFixed(4), a.LastTopupAmount.StringFixed(4), a.LastTopupAt.Format(time.RFC3339))
	if want := "spent 10.5000 up 500.0000 expired 30.0000 last top-up 500.0000 at 2026-11-25T23:20:00Z"; got != want {
		t.Errorf("a: %s\nwant %s", got, want)
	}
	if b := sums["b"]; !b.LastTopupAt.IsZero() || b.Spent.StringFixed(4) != "1.0000" {
		t.Errorf("b: %+v, want 1.0000 spent and no top-up", b)
	}
}
