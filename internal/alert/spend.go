package alert

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/spend"
)

// SpendRules are an app's runway, drain and daily spend rules.
type SpendRules struct {
	RunwayOff                     bool
	RunwayWarning, RunwayCritical time.Duration // Critical < Warning

	DrainOff        bool
	DrainFactor     decimal.Decimal // > 0
	DrainMin        decimal.Decimal // >= 0
	DrainMinHistory time.Duration

	DailyLimit *decimal.Decimal // nil: no daily_spend alert
}

// Spend is what the evaluator read of the app's spend as of an observation.
type Spend struct {
	Runway      spend.Runway     // of the app's chosen amount above its floor
	History     time.Duration    // since the app's first snapshot
	WindowSpent decimal.Decimal  // in the trailing drain window
	Typical     *decimal.Decimal // median spend per drain window over the trailing week; nil: none yet
	SpentToday  decimal.Decimal
}

// runwayResolveFactor is the hysteresis of the runway alert: leaving a level needs a runway
// a quarter above its threshold, so a runway hovering at 72 h sends nothing new.
var runwayResolveFactor = decimal.RequireFromString("1.25")

// drainHold is the hysteresis of the drain alert: once firing, it holds until the window's
// spend falls below this share of what fired it.
var drainHold = decimal.RequireFromString("0.8")

// settleSpend moves the three spend alerts. They move only on an observation that carries the
// spend (a snapshot, or a tick while daily_spend fires); otherwise they hold and remind.
func (c *evaluation) settleSpend(s *State, obs *Observation) {
	var sp *Spend
	if obs != nil {
		sp = obs.Spend
	}
	s.Runway = c.settleRunway(s.Runway, s.Money.Level, sp)
	s.Drain = c.settleDrain(s.Drain, sp)
	s.DailySpend = c.settleDaily(s.DailySpend, sp)
}

func (c *evaluation) settleRunway(a AlertState, money Level, sp *Spend) AlertState {
	r := c.rules.Spend
	switch {
	case r.RunwayOff:
		return c.settle(Runway, a, Level{}, nil, true)
	case rank(money) >= rank(lowCritical):
		// One thread per bad day: while money is critical or worse, the runway is old news.
		// It holds where it was, without reminders, and does not fire.
		return c.settle(Runway, a, a.Level, nil, false)
	case sp != nil:
		return c.settle(Runway, a, runwayLevel(a.Level, sp.Runway, r), nil, true)
	}
	return c.settle(Runway, a, a.Level, nil, true)
}

func (c *evaluation) settleDrain(a AlertState, sp *Spend) AlertState {
	r := c.rules.Spend
	next := a.Level
	switch {
	case r.DrainOff:
		next = Level{}
	case sp != nil && sp.History >= r.DrainMinHistory && sp.Typical != nil:
		next = drainLevel(a.Level, *sp, r)
	}
	return c.settle(Drain, a, next, nil, true)
}

func (c *evaluation) settleDaily(a AlertState, sp *Spend) AlertState {
	limit := c.rules.Spend.DailyLimit
	next := a.Level
	switch {
	case limit == nil:
		next = Level{}
	case sp != nil:
		next = Level{}
		if sp.SpentToday.GreaterThan(*limit) {
			next = dailySpend
		}
	}
	return c.settle(DailySpend, a, next, nil, true)
}

// runwayLevel is the runway level from current: raising at the thresholds, lowering only
// once the runway is a quarter above the threshold of the level it leaves. An unknown
// runway (too little history) holds the level; an infinite one (nothing spent) clears it.
func runwayLevel(current Level, rw spend.Runway, r SpendRules) Level {
	if !rw.Known {
		return current
	}
	if rw.Infinite {
		return Level{}
	}
	at := func(scale decimal.Decimal) Level {
		left := decimal.NewFromInt(int64(rw.Left))
		switch {
		case left.LessThan(decimal.NewFromInt(int64(r.RunwayCritical)).Mul(scale)):
			return runwayCritical
		case left.LessThan(decimal.NewFromInt(int64(r.RunwayWarning)).Mul(scale)):
			return runwayWarning
		}
		return Level{}
	}
	raw := at(decimal.NewFromInt(1))
	if rank(raw) >= rank(current) {
		return raw
	}
	held := at(runwayResolveFactor)
	if rank(held) >= rank(current) {
		return current
	}
	return held
}

// drainLevel fires abnormal_spend when the window's spend is above factor × typical and at
// least min; once firing it holds until the spend falls below 80 % of either bound.
func drainLevel(current Level, sp Spend, r SpendRules) Level {
	over := func(scale decimal.Decimal) bool {
		bound := r.DrainFactor.Mul(*sp.Typical).Mul(scale)
		return sp.WindowSpent.GreaterThan(bound) && !sp.WindowSpent.LessThan(r.DrainMin.Mul(scale))
	}
	if over(decimal.NewFromInt(1)) || (current.Firing() && over(drainHold)) {
		return abnormalSpend
	}
	return Level{}
}
