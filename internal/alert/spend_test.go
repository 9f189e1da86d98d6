package alert

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/spend"
)

func spendRules(r *Rules) {
	r.Spend = SpendRules{
		RunwayWarning: 72 * time.Hour, RunwayCritical: 24 * time.Hour,
		DrainFactor: *dec("5"), DrainMin: *dec("20"), DrainMinHistory: 24 * time.Hour,
		DailyLimit: dec("500"),
	}
}

// healthy is spend that fires nothing: two weeks of history, ten days of runway, a normal hour.
func healthy() Spend {
	return Spend{
		Runway:  spend.Runway{Known: true, Left: 240 * time.Hour, Rate: *dec("1")},
		History: 14 * 24 * time.Hour, WindowSpent: *dec("1"), Typical: dec("1"), SpentToday: *dec("10"),
	}
}

func withSpend(total string, change func(*Spend)) *Observation {
	o := ok(total)
	sp := healthy()
	if change != nil {
		change(&sp)
	}
	o.Spend = &sp
	return o
}

func runwayLeft(d time.Duration) func(*Spend) { return func(s *Spend) { s.Runway.Left = d } }

func TestSpendAlerts(t *testing.T) {
	warning := firing(runwayWarning, ago(2*time.Hour), ago(time.Hour))
	critical := firing(runwayCritical, ago(2*time.Hour), ago(time.Hour))
	drainFiring := firing(abnormalSpend, ago(2*time.Hour), ago(time.Hour))
	dailyFiring := firing(dailySpend, ago(2*time.Hour), ago(time.Hour))
	type want struct {
		typ   EventType
		alert Kind
		level Level
	}
	tests := []struct {
		name  string
		rules func(*Rules)
		prev  State
		obs   *Observation
		want  []want
	}{
		{name: "healthy spend fires nothing", obs: withSpend("150", nil)},
		{name: "runway under 72h fires a warning", obs: withSpend("150", runwayLeft(48*time.Hour)),
			want: []want{{Firing, Runway, runwayWarning}}},
		{name: "runway under 24h escalates", prev: State{Runway: warning}, obs: withSpend("150", runwayLeft(10*time.Hour)),
			want: []want{{Escalated, Runway, runwayCritical}}},
		{name: "runway just above the warning holds (hysteresis)", prev: State{Runway: warning},
			obs: withSpend("150", runwayLeft(80*time.Hour))},
		{name: "runway above warning x 1.25 resolves", prev: State{Runway: warning},
			obs: withSpend("150", runwayLeft(91*time.Hour)), want: []want{{Resolved, Runway, runwayWarning}}},
		{name: "critical holds until critical x 1.25", prev: State{Runway: critical},
			obs: withSpend("150", runwayLeft(26*time.Hour))},
		{name: "critical above critical x 1.25 de-escalates", prev: State{Runway: critical},
			obs: withSpend("150", runwayLeft(31*time.Hour)), want: []want{{Deescalated, Runway, runwayWarning}}},
		{name: "runway is quiet while money is critical", prev: State{Money: firing(lowCritical, ago(time.Hour), ago(time.Hour))},
			obs: withSpend("10", runwayLeft(5*time.Hour))},
		{name: "a firing runway holds without reminders while money is critical",
			prev: State{Money: firing(lowCritical, ago(time.Hour), ago(time.Hour)), Runway: firing(runwayWarning, ago(9*time.Hour), ago(9*time.Hour))},
			obs:  withSpend("10", runwayLeft(5*time.Hour))},
		{name: "too little history gives no runway and no alert",
			obs: withSpend("150", func(s *Spend) { s.Runway = spend.Runway{}; s.History = 20 * time.Minute })},
		{name: "an unknown runway holds a firing alert", prev: State{Runway: warning},
			obs: withSpend("150", func(s *Spend) { s.Runway = spend.Runway{} })},
		{name: "nothing spent is an infinite runway: resolved", prev: State{Runway: warning},
			obs:  withSpend("150", func(s *Spend) { s.Runway = spend.Runway{Known: true, Infinite: true} }),
			want: []want{{Resolved, Runway, runwayWarning}}},
		{name: "a firing runway reminds after repeat_every", prev: State{Runway: firing(runwayWarning, ago(9*time.Hour), ago(5*time.Hour))},
			obs: withSpend("150", runwayLeft(48*time.Hour)), want: []want{{Reminder, Runway, runwayWarning}}},
		{name: "runway: off resolves and stays quiet", rules: func(r *Rules) { r.Spend.RunwayOff = true }, prev: State{Runway: warning},
			obs: withSpend("150", runwayLeft(5*time.Hour)), want: []want{{Resolved, Runway, runwayWarning}}},

		{name: "spend 20x the typical window fires abnormal_spend",
			obs:  withSpend("150", func(s *Spend) { s.WindowSpent, s.Typical = *dec("200"), dec("10") }),
			want: []want{{Firing, Drain, abnormalSpend}}},
		{name: "above the factor but under drain.min fires nothing",
			obs: withSpend("150", func(s *Spend) { s.WindowSpent, s.Typical = *dec("15"), dec("2") })},
		{name: "drain is silent with less than min_history",
			obs: withSpend("150", func(s *Spend) { s.WindowSpent, s.Typical, s.History = *dec("200"), dec("10"), 10*time.Hour })},
		{name: "drain is silent without a baseline window",
			obs: withSpend("150", func(s *Spend) { s.WindowSpent, s.Typical = *dec("200"), nil })},
		{name: "a firing drain holds above 80% of its bound", prev: State{Drain: drainFiring},
			obs: withSpend("150", func(s *Spend) { s.WindowSpent, s.Typical = *dec("45"), dec("10") })},
		{name: "a firing drain resolves below 80% of its bound", prev: State{Drain: drainFiring},
			obs:  withSpend("150", func(s *Spend) { s.WindowSpent, s.Typical = *dec("39"), dec("10") }),
			want: []want{{Resolved, Drain, abnormalSpend}}},

		{name: "spend today over the limit fires daily_spend_limit",
			obs: withSpend("150", func(s *Spend) { s.SpentToday = *dec("500.0001") }), want: []want{{Firing, DailySpend, dailySpend}}},
		{name: "spend today at the limit fires nothing", obs: withSpend("150", func(s *Spend) { s.SpentToday = *dec("500") })},
		{name: "a tick without spend holds daily_spend", prev: State{DailySpend: dailyFiring, LastSuccessAt: lastOK}, obs: nil},
		{name: "a new day resets daily_spend", prev: State{DailySpend: dailyFiring, LastSuccessAt: lastOK},
			obs:  &Observation{At: t0, Spend: func() *Spend { s := healthy(); s.SpentToday = decimal.Zero; return &s }()},
			want: []want{{Resolved, DailySpend, dailySpend}}},
		{name: "no limit resolves a firing daily_spend", rules: func(r *Rules) { r.Spend.DailyLimit = nil },
			prev: State{DailySpend: dailyFiring}, obs: withSpend("150", nil), want: []want{{Resolved, DailySpend, dailySpend}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := baseRules()
			spendRules(&r)
			if tt.rules != nil {
				tt.rules(&r)
			}
			if tt.obs != nil && tt.obs.At.IsZero() {
				tt.obs.At = t0
			}
			_, events := Evaluate(tt.prev, tt.obs, r, t0, ago(time.Hour))
			var got []want
			for _, e := range events {
				if e.Alert == Runway || e.Alert == Drain || e.Alert == DailySpend {
					got = append(got, want{e.Type, e.Alert, e.Level})
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("spend events = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("event %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// Set and Alert agree for every kind, and an unknown kind changes nothing.
func TestStateSetAndAlertRoundTrip(t *testing.T) {
	levels := []Level{lowWarning, authFailed, stale, runwayCritical, abnormalSpend, dailySpend}
	var s State
	for i, k := range Kinds {
		s.Set(k, firing(levels[i], t0, t0))
	}
	before := s
	s.Set("other", firing(lowCritical, t0, t0))
	if s != before {
		t.Error("Set of an unknown kind changed the state")
	}
	for i, k := range Kinds {
		if got := s.Alert(k).Level; got != levels[i] {
			t.Errorf("Alert(%q) = %v, want %v", k, got, levels[i])
		}
	}
}

func TestDrainOffResolves(t *testing.T) {
	r := baseRules()
	spendRules(&r)
	r.Spend.DrainOff = true
	obs := withSpend("150", func(s *Spend) { s.WindowSpent, s.Typical = *dec("200"), dec("10") })
	obs.At = t0
	_, events := Evaluate(State{Drain: firing(abnormalSpend, ago(time.Hour), ago(time.Hour))}, obs, r, t0, ago(time.Hour))
	if len(events) != 1 || events[0].Type != Resolved || events[0].Alert != Drain {
		t.Errorf("events = %+v, want the drain alert resolved", events)
	}
}

// When a silence ends, each alert still firing gets one message: a reminder when its level is
// what people last heard, else the transition from that level, or a firing when they heard
// nothing of the episode.
func TestSilenceEndAnnouncesWhatChanged(t *testing.T) {
	r := baseRules()
	silencedUntil := ago(time.Minute) // the silence ended a minute ago
	tests := []struct {
		name     string
		money    AlertState
		wantType EventType
		wantPrev Level
	}{
		{"the level people heard: a reminder",
			AlertState{Level: lowWarning, Since: ago(3 * time.Hour), LevelSince: ago(3 * time.Hour), LastSentAt: ago(3 * time.Hour), Sent: lowWarning},
			Reminder, Level{}},
		{"escalated while silenced: the escalation",
			AlertState{Level: lowCritical, Since: ago(3 * time.Hour), LevelSince: ago(time.Hour), LastSentAt: ago(time.Hour), Sent: lowWarning},
			Escalated, lowWarning},
		{"de-escalated while silenced: the de-escalation",
			AlertState{Level: lowWarning, Since: ago(3 * time.Hour), LevelSince: ago(time.Hour), LastSentAt: ago(time.Hour), Sent: overdraft},
			Deescalated, overdraft},
		{"fired while silenced: the firing",
			AlertState{Level: lowCritical, Since: ago(time.Hour), LevelSince: ago(time.Hour), LastSentAt: ago(time.Hour)},
			Firing, Level{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev := State{Money: tt.money, SilencedUntil: silencedUntil, LastSuccessAt: lastOK}
			next, events := Evaluate(prev, nil, r, t0, ago(time.Hour))
			if len(events) != 1 || events[0].Type != tt.wantType || events[0].Previous != tt.wantPrev || events[0].Silenced {
				t.Fatalf("events = %+v, want one unsilenced %s from %v", events, tt.wantType, tt.wantPrev)
			}
			if next.Money.Sent != tt.money.Level || !next.Money.LastSentAt.Equal(t0) {
				t.Errorf("after the message: Sent = %v, LastSentAt = %v; want %v at t0", next.Money.Sent, next.Money.LastSentAt, tt.money.Level)
			}
		})
	}
}
