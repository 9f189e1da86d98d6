package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

func TestBucketsAlignToUTCAndKeepExactAmounts(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, _ := s.EnsureApps(ctx, []string{"a"})
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	for _, p := range []struct {
		at    string
		total string
	}{{"10:05", "500.1000"}, {"10:50", "480.0001"}, {"10:20", "490.5000"}, {"11:10", "-3.2500"}} {
		hm, _ := time.Parse("15:04", p.at)
		at := day.Add(time.Duration(hm.Hour())*time.Hour + time.Duration(hm.Minute())*time.Minute)
		d := decimal.RequireFromString(p.total)
		pgtest.Snapshot(t, s, ids["a"], balance.Snapshot{PolledAt: at, Currency: "USD", Balance: d, GiftBalance: decimal.Zero, TotalBalance: d})
	}
	for _, raw := range []bool{false, true} {
		get := s.Buckets
		if raw {
			get = s.BucketsRaw
		}
		got, err := get(ctx, "a", day, day.Add(24*time.Hour), time.Hour, "total_balance")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"2026-11-26T10:00:00Z first=500.1000 last=480.0001 min=480.0001 max=500.1000",
			"2026-11-26T11:00:00Z first=-3.2500 last=-3.2500 min=-3.2500 max=-3.2500",
		}
		if diff := cmp.Diff(want, render(got)); diff != "" {
			t.Errorf("raw=%v buckets (-want +got):\n%s", raw, diff)
		}
	}
}

// The roll-up path must give exactly what the raw path gives, whatever the range's edges.
func TestRollupBucketsEqualRawBuckets(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, _ := s.EnsureApps(ctx, []string{"a"})
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(1, 2))
	at := base
	// Three days of irregular polls, each amount a distinct 4-place decimal.
	for at.Before(base.Add(72 * time.Hour)) {
		at = at.Add(time.Duration(1+r.IntN(29)) * time.Minute)
		b := decimal.New(r.Int64N(2_000_000)-500_000, -4)
		g := decimal.New(r.Int64N(10_000), -4)
		pgtest.Snapshot(t, s, ids["a"], balance.Snapshot{PolledAt: at, Currency: "USD", Balance: b, GiftBalance: g, TotalBalance: b.Add(g)})
	}
	ranges := [][2]time.Time{
		{base, base.Add(72 * time.Hour)},
		{base.Add(90*time.Minute + 17*time.Second), base.Add(50*time.Hour + 3*time.Minute)},
		{base.Add(5 * time.Hour), base.Add(5*time.Hour + 40*time.Minute)},
	}
	for _, rg := range ranges {
		for _, step := range []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour} {
			for _, amount := range []string{"total_balance", "balance"} {
				name := fmt.Sprintf("%s..%s/%s/%s", rg[0].Format("02T15:04:05"), rg[1].Format("02T15:04"), step, amount)
				fast, err := s.Buckets(ctx, "a", rg[0], rg[1], step, amount)
				if err != nil {
					t.Fatal(err)
				}
				slow, err := s.BucketsRaw(ctx, "a", rg[0], rg[1], step, amount)
				if err != nil {
					t.Fatal(err)
				}
				if len(slow) == 0 {
					t.Fatalf("%s: no buckets", name)
				}
				if diff := cmp.Diff(render(slow), render(fast)); diff != "" {
					t.Errorf("%s (-raw +rollup):\n%s", name, diff)
				}
			}
		}
	}
}

func render(bs []store.Bucket) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = fmt.Sprintf("%s first=%s last=%s min=%s max=%s", b.T.Format(time.RFC3339),
			b.First.StringFixed(4), b.Last.StringFixed(4), b.Min.StringFixed(4), b.Max.StringFixed(4))
	}
	return out
}
