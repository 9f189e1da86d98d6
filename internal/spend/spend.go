// Package spend reads the money over time: what changed between two consecutive snapshots
// (spend, top-up, gift expiry), burn rates, and the runway left at those rates. It is pure
// arithmetic on exact decimals: the store keeps the hourly ledger, the evaluator feeds the
// alert rules with what this package computes.
package spend

import (
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
)

// Delta is what happened to an app's money between two consecutive snapshots. For every
// pair, exactly: prev.TotalBalance + ToppedUp − Spent − GiftExpired = next.TotalBalance.
type Delta struct {
	Spent       decimal.Decimal // a decrease of total_balance not explained by expiring gift credit
	ToppedUp    decimal.Decimal // an increase of total_balance (a recharge or a gift grant)
	TopupPaid   decimal.Decimal // the balance delta of a top-up (its paid part)
	TopupGift   decimal.Decimal // the gift_balance delta of a top-up (its gift part)
	GiftExpired decimal.Decimal // gift credit that vanished while the paid balance held
}

// Between classifies the change from prev to next. explainable is how much the app could
// have spent in the interval at its usual rate (nil when unknown): a drop of gift_balance
// with balance unchanged or rising is an expiry when gift_balance fell to zero or by more
// than explainable; the part explainable covers still counts as spend.
func Between(prev, next balance.Snapshot, explainable *decimal.Decimal) Delta {
	d := Delta{Spent: decimal.Zero, ToppedUp: decimal.Zero, TopupPaid: decimal.Zero, TopupGift: decimal.Zero, GiftExpired: decimal.Zero}
	giftDrop := prev.GiftBalance.Sub(next.GiftBalance)
	if giftDrop.IsPositive() && !next.Balance.LessThan(prev.Balance) {
		switch {
		case next.GiftBalance.IsZero() && prev.GiftBalance.IsPositive():
			d.GiftExpired = giftDrop
		case explainable != nil && giftDrop.GreaterThan(*explainable):
			d.GiftExpired = giftDrop.Sub(*explainable)
		}
	}
	// What the total did beyond the expiry: up is a top-up, down is spend.
	rest := next.TotalBalance.Sub(prev.TotalBalance).Add(d.GiftExpired)
	if d.GiftExpired.GreaterThan(decimal.Zero) && rest.IsPositive() && next.Balance.Equal(prev.Balance) {
		// Gift credit cannot both expire and grow the total with the paid balance unchanged:
		// the total moved less than the gift did, so part of the "expiry" was a top-up of
		// gift credit. Keep the books exact by calling only the net drop an expiry.
		d.GiftExpired = d.GiftExpired.Sub(rest)
		rest = decimal.Zero
	}
	switch {
	case rest.IsPositive():
		d.ToppedUp = rest
		d.TopupPaid = next.Balance.Sub(prev.Balance)
		d.TopupGift = next.GiftBalance.Sub(prev.GiftBalance)
	case rest.IsNegative():
		d.Spent = rest.Neg()
	}
	return d
}

// PerHour is amount spread over d, per hour, rounded to 4 places (half away from zero).
func PerHour(amount decimal.Decimal, d time.Duration) decimal.Decimal {
	if d.Microseconds() <= 0 {
		return decimal.Zero // Postgres keeps microseconds: less is no time at all
	}
	micros := decimal.NewFromInt(d.Microseconds())
	return amount.Mul(decimal.NewFromInt(time.Hour.Microseconds())).DivRound(micros, 4)
}

// Left is how long amount lasts above floor at ratePerHour. ok is false when the rate is
// not positive (nothing is being spent: the runway is infinite). An amount already at or
// below the floor has no runway left.
func Left(amount, floor, ratePerHour decimal.Decimal) (left time.Duration, ok bool) {
	if !ratePerHour.IsPositive() {
		return 0, false
	}
	room := amount.Sub(floor)
	if !room.IsPositive() {
		return 0, true
	}
	secs := room.Mul(decimal.NewFromInt(3600)).Div(ratePerHour).Floor()
	if secs.GreaterThan(decimal.NewFromInt(int64(100 * 365 * 24 * 3600))) {
		secs = decimal.NewFromInt(int64(100 * 365 * 24 * 3600)) // a century is "forever" enough
	}
	return time.Duration(secs.IntPart()) * time.Second, true
}

// Hour is one row of the hourly ledger: what was spent in the UTC hour starting at Bucket.
type Hour struct {
	Bucket time.Time
	Spent  decimal.Decimal
}

// Inputs is what Compute reads: the app's hourly ledger for the trailing week and its raw
// snapshots for the trailing window, never more.
type Inputs struct {
	Now     time.Time
	FirstAt time.Time          // the app's first stored snapshot; zero when there is none
	Hours   []Hour             // ledger rows from HoursSince(Now, Window) on, oldest first
	Recent  []balance.Snapshot // snapshots after RecentSince(Now, Window), oldest first, with the one just before
	Window  time.Duration      // the drain window: a whole number of hours, at least one
	Day     time.Time          // the start of "today" in spend_day_timezone
}

// HoursSince is the first ledger bucket Compute needs: a week and a window back.
func HoursSince(now time.Time, window time.Duration) time.Time {
	return now.UTC().Truncate(time.Hour).Add(-7*24*time.Hour - max(window, time.Hour))
}

// RecentSince is where the raw snapshots Compute needs begin.
func RecentSince(now time.Time, window time.Duration) time.Time {
	return now.Add(-max(window, time.Hour))
}

// Stats is an app's spend as of Inputs.Now. Rates are per hour; nil means unknown.
type Stats struct {
	History     time.Duration // since the first snapshot
	Rate1h      *decimal.Decimal
	Rate24h     *decimal.Decimal
	Rate7d      *decimal.Decimal
	WindowSpent decimal.Decimal  // spent in the trailing drain window
	Typical     *decimal.Decimal // median spend per drain window over the trailing week; nil: no full window yet
	SpentToday  decimal.Decimal  // since Inputs.Day, by whole hours
}

// Compute reads the spend out of the ledger and the recent snapshots.
//
// The 1 h rate and the drain window come from the snapshots of that window (a few dozen
// rows); the 24 h and 7 d rates from the hourly ledger: the spend of the hours that began in
// the window's span, divided by the time those hours actually cover (less while the app is
// younger than the window), so young apps get a rate from the data they have.
func Compute(in Inputs) Stats {
	now := in.Now
	var s Stats
	s.WindowSpent, s.SpentToday = decimal.Zero, decimal.Zero
	if in.FirstAt.IsZero() || !now.After(in.FirstAt) {
		return s
	}
	s.History = now.Sub(in.FirstAt)

	hourAgo := now.Add(-time.Hour)
	windowStart := now.Add(-in.Window)
	spent1h := decimal.Zero
	for i := 1; i < len(in.Recent); i++ {
		at := in.Recent[i].PolledAt
		d := Between(in.Recent[i-1], in.Recent[i], nil)
		if at.After(hourAgo) {
			spent1h = spent1h.Add(d.Spent)
		}
		if at.After(windowStart) {
			s.WindowSpent = s.WindowSpent.Add(d.Spent)
		}
	}
	s.Rate1h = ptr(PerHour(spent1h, now.Sub(later(hourAgo, in.FirstAt))))
	s.Rate24h = ptr(ledgerRate(in, 24*time.Hour))
	s.Rate7d = ptr(ledgerRate(in, 7*24*time.Hour))

	day := in.Day.UTC().Truncate(time.Hour)
	for _, h := range in.Hours {
		if !h.Bucket.Before(day) {
			s.SpentToday = s.SpentToday.Add(h.Spent)
		}
	}
	s.Typical = typical(in)
	return s
}

// ledgerRate is the spend per hour of the ledger hours that began in the span before now.
func ledgerRate(in Inputs, span time.Duration) decimal.Decimal {
	from := in.Now.Add(-span).UTC().Truncate(time.Hour)
	sum := decimal.Zero
	for _, h := range in.Hours {
		if !h.Bucket.Before(from) {
			sum = sum.Add(h.Spent)
		}
	}
	return PerHour(sum, in.Now.Sub(later(from, in.FirstAt)))
}

// typical is the median (the lower of the two middle values for an even count) of the spend
// per drain window over the trailing week, over windows aligned to UTC multiples of the
// window that end before the current window begins and hold at least one ledger row.
func typical(in Inputs) *decimal.Decimal {
	w := max(in.Window, time.Hour)
	end := in.Now.Add(-w).UTC().Truncate(w) // windows starting before end are complete and past
	start := in.Now.Add(-7 * 24 * time.Hour).UTC().Truncate(w)
	if !start.Before(end) {
		return nil
	}
	sums := map[time.Time]decimal.Decimal{}
	for _, h := range in.Hours {
		if h.Bucket.Before(start) || !h.Bucket.Before(end) || h.Bucket.Before(in.FirstAt.Truncate(time.Hour)) {
			continue
		}
		k := h.Bucket.Truncate(w)
		sums[k] = sums[k].Add(h.Spent)
	}
	if len(sums) == 0 {
		return nil
	}
	vals := make([]decimal.Decimal, 0, len(sums))
	for _, v := range sums {
		vals = append(vals, v)
	}
	slices.SortFunc(vals, decimal.Decimal.Cmp)
	m := vals[(len(vals)-1)/2]
	return &m
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func ptr(d decimal.Decimal) *decimal.Decimal { return &d }

// Runway is what the runway alert and the API read: the time until amount reaches floor at
// the 24 h rate (the 1 h rate while the app has less than a day of history). Known is false
// while the app has less than minHistory of history; Infinite when nothing is being spent.
type Runway struct {
	Known, Infinite bool
	Left            time.Duration
	Rate            decimal.Decimal // per hour, the rate used
}

// RunwayOf computes the runway of amount above floor.
func (s Stats) RunwayOf(amount, floor decimal.Decimal, minHistory time.Duration) Runway {
	rate := s.Rate24h
	if s.History < 24*time.Hour {
		rate = s.Rate1h
	}
	if rate == nil || s.History < minHistory || s.History == 0 {
		return Runway{}
	}
	left, ok := Left(amount, floor, *rate)
	return Runway{Known: true, Infinite: !ok, Left: left, Rate: *rate}
}

// FromLedgerSums is Compute for readers of many apps at once (the metrics), from sums of the
// hourly ledger instead of its rows: spent1h, spent24h and spent7d are the spend of the ledger
// hours that began at or after the start of the previous hour, of the hour 24 h ago and of the
// hour 7 d ago. The 24 h and 7 d rates equal Compute's; the 1 h rate is approximate: it
// covers the last 60 to 120 minutes (whole ledger hours) instead of exactly the last hour.
// The drain window, the typical window and today's spend are left zero.
func FromLedgerSums(now, firstAt time.Time, spent1h, spent24h, spent7d decimal.Decimal) Stats {
	s := Stats{WindowSpent: decimal.Zero, SpentToday: decimal.Zero}
	if firstAt.IsZero() || !now.After(firstAt) {
		return s
	}
	s.History = now.Sub(firstAt)
	rate := func(sum decimal.Decimal, from time.Time) *decimal.Decimal {
		return ptr(PerHour(sum, now.Sub(later(from.UTC().Truncate(time.Hour), firstAt))))
	}
	s.Rate1h = rate(spent1h, now.UTC().Truncate(time.Hour).Add(-time.Hour))
	s.Rate24h = rate(spent24h, now.Add(-24*time.Hour))
	s.Rate7d = rate(spent7d, now.Add(-7*24*time.Hour))
	return s
}
