// Package alert decides, for one app, which of its alerts (money, access,
// data, and the spend alerts runway, drain and daily_spend) fire after a poll
// or a timer tick, and which events that means.
//
// It is pure: Evaluate maps (previous state, observation, rules, clock) to
// (new state, events). It neither stores, sends nor schedules anything: the
// store persists State and the events (in the transaction that holds the
// app's row lock), and the notify package turns events into messages.
package alert

import (
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/shopspring/decimal"
)

// Severity is how urgent a level is; notifiers filter on it.
type Severity string

const (
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
	SeverityInfo     Severity = "info" // non-alert events
)

// Kind names one of the three alerts every app has.
type Kind string

const (
	Money      Kind = "money"
	Access     Kind = "access"
	Data       Kind = "data"
	Runway     Kind = "runway"
	Drain      Kind = "drain"
	DailySpend Kind = "daily_spend"
)

// Kinds lists every alert kind in the order events are reported.
var Kinds = []Kind{Money, Access, Data, Runway, Drain, DailySpend}

// EventType is the message type of a transition, as in the webhook body.
type EventType string

const (
	Firing      EventType = "alert.firing"
	Escalated   EventType = "alert.escalated"
	Deescalated EventType = "alert.deescalated"
	Reminder    EventType = "alert.reminder"
	Resolved    EventType = "alert.resolved"
	// Events that are not alerts: what a snapshot showed of the money, no level, no state.
	Topup       EventType = "balance.topup"
	GiftExpired EventType = "balance.gift_expired"
)

// Rule names, as stored and shown to users.
const (
	RuleLowBalance     = "low_balance"
	RuleOverdraft      = "overdraft"
	RuleOverdraftLimit = "overdraft_limit"
	RuleAuthFailed     = "auth_failed"
	RuleAppUnavailable = "app_unavailable"
	RulePollFailing    = "poll_failing"
	RuleStale          = "stale"
	RuleRunwayLow      = "runway_low"
	RuleAbnormalSpend  = "abnormal_spend"
	RuleDailySpend     = "daily_spend_limit"
)

// Level is a rung on an alert's ladder; the zero Level means "not firing".
type Level struct {
	Rule     string
	Severity Severity
}

// Firing reports whether l is a level rather than "not firing".
func (l Level) Firing() bool { return l.Rule != "" }

var (
	lowWarning     = Level{RuleLowBalance, SeverityWarning}
	lowCritical    = Level{RuleLowBalance, SeverityCritical}
	overdraft      = Level{RuleOverdraft, SeverityCritical}
	overdraftLimit = Level{RuleOverdraftLimit, SeverityCritical}
	authFailed     = Level{RuleAuthFailed, SeverityCritical}
	appUnavailable = Level{RuleAppUnavailable, SeverityCritical}
	pollFailing    = Level{RulePollFailing, SeverityWarning}
	stale          = Level{RuleStale, SeverityWarning}
	runwayWarning  = Level{RuleRunwayLow, SeverityWarning}
	runwayCritical = Level{RuleRunwayLow, SeverityCritical}
	abnormalSpend  = Level{RuleAbnormalSpend, SeverityCritical}
	dailySpend     = Level{RuleDailySpend, SeverityWarning}
)

// rank orders the levels of one alert; 0 is "not firing". The two access
// levels share a rank: neither is worse than the other, and moving between
// them is news, so it is reported as an escalation (a de-escalation would
// read as an improvement).
func rank(l Level) int {
	switch l {
	case lowWarning, pollFailing, authFailed, appUnavailable, runwayWarning, abnormalSpend, dailySpend:
		return 1
	case lowCritical, stale, runwayCritical:
		return 2
	case overdraft:
		return 3
	case overdraftLimit:
		return 4
	}
	return 0
}

// AlertState is one alert of one app.
type AlertState struct {
	Level      Level
	Since      time.Time // when this firing episode began; zero when not firing
	LevelSince time.Time // when the current level was reached
	LastSentAt time.Time // time of the last firing/escalated/deescalated/reminder event: the reminder clock
	// Sent is the level the last message that was not silenced announced: zero when nothing of
	// this episode was sent. When a silence ends, a level that moved meanwhile is announced
	// as the transition from Sent, not as a reminder.
	Sent Level
}

// State is everything Evaluate needs to remember about one app between calls.
type State struct {
	Money, Access, Data       AlertState
	Runway, Drain, DailySpend AlertState
	ConsecutiveFailures       int       // failed polls in a row (any failure kind), reset by a success
	LastSuccessAt             time.Time // zero if never
	SilencedUntil             time.Time // zero = not silenced
}

// Alert returns the state of alert k (zero for an unknown kind).
func (s State) Alert(k Kind) AlertState {
	switch k {
	case Money:
		return s.Money
	case Access:
		return s.Access
	case Data:
		return s.Data
	case Runway:
		return s.Runway
	case Drain:
		return s.Drain
	case DailySpend:
		return s.DailySpend
	}
	return AlertState{}
}

// Set replaces the state of alert k (an unknown kind is ignored).
func (s *State) Set(k Kind, a AlertState) {
	switch k {
	case Money:
		s.Money = a
	case Access:
		s.Access = a
	case Data:
		s.Data = a
	case Runway:
		s.Runway = a
	case Drain:
		s.Drain = a
	case DailySpend:
		s.DailySpend = a
	}
}

// accessLevel is the access level a failed poll fires: only an answer that says the key or
// the app is unusable does; anything else is a data failure.
func accessLevel(f *balance.Failure) Level {
	switch f.Kind {
	case balance.AuthFailed:
		return authFailed
	case balance.AppUnavailable:
		return appUnavailable
	}
	return Level{}
}

// Observation is the result of one poll: exactly one of Snapshot and
// Failure is set (one with neither counts as a tick). Spend, when set, is the
// app's spend as of At; the spend alerts move only when it is.
type Observation struct {
	At       time.Time
	Snapshot *balance.Snapshot
	Failure  *balance.Failure
	Spend    *Spend
}

// Rules are an app's configured alert rules.
type Rules struct {
	Amount             string           // balance.AmountTotalBalance (also when empty) or balance.AmountBalance: what low_balance compares
	Warning, Critical  decimal.Decimal  // Critical < Warning
	ResolveMargin      decimal.Decimal  // >= 0
	OverdraftWarnRatio decimal.Decimal  // in (0, 1]
	OverdraftLimit     *decimal.Decimal // nil: no overdraft_limit rule
	RepeatEvery        time.Duration    // 0: no reminders
	StaleAfter         time.Duration    // 0: no stale rule
	Spend              SpendRules
}

// threshold is the configured amount behind a low_balance level, nil for
// any other level (the webhook's "threshold" field exists only for those).
func (r Rules) threshold(l Level) *decimal.Decimal {
	var t decimal.Decimal
	switch l {
	case lowWarning:
		t = r.Warning
	case lowCritical:
		t = r.Critical
	default:
		return nil
	}
	return &t
}

// Event is one transition of one alert.
type Event struct {
	Type     EventType
	Alert    Kind
	Level    Level // the level after the transition; for Resolved, the level that just ended
	Previous Level // set on Escalated and Deescalated only
	Since    time.Time
	At       time.Time
	// Threshold is the threshold of Level when Level is a low_balance level
	// (so a Resolved or Deescalated event names the threshold of the level
	// it leaves or reaches as Level says); nil otherwise.
	Threshold *decimal.Decimal
	// Failure is the failed poll of this call that caused or continues an
	// access or data alert: an access failure for access events, any
	// failure for data events. Nil on Resolved, for money, and on a tick
	// (State does not keep the last failure).
	Failure *balance.Failure
	// Silenced events are recorded but must not be sent.
	Silenced bool
	// Damped events are Silenced because their alert is flapping (see Damp).
	Damped bool
	// Flap is set on a Flapping event and on the event that ends a flap.
	Flap *FlapDetail
}

// Silence returns s silenced until until, which the caller checks is in the
// future (a silence already over would only produce its end reminders).
func Silence(s State, until time.Time) State {
	s.SilencedUntil = until
	return s
}

// Unsilence ends a silence at now. Evaluate, called with the result at now,
// sends the reminders that end a silence.
func Unsilence(s State, now time.Time) State {
	if now.Before(s.SilencedUntil) {
		s.SilencedUntil = now
	}
	return s
}

// dataFailuresToFire is how many failed polls in a row fire poll_failing.
const dataFailuresToFire = 3

// Evaluate applies one observation at now; a nil obs is a timer tick, which
// only sends reminders, checks staleness and ends silences. startedAt is when
// this process started: staleness is measured from the later of
// State.LastSuccessAt and startedAt, so a monitor that was down does not call
// every app stale the moment it comes back.
//
// Events come in the order money, access, data.
func Evaluate(prev State, obs *Observation, r Rules, now, startedAt time.Time) (State, []Event) {
	s := prev
	c := evaluation{rules: r, now: now}
	if !s.SilencedUntil.IsZero() && !now.Before(s.SilencedUntil) {
		s.SilencedUntil = time.Time{}
		c.silenceEnded = true
	}
	c.silenced = now.Before(s.SilencedUntil)

	var snap *balance.Snapshot
	var fail *balance.Failure
	if obs != nil {
		snap, fail = obs.Snapshot, obs.Failure
	}
	switch {
	case snap != nil:
		fail = nil
		s.ConsecutiveFailures = 0
		s.LastSuccessAt = obs.At
	case fail != nil:
		s.ConsecutiveFailures++
	}

	// A failed poll is no data: the money alert moves only on a snapshot.
	money := s.Money.Level
	if snap != nil {
		money = moneyLevel(s.Money.Level, *snap, r)
	}
	s.Money = c.settle(Money, s.Money, money, nil, true)

	access := s.Access.Level
	var accessFailure *balance.Failure
	switch {
	case snap != nil:
		access = Level{}
	case fail != nil && accessLevel(fail).Firing():
		access = accessLevel(fail)
		accessFailure = fail
	}
	s.Access = c.settle(Access, s.Access, access, accessFailure, true)

	// While access fires, the data alert is frozen where it was: a revoked
	// key is one auth_failed message, not a poll_failing and a stale after
	// it. Only a success, which also resolves access, thaws it.
	if s.Access.Level.Firing() {
		s.Data = c.settle(Data, s.Data, s.Data.Level, nil, false)
	} else {
		data := Level{}
		if snap == nil {
			// Only a success lowers the data alert: a restart that moves
			// startedAt forward proves nothing about the data.
			data = s.Data.Level
			if raw := dataLevel(s, r, now, startedAt); rank(raw) > rank(data) {
				data = raw
			}
		}
		s.Data = c.settle(Data, s.Data, data, fail, true)
	}
	c.settleSpend(&s, obs)
	return s, c.events
}

// moneyLevel is the money level a snapshot leads to from current. Raising
// happens at the raw thresholds; lowering needs the amount at the left
// level's threshold + ResolveMargin, so a balance hovering at a threshold
// sends nothing new.
func moneyLevel(current Level, s balance.Snapshot, r Rules) Level {
	rungs := moneyRungs(s, r)
	raw := highestRung(rungs, decimal.Zero, true)
	if rank(raw) >= rank(current) {
		return raw
	}
	// held >= raw: raising the thresholds keeps every rung raw found, except
	// overdraft_limit exactly at its threshold, which is the top and returned above.
	held := highestRung(rungs, r.ResolveMargin, false)
	if rank(held) > rank(current) {
		return current
	}
	return held
}

// rung is one money level and the comparison that fires it.
type rung struct {
	level     Level
	value     decimal.Decimal
	threshold decimal.Decimal
	inclusive bool // fires at value == threshold too ("arrears >= ratio x limit")
}

// moneyRungs lists the money levels lowest first.
func moneyRungs(s balance.Snapshot, r Rules) []rung {
	amount := s.Amount(r.Amount)
	rungs := []rung{
		{level: lowWarning, value: amount, threshold: r.Warning},
		{level: lowCritical, value: amount, threshold: r.Critical},
		{level: overdraft, value: s.TotalBalance, threshold: decimal.Zero},
	}
	if r.OverdraftLimit != nil {
		rungs = append(rungs, rung{
			level:     overdraftLimit,
			value:     s.TotalBalance,
			threshold: r.OverdraftWarnRatio.Mul(*r.OverdraftLimit).Neg(),
			inclusive: true,
		})
	}
	return rungs
}

// highestRung returns the highest level whose threshold, raised by margin,
// the value is below. raw says whether to honour inclusive rungs: leaving a
// level always needs the value at or above threshold + margin.
func highestRung(rungs []rung, margin decimal.Decimal, raw bool) Level {
	var l Level
	for _, g := range rungs {
		t := g.threshold.Add(margin)
		if g.value.LessThan(t) || (raw && g.inclusive && g.value.Equal(t)) {
			if rank(g.level) > rank(l) {
				l = g.level
			}
		}
	}
	return l
}

// dataLevel is the data level the failure count and the clock call for.
func dataLevel(s State, r Rules, now, startedAt time.Time) Level {
	from := s.LastSuccessAt
	if startedAt.After(from) {
		from = startedAt
	}
	switch {
	case r.StaleAfter > 0 && now.Sub(from) >= r.StaleAfter:
		return stale
	case s.ConsecutiveFailures >= dataFailuresToFire:
		return pollFailing
	}
	return Level{}
}

// evaluation collects the events of one Evaluate call.
type evaluation struct {
	rules        Rules
	now          time.Time
	silenced     bool // the app is silenced at now: record events, mark them
	silenceEnded bool // a silence ended at or before now and is cleared in this call
	events       []Event
}

// settle moves alert k from a to next and records the event that means: a
// transition, or else a reminder when one is due and mayRemind. When a
// silence has just ended, every alert still firing gets exactly one event,
// the transition if there is one, else a reminder.
func (c *evaluation) settle(k Kind, a AlertState, next Level, failure *balance.Failure, mayRemind bool) AlertState {
	ev := Event{Alert: k, Level: next, Since: a.Since, At: c.now, Silenced: c.silenced}
	switch {
	case next == a.Level:
		if !a.Level.Firing() || !mayRemind || !c.reminderDue(a) {
			return a
		}
		ev.Type = Reminder
		if c.silenceEnded && a.Sent != a.Level {
			// What changed while the silence held is news: say it as the transition from what
			// people last heard (or as a firing, when they heard nothing of this episode).
			ev.Type = Firing
			if a.Sent.Firing() {
				ev.Type, ev.Previous = Escalated, a.Sent
				if rank(a.Level) < rank(a.Sent) {
					ev.Type = Deescalated
				}
			}
		}
		a.LastSentAt = c.now
	case !a.Level.Firing():
		ev.Type = Firing
		ev.Since = c.now
		a = AlertState{Level: next, Since: c.now, LevelSince: c.now, LastSentAt: c.now}
	case !next.Firing():
		ev.Type = Resolved
		ev.Level = a.Level
		failure = nil
		a = AlertState{}
	default:
		ev.Type = Escalated
		if rank(next) < rank(a.Level) {
			ev.Type = Deescalated
		}
		ev.Previous = a.Level
		a.Level, a.LevelSince, a.LastSentAt = next, c.now, c.now
	}
	ev.Threshold = c.rules.threshold(ev.Level)
	if failure != nil {
		f := *failure
		ev.Failure = &f
	}
	if !ev.Silenced && ev.Type != Resolved {
		a.Sent = a.Level
	}
	c.events = append(c.events, ev)
	return a
}

func (c *evaluation) reminderDue(a AlertState) bool {
	if c.silenceEnded {
		return true
	}
	return !c.silenced && c.rules.RepeatEvery > 0 && c.now.Sub(a.LastSentAt) >= c.rules.RepeatEvery
}
