package evaluate_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// ledgerSetup is an evaluator over n apps named a0, a1, ... on a fresh database.
func ledgerSetup(t *testing.T, n int) (*evaluate.Evaluator, *store.Store, map[string]int64) {
	t.Helper()
	var apps strings.Builder
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("a%d", i)
		fmt.Fprintf(&apps, "  - {name: %s, dev_key: k, dev_secret: s}\n", names[i])
	}
	cfg, err := config.Parse([]byte(`
database: {url: "postgres://unused"}
defaults: {thresholds: {warning: "100", critical: "20"}, stale_after: 1h, notify: []}
apps:
`+apps.String()), func(string) (string, bool) { return "", false }, ".")
	if err != nil {
		t.Fatal(err)
	}
	st := pgtest.New(t)
	ids, err := st.EnsureApps(context.Background(), names)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	ev, err := evaluate.New(evaluate.Config{Store: st, Apps: cfg.Apps, AppIDs: ids, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return ev, st, ids
}

// ledgerRow is one spend_ledger_1h row with its amounts as 4-place strings.
type ledgerRow struct {
	Bucket                           string
	First, Last                      string
	Spent, ToppedUp, GiftExpired     string
	firstD, lastD, spentD, upD, expD decimal.Decimal
}

func ledgerRows(t *testing.T, st *store.Store, appID int64) []ledgerRow {
	t.Helper()
	rows, err := st.Pool().Query(context.Background(), `
		SELECT bucket, first_total, last_total, spent, topped_up, gift_expired
		FROM spend_ledger_1h WHERE app_id = $1 ORDER BY bucket`, appID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []ledgerRow
	for rows.Next() {
		var b time.Time
		var r ledgerRow
		if err := rows.Scan(&b, &r.firstD, &r.lastD, &r.spentD, &r.upD, &r.expD); err != nil {
			t.Fatal(err)
		}
		r.Bucket = b.UTC().Format("01-02T15")
		r.First, r.Last = r.firstD.StringFixed(4), r.lastD.StringFixed(4)
		r.Spent, r.ToppedUp, r.GiftExpired = r.spentD.StringFixed(4), r.upD.StringFixed(4), r.expD.StringFixed(4)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkInvariant checks first_total + topped_up − spent − gift_expired = last_total for every
// range of consecutive rows, exactly.
func checkInvariant(t *testing.T, label string, rows []ledgerRow) {
	t.Helper()
	for i := range rows {
		net := decimal.Zero
		for j := i; j < len(rows); j++ {
			net = net.Add(rows[j].upD).Sub(rows[j].spentD).Sub(rows[j].expD)
			if got := rows[i].firstD.Add(net); !got.Equal(rows[j].lastD) {
				t.Errorf("%s: rows %s..%s: first_total %s + topped_up − spent − gift_expired = %s, but last_total is %s",
					label, rows[i].Bucket, rows[j].Bucket, rows[i].First, got.StringFixed(4), rows[j].Last)
				return
			}
		}
	}
}

// obs is one poll of a synthetic series: a snapshot (paid and gift balance) or a failure.
type obs struct {
	at        time.Time
	bal, gift string // empty bal: a failed poll
}

func (o obs) snapshot() *balance.Snapshot {
	b, g := decimal.RequireFromString(o.bal), decimal.RequireFromString(o.gift)
	return &balance.Snapshot{PolledAt: o.at, Currency: "USD", Balance: b, GiftBalance: g, TotalBalance: b.Add(g)}
}

func observe(t *testing.T, ev *evaluate.Evaluator, app string, o obs) {
	t.Helper()
	var err error
	if o.bal == "" {
		_, err = ev.Observe(context.Background(), app, nil, &balance.Failure{At: o.at, Kind: balance.ServerError, HTTPStatus: 500, Code: 1000, Message: "internal error"})
	} else {
		_, err = ev.Observe(context.Background(), app, o.snapshot(), nil)
	}
	if err != nil {
		t.Fatalf("observe %s at %s: %v", app, o.at.Format(time.TimeOnly), err)
	}
}

// row builds an expected ledger row: bucket hour "MM-DDTHH", first, last, spent, topped up, expired.
func row(bucket, first, last, spent, up, expired string) ledgerRow {
	return ledgerRow{Bucket: bucket, First: first, Last: last, Spent: spent, ToppedUp: up, GiftExpired: expired}
}

func TestLedgerRows(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
	fail := func(minutes int) obs { return obs{at: at(minutes)} }
	cases := []struct {
		name   string
		series []obs
		want   []ledgerRow
	}{
		{
			name: "steady drain",
			series: []obs{
				{at(0), "100", "0"}, {at(20), "99", "0"}, {at(40), "98", "0"},
				{at(60), "97", "0"}, {at(80), "96", "0"}, {at(100), "95", "0"},
			},
			want: []ledgerRow{
				row("11-26T10", "100.0000", "98.0000", "2.0000", "0.0000", "0.0000"),
				row("11-26T11", "98.0000", "95.0000", "3.0000", "0.0000", "0.0000"),
			},
		},
		{
			// Four hours without a poll, a recharge of 500 inside: the later hour gets the net change.
			name: "top-up mid-gap",
			series: []obs{
				{at(0), "100", "0"}, {at(30), "90", "0"}, {at(250), "580.5", "0"}, {at(260), "579.25", "0"},
			},
			want: []ledgerRow{
				row("11-26T10", "100.0000", "90.0000", "10.0000", "0.0000", "0.0000"),
				row("11-26T14", "90.0000", "579.2500", "1.2500", "490.5000", "0.0000"),
			},
		},
		{
			name: "gift grant",
			series: []obs{
				{at(0), "100", "0"}, {at(10), "100", "50"}, {at(20), "90.1234", "50"}, {at(30), "590.1234", "60"},
			},
			want: []ledgerRow{
				row("11-26T10", "100.0000", "650.1234", "9.8766", "560.0000", "0.0000"),
			},
		},
		{
			name: "gift expiry",
			series: []obs{
				{at(0), "100", "30"}, {at(10), "99", "30"}, {at(70), "99", "0"}, {at(80), "98", "0"},
			},
			want: []ledgerRow{
				row("11-26T10", "130.0000", "129.0000", "1.0000", "0.0000", "0.0000"),
				row("11-26T11", "129.0000", "98.0000", "1.0000", "0.0000", "30.0000"),
			},
		},
		{
			name: "gift expiry and a recharge in one interval",
			series: []obs{
				{at(0), "100", "30"}, {at(10), "600", "0"},
			},
			want: []ledgerRow{
				row("11-26T10", "130.0000", "600.0000", "0.0000", "500.0000", "30.0000"),
			},
		},
		{
			name: "overdraft crossing",
			series: []obs{
				{at(0), "10", "0"}, {at(30), "-5.5", "0"}, {at(65), "-15.5", "0"}, {at(70), "84.5", "0"},
			},
			want: []ledgerRow{
				row("11-26T10", "10.0000", "-5.5000", "15.5000", "0.0000", "0.0000"),
				row("11-26T11", "-5.5000", "84.5000", "10.0000", "100.0000", "0.0000"),
			},
		},
		{
			name: "failed polls in between",
			series: []obs{
				{at(0), "100", "0"}, fail(10), fail(20), fail(30), {at(40), "97", "0"}, fail(70), {at(80), "96", "0"},
			},
			want: []ledgerRow{
				row("11-26T10", "100.0000", "97.0000", "3.0000", "0.0000", "0.0000"),
				row("11-26T11", "97.0000", "96.0000", "1.0000", "0.0000", "0.0000"),
			},
		},
		{
			// The 10:10 poll reached the lock after the 10:20 one: history, not booked twice.
			name: "replayed (overtaken) poll",
			series: []obs{
				{at(0), "100", "0"}, {at(20), "90", "0"}, {at(10), "95", "0"}, {at(30), "85", "0"},
			},
			want: []ledgerRow{
				row("11-26T10", "100.0000", "85.0000", "15.0000", "0.0000", "0.0000"),
			},
		},
	}
	ev, st, ids := ledgerSetup(t, len(cases))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := fmt.Sprintf("a%d", i)
			for _, o := range c.series {
				observe(t, ev, app, o)
			}
			got := ledgerRows(t, st, ids[app])
			if diff := cmp.Diff(c.want, got, cmpopts.IgnoreUnexported(ledgerRow{})); diff != "" {
				t.Errorf("ledger rows (-want +got):\n%s", diff)
			}
			checkInvariant(t, c.name, got)
		})
	}
}

// A snapshot overtaken by a newer failed poll (two polls raced, the failure won the lock) is
// still newer than every booked snapshot: the chain of booked totals must stay unbroken.
func TestLedgerSnapshotOvertakenByAFailure(t *testing.T) {
	ev, st, ids := ledgerSetup(t, 1)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for _, o := range []obs{
		{t0, "100", "0"},
		{at: t0.Add(20 * time.Minute)},             // failure
		{t0.Add(10 * time.Minute), "90", "0"},      // the older snapshot arrives after it
		{t0.Add(30 * time.Minute), "80", "0"},      // the next poll
		{t0.Add(70 * time.Minute), "70.1200", "0"}, // next hour
	} {
		observe(t, ev, "a0", o)
	}
	got := ledgerRows(t, st, ids["a0"])
	checkInvariant(t, "overtaken by a failure", got)
	if n := len(got); n == 0 || got[n-1].Last != "70.1200" {
		t.Errorf("ledger = %+v, want it to close at the newest total 70.1200", got)
	}
	if n := len(got); n > 0 && got[0].First != "100.0000" {
		t.Errorf("ledger opens at %s, want 100.0000", got[0].First)
	}
}

// Random series of spends, top-ups, gift grants and expiries, gaps, failed polls and overtaken
// polls: the ledger's invariant holds exactly over every range of rows, and the ledger closes
// at the newest evaluated snapshot's total.
func TestLedgerInvariantOverRandomSeries(t *testing.T) {
	const series, polls = 200, 30
	ev, st, ids := ledgerSetup(t, series)
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	type result struct {
		app    string
		newest decimal.Decimal
		steps  []string
	}
	results := make([]result, series)
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range jobs {
				r := rand.New(rand.NewPCG(42, uint64(i)))
				app := fmt.Sprintf("a%d", i)
				at := t0.Add(time.Duration(r.IntN(3600)) * time.Second)
				bal := decimal.New(r.Int64N(10_000_000), -4) // up to 1000.0000
				gift := decimal.Zero
				var newestAt time.Time
				var newest decimal.Decimal
				var steps []string
				var held []obs // polls held back, to arrive after newer ones
				send := func(o obs) {
					steps = append(steps, fmt.Sprintf("%s %s/%s", o.at.Format("01-02T15:04:05"), o.bal, o.gift))
					observe(t, ev, app, o)
					if o.bal != "" && o.at.After(newestAt) {
						newestAt, newest = o.at, o.snapshot().TotalBalance
					}
				}
				for range polls {
					// A poll interval from a minute to a gap of several hours.
					if r.IntN(10) == 0 {
						at = at.Add(time.Duration(1+r.IntN(6*3600)) * time.Second)
					} else {
						at = at.Add(time.Duration(60+r.IntN(1200)) * time.Second)
					}
					switch k := r.IntN(20); {
					case k < 2: // a failed poll, which may overtake a held snapshot
						send(obs{at: at})
						continue
					case k < 4: // a top-up of paid balance
						bal = bal.Add(decimal.New(r.Int64N(5_000_000), -4))
					case k < 5: // a gift grant
						gift = gift.Add(decimal.New(r.Int64N(1_000_000), -4))
					case k < 6: // the gift expires (sometimes with some paid spend)
						gift = decimal.Zero
						if r.IntN(2) == 0 {
							bal = bal.Sub(decimal.New(r.Int64N(100_000), -4))
						}
					default: // spend, from the gift first, into overdraft if it comes to that
						s := decimal.New(r.Int64N(300_000), -4)
						fromGift := decimal.Min(s, gift)
						gift = gift.Sub(fromGift)
						bal = bal.Sub(s.Sub(fromGift))
					}
					o := obs{at, bal.StringFixed(4), gift.StringFixed(4)}
					if r.IntN(12) == 0 {
						held = append(held, o) // a slow poll: it reaches the lock later
						continue
					}
					send(o)
					for len(held) > 0 && r.IntN(2) == 0 {
						send(held[0])
						held = held[1:]
					}
				}
				for _, o := range held {
					send(o)
				}
				results[i] = result{app: app, newest: newest, steps: steps}
			}
		})
	}
	for i := range series {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, res := range results {
		rows := ledgerRows(t, st, ids[res.app])
		before := t.Failed()
		checkInvariant(t, res.app, rows)
		if n := len(rows); n == 0 || !rows[n-1].lastD.Equal(res.newest) {
			t.Errorf("%s: the ledger closes at %v, want the newest snapshot's total %s", res.app, rows, res.newest.StringFixed(4))
		}
		if !before && t.Failed() {
			t.Logf("%s: the series was:\n%s", res.app, strings.Join(res.steps, "\n"))
			return // one series is enough to read
		}
	}
}

// Spending gift credit while the paid balance holds (EngageLab spends gift credit first) is
// spend, not expiry, when nothing says otherwise: the interval being judged must not be part of
// the "usual" rate that decides how much of a gift drop it explains (it was, before the fix in
// evaluate: with 20 minutes of history half of this drop was booked as expired).
func TestLedgerSpendFromGiftCredit(t *testing.T) {
	ev, st, ids := ledgerSetup(t, 1)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for _, o := range []obs{
		{t0, "100", "0"}, {t0.Add(10 * time.Minute), "100", "50"}, {t0.Add(20 * time.Minute), "100", "40.1234"},
	} {
		observe(t, ev, "a0", o)
	}
	want := []ledgerRow{row("11-26T10", "100.0000", "140.1234", "9.8766", "50.0000", "0.0000")}
	if diff := cmp.Diff(want, ledgerRows(t, st, ids["a0"]), cmpopts.IgnoreUnexported(ledgerRow{})); diff != "" {
		t.Errorf("ledger rows (-want +got):\n%s", diff)
	}
}
