package spend

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func sn(at time.Time, bal, gift string) balance.Snapshot {
	return balance.Snapshot{PolledAt: at, Currency: "USD", Balance: d(bal), GiftBalance: d(gift), TotalBalance: d(bal).Add(d(gift))}
}

func fixed(p *decimal.Decimal) string {
	if p == nil {
		return "nil"
	}
	return p.StringFixed(4)
}

func TestBetween(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	ten := d("10")
	cases := []struct {
		name            string
		prev, next      balance.Snapshot
		explainable     *decimal.Decimal
		spent, up, paid string
		gift, expired   string
	}{
		{"no change", sn(t0, "100", "5"), sn(t0, "100", "5"), nil, "0.0000", "0.0000", "0.0000", "0.0000", "0.0000"},
		{"spend from paid", sn(t0, "100", "0"), sn(t0, "97.5", "0"), nil, "2.5000", "0.0000", "0.0000", "0.0000", "0.0000"},
		{"recharge", sn(t0, "10", "0"), sn(t0, "510", "0"), nil, "0.0000", "500.0000", "500.0000", "0.0000", "0.0000"},
		{"recharge with a gift", sn(t0, "10", "1"), sn(t0, "510", "51"), nil, "0.0000", "550.0000", "500.0000", "50.0000", "0.0000"},
		{"net of a spend and a recharge", sn(t0, "10", "0"), sn(t0, "490", "0"), nil, "0.0000", "480.0000", "480.0000", "0.0000", "0.0000"},
		{"gift falls to zero", sn(t0, "100", "30"), sn(t0, "100", "0"), nil, "0.0000", "0.0000", "0.0000", "0.0000", "30.0000"},
		{"gift falls to zero, paid rises", sn(t0, "100", "30"), sn(t0, "600", "0"), nil, "0.0000", "500.0000", "500.0000", "-30.0000", "30.0000"},
		{"gift falls to zero while paid is spent", sn(t0, "100", "30"), sn(t0, "95", "0"), nil, "35.0000", "0.0000", "0.0000", "0.0000", "0.0000"},
		{"gift falls, rate unknown: spend", sn(t0, "100", "30"), sn(t0, "100", "12"), nil, "18.0000", "0.0000", "0.0000", "0.0000", "0.0000"},
		{"gift falls within what the rate explains", sn(t0, "100", "30"), sn(t0, "100", "22"), &ten, "8.0000", "0.0000", "0.0000", "0.0000", "0.0000"},
		{"gift falls beyond what the rate explains", sn(t0, "100", "30"), sn(t0, "100", "12"), &ten, "10.0000", "0.0000", "0.0000", "0.0000", "8.0000"},
		{"into overdraft", sn(t0, "5", "0"), sn(t0, "-7.1234", "0"), nil, "12.1234", "0.0000", "0.0000", "0.0000", "0.0000"},
		{"out of overdraft", sn(t0, "-7", "0"), sn(t0, "93", "0"), nil, "0.0000", "100.0000", "100.0000", "0.0000", "0.0000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Between(c.prev, c.next, c.explainable)
			gotS := []string{got.Spent.StringFixed(4), got.ToppedUp.StringFixed(4), got.TopupPaid.StringFixed(4), got.TopupGift.StringFixed(4), got.GiftExpired.StringFixed(4)}
			want := []string{c.spent, c.up, c.paid, c.gift, c.expired}
			for i, name := range []string{"spent", "topped_up", "paid", "gift", "gift_expired"} {
				if gotS[i] != want[i] {
					t.Errorf("%s = %s, want %s", name, gotS[i], want[i])
				}
			}
			// The books balance exactly for every pair.
			if sum := c.prev.TotalBalance.Add(got.ToppedUp).Sub(got.Spent).Sub(got.GiftExpired); !sum.Equal(c.next.TotalBalance) {
				t.Errorf("prev + topped_up − spent − gift_expired = %s, want %s", sum, c.next.TotalBalance)
			}
		})
	}
}

func TestPerHourAndLeft(t *testing.T) {
	if got := PerHour(d("10"), 40*time.Minute).StringFixed(4); got != "15.0000" {
		t.Errorf("PerHour(10, 40m) = %s, want 15.0000", got)
	}
	if got := PerHour(d("1"), 3*time.Hour).StringFixed(4); got != "0.3333" {
		t.Errorf("PerHour(1, 3h) = %s, want 0.3333", got)
	}
	if got := PerHour(d("1"), 0); !got.IsZero() {
		t.Errorf("PerHour over nothing = %s, want 0", got)
	}
	if left, ok := Left(d("100"), d("0"), d("2.5")); !ok || left != 40*time.Hour {
		t.Errorf("Left(100, 0, 2.5) = %v, %v; want 40h", left, ok)
	}
	if left, ok := Left(d("-50"), d("-200"), d("10")); !ok || left != 15*time.Hour {
		t.Errorf("Left(-50, floor -200, 10) = %v, %v; want 15h", left, ok)
	}
	if left, ok := Left(d("-250"), d("-200"), d("10")); !ok || left != 0 {
		t.Errorf("below the floor: %v, %v; want 0, true", left, ok)
	}
	if _, ok := Left(d("100"), d("0"), d("0")); ok {
		t.Error("nothing spent: want an infinite runway (ok false)")
	}
	if left, _ := Left(d("100"), d("0"), d("3")); left != 33*time.Hour+20*time.Minute {
		t.Errorf("Left(100, 0, 3) = %v, want 33h20m0s (whole seconds, rounded down)", left)
	}
}

func TestCompute(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return time.Date(2026, 11, 26, h, m, 0, 0, time.UTC) }
	in := Inputs{
		Now:     now,
		FirstAt: at(10, 0),
		Hours:   []Hour{{at(10, 0), d("3")}, {at(11, 0), d("6")}, {at(12, 0), d("2")}},
		Recent:  []balance.Snapshot{sn(at(11, 20), "100", "0"), sn(at(11, 40), "98", "0"), sn(at(12, 0), "97", "0"), sn(at(12, 20), "95.5", "0")},
		Window:  time.Hour,
		Day:     at(0, 0),
	}
	s := Compute(in)
	if s.History != 150*time.Minute {
		t.Errorf("History = %v, want 2h30m", s.History)
	}
	got := map[string]string{
		"rate_1h": fixed(s.Rate1h), "rate_24h": fixed(s.Rate24h), "rate_7d": fixed(s.Rate7d),
		"window": s.WindowSpent.StringFixed(4), "typical": fixed(s.Typical), "today": s.SpentToday.StringFixed(4),
	}
	want := map[string]string{
		"rate_1h":  "4.5000", // 2 + 1 + 1.5 over the last hour
		"rate_24h": "4.4000", // 11 over the 2.5 h the app has existed
		"rate_7d":  "4.4000",
		"window":   "4.5000",
		"typical":  "3.0000", // the only whole past window: 10:00-11:00
		"today":    "11.0000",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %s, want %s", k, got[k], w)
		}
	}

	// A day in a time zone ahead of UTC began at 23:00 UTC the day before.
	in.Day = time.Date(2026, 11, 26, 11, 0, 0, 0, time.FixedZone("UTC+1", 3600)).Add(-11 * time.Hour) // 00:00 local = 23:00 UTC
	in.Hours = append([]Hour{{at(10, 0).Add(-12 * time.Hour), d("100")}, {at(10, 0).Add(-11 * time.Hour), d("1")}}, in.Hours...)
	in.FirstAt = at(10, 0).Add(-12 * time.Hour)
	if got := Compute(in).SpentToday.StringFixed(4); got != "12.0000" {
		t.Errorf("SpentToday from 23:00 UTC = %s, want 12.0000 (the 23:00 hour counts, the 22:00 one not)", got)
	}
}

func TestComputeWithoutHistory(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	s := Compute(Inputs{Now: now, Window: time.Hour})
	if s.Rate1h != nil || s.Rate24h != nil || s.Rate7d != nil || s.Typical != nil || s.History != 0 {
		t.Errorf("no snapshot yet: %+v, want every rate unknown", s)
	}
	if r := s.RunwayOf(d("100"), d("0"), time.Hour); r.Known {
		t.Errorf("runway without history = %+v, want unknown", r)
	}
}

// The typical spend of a window is the median over the trailing week's whole past windows
// (the lower middle value for an even count), hours without a ledger row left out.
func TestTypicalIsTheMedian(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	at := func(h int) time.Time { return time.Date(2026, 11, 26, h, 0, 0, 0, time.UTC) }
	hours := []Hour{{at(6), d("5")}, {at(7), d("1")}, {at(8), d("3")}, {at(9), d("2")},
		{at(11), d("900")}} // 11:00 is the current window: not typical yet
	in := Inputs{Now: now, FirstAt: at(6), Hours: hours, Window: time.Hour}
	if got := fixed(Compute(in).Typical); got != "2.0000" {
		t.Errorf("median of 5, 1, 3, 2 = %s, want 2.0000 (lower middle)", got)
	}
	in.Hours = append(in.Hours[:4:4], Hour{at(10), d("4")}, hours[4])
	if got := fixed(Compute(in).Typical); got != "3.0000" {
		t.Errorf("median of 5, 1, 3, 2, 4 = %s, want 3.0000", got)
	}
	// Two-hour windows aligned to UTC: 06-08 = 6, 08-10 = 5; 10-12 is not over yet.
	in.Window = 2 * time.Hour
	if got := fixed(Compute(in).Typical); got != "5.0000" {
		t.Errorf("median of 2 h windows = %s, want 5.0000", got)
	}
}

func TestRunwayOf(t *testing.T) {
	r1, r24 := d("10"), d("2.5")
	young := Stats{History: 2 * time.Hour, Rate1h: &r1, Rate24h: &r24}
	old := Stats{History: 48 * time.Hour, Rate1h: &r1, Rate24h: &r24}
	zero := decimal.Zero
	idle := Stats{History: 48 * time.Hour, Rate1h: &zero, Rate24h: &zero}
	cases := []struct {
		name          string
		s             Stats
		amount, floor string
		minHistory    time.Duration
		want          Runway
	}{
		{"under a day: the 1 h rate", young, "100", "0", time.Hour, Runway{Known: true, Left: 10 * time.Hour, Rate: r1}},
		{"a day or more: the 24 h rate", old, "100", "0", time.Hour, Runway{Known: true, Left: 40 * time.Hour, Rate: r24}},
		{"overdraft floor", old, "-50", "-200", time.Hour, Runway{Known: true, Left: 60 * time.Hour, Rate: r24}},
		{"below the floor", old, "-250", "-200", time.Hour, Runway{Known: true, Left: 0, Rate: r24}},
		{"too little history", young, "100", "0", 3 * time.Hour, Runway{}},
		{"nothing spent", idle, "100", "0", time.Hour, Runway{Known: true, Infinite: true, Rate: zero}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.s.RunwayOf(d(c.amount), d(c.floor), c.minHistory)
			if got.Known != c.want.Known || got.Infinite != c.want.Infinite || got.Left != c.want.Left || !got.Rate.Equal(c.want.Rate) {
				t.Errorf("RunwayOf = %+v, want %+v", got, c.want)
			}
		})
	}
}

// The metrics' rates from ledger sums equal Compute's for 24 h and 7 d; the 1 h one covers the
// whole previous hour too.
func TestFromLedgerSums(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	at := func(h int) time.Time { return time.Date(2026, 11, 26, h, 0, 0, 0, time.UTC) }
	in := Inputs{Now: now, FirstAt: at(10).Add(-26 * time.Hour), Window: time.Hour,
		Hours: []Hour{{at(10).Add(-26 * time.Hour), d("50")}, {at(10), d("3")}, {at(11), d("6")}, {at(12), d("2")}}}
	want := Compute(in)
	got := FromLedgerSums(now, in.FirstAt, d("8"), d("11"), d("61"))
	if fixed(got.Rate24h) != fixed(want.Rate24h) || fixed(got.Rate7d) != fixed(want.Rate7d) || got.History != want.History {
		t.Errorf("FromLedgerSums = 24h %s, 7d %s, history %v; Compute = %s, %s, %v",
			fixed(got.Rate24h), fixed(got.Rate7d), got.History, fixed(want.Rate24h), fixed(want.Rate7d), want.History)
	}
	if g := fixed(got.Rate1h); g != "5.3333" { // 6 + 2 over 11:00-12:30
		t.Errorf("1 h rate from sums = %s, want 5.3333", g)
	}
	if s := FromLedgerSums(now, time.Time{}, d("1"), d("1"), d("1")); s.Rate1h != nil || s.Rate24h != nil {
		t.Errorf("no first snapshot: %+v, want unknown rates", s)
	}
}
