package alert

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// flapStep is one call at t0+at: a poll (obs) or a timer tick (nil).
type flapStep struct {
	at  time.Duration
	obs *Observation
}

// flips are n polls every two seconds from t0+from, alternating a 401 and a success, the 401 first.
func flips(from time.Duration, n int) []flapStep {
	var out []flapStep
	for i := range n {
		obs := ok("150")
		if i%2 == 0 {
			obs = failed(err401)
		}
		out = append(out, flapStep{from + time.Duration(i)*2*time.Second, obs})
	}
	return out
}

func then(steps []flapStep, more ...flapStep) []flapStep {
	return append(append([]flapStep(nil), steps...), more...)
}

func tick(at time.Duration) flapStep { return flapStep{at: at} }

// flapRun plays steps through Evaluate and Damp as the evaluator does, carrying state and
// flap history from call to call, and returns the events that would be sent and those only
// recorded, each as "type rule/severity", the sent ones with their flap detail.
type flapRun struct {
	sent, damped []string
	state        State
	flaps        Flaps
	events       []Event // every event, in order
}

func runFlap(t *testing.T, r Rules, fr FlapRules, steps []flapStep) flapRun {
	t.Helper()
	var run flapRun
	run.flaps = Flaps{}
	for _, st := range steps {
		now := t0.Add(st.at)
		var obs *Observation
		if st.obs != nil {
			o := *st.obs
			o.At = now
			obs = &o
		}
		prev := run.state
		next, events := Evaluate(prev, obs, r, now, t0)
		next, flaps, events := Damp(prev, next, run.flaps, events, fr, now)
		for k, f := range flaps {
			if f.Zero() {
				t.Errorf("at +%v: Damp kept an empty history for %s", st.at, k)
			}
		}
		run.state, run.flaps = next, flaps
		for _, e := range events {
			line := fmt.Sprintf("%s %s/%s", e.Type, e.Level.Rule, e.Level.Severity)
			if e.Flap != nil {
				line += fmt.Sprintf(" flap{%d %v ended=%v}", e.Flap.Changes, e.Flap.Window, e.Flap.Ended)
			}
			if e.Silenced {
				if !e.Damped {
					t.Errorf("at +%v: %s silenced but not damped (no silence in these tests)", st.at, line)
				}
				run.damped = append(run.damped, fmt.Sprintf("+%v %s", st.at, line))
			} else {
				run.sent = append(run.sent, fmt.Sprintf("+%v %s", st.at, line))
			}
			run.events = append(run.events, e)
		}
	}
	return run
}

func TestDamp(t *testing.T) {
	rules := baseRules()
	rules.StaleAfter = 0 // these tests are about flapping; long quiet periods would go stale
	flap := FlapRules{MaxChanges: 4, Window: 30 * time.Minute}
	const (
		auth   = "auth_failed/critical"
		paused = " flap{5 30m0s ended=false}"
		ended  = " flap{0 30m0s ended=true}"
	)
	tests := []struct {
		name         string
		rules        func(*Rules)
		flap         FlapRules
		steps        []flapStep
		sent, damped []string
		flapping     bool // the access alert is flapping after the last flapStep
	}{
		{
			name:  "below the threshold every change is sent",
			steps: flips(0, 3),
			sent:  []string{"+0s alert.firing " + auth, "+2s alert.resolved " + auth, "+4s alert.firing " + auth},
		},
		{
			name:  "exactly max_changes is not flapping",
			steps: flips(0, 4),
			sent: []string{"+0s alert.firing " + auth, "+2s alert.resolved " + auth, "+4s alert.firing " + auth,
				"+6s alert.resolved " + auth},
		},
		{
			name:  "max_changes+1 sends one flapping message instead of the change",
			steps: flips(0, 5),
			sent: []string{"+0s alert.firing " + auth, "+2s alert.resolved " + auth, "+4s alert.firing " + auth,
				"+6s alert.resolved " + auth, "+8s alert.flapping " + auth + paused},
			damped:   []string{"+8s alert.firing " + auth},
			flapping: true,
		},
		{
			name:  "the tipping change may be a resolve",
			flap:  FlapRules{MaxChanges: 3, Window: 30 * time.Minute},
			steps: flips(0, 4),
			sent: []string{"+0s alert.firing " + auth, "+2s alert.resolved " + auth, "+4s alert.firing " + auth,
				"+6s alert.flapping " + auth + " flap{4 30m0s ended=false}"},
			damped:   []string{"+6s alert.resolved " + auth},
			flapping: true,
		},
		{
			name:  "nineteen flips in forty seconds: four messages, one flapping, the rest recorded",
			steps: flips(0, 19),
			sent: []string{"+0s alert.firing " + auth, "+2s alert.resolved " + auth, "+4s alert.firing " + auth,
				"+6s alert.resolved " + auth, "+8s alert.flapping " + auth + paused},
			damped: []string{"+8s alert.firing " + auth, "+10s alert.resolved " + auth, "+12s alert.firing " + auth,
				"+14s alert.resolved " + auth, "+16s alert.firing " + auth, "+18s alert.resolved " + auth,
				"+20s alert.firing " + auth, "+22s alert.resolved " + auth, "+24s alert.firing " + auth,
				"+26s alert.resolved " + auth, "+28s alert.firing " + auth, "+30s alert.resolved " + auth,
				"+32s alert.firing " + auth, "+34s alert.resolved " + auth, "+36s alert.firing " + auth},
			flapping: true,
		},
		{
			name: "changes that fall out of the window do not count",
			steps: []flapStep{{0, failed(err401)}, {time.Minute, ok("150")}, {2 * time.Minute, failed(err401)},
				{3 * time.Minute, ok("150")}, {30 * time.Minute, failed(err401)}},
			sent: []string{"+0s alert.firing " + auth, "+1m0s alert.resolved " + auth, "+2m0s alert.firing " + auth,
				"+3m0s alert.resolved " + auth, "+30m0s alert.firing " + auth},
		},
		{
			name:  "stable for the window while firing: one firing message, not a minute before",
			steps: then(flips(0, 5), flapStep{10 * time.Minute, failed(err401)}, tick(30*time.Minute+7*time.Second), tick(30*time.Minute+8*time.Second), tick(31*time.Minute)),
			sent: []string{"+0s alert.firing " + auth, "+2s alert.resolved " + auth, "+4s alert.firing " + auth,
				"+6s alert.resolved " + auth, "+8s alert.flapping " + auth + paused,
				"+30m8s alert.firing " + auth + ended},
			damped: []string{"+8s alert.firing " + auth},
		},
		{
			name:  "stable for the window while resolved: one resolved message naming the level that ended",
			steps: then(flips(0, 6), tick(30*time.Minute+9*time.Second), tick(30*time.Minute+10*time.Second), tick(40*time.Minute)),
			sent: []string{"+0s alert.firing " + auth, "+2s alert.resolved " + auth, "+4s alert.firing " + auth,
				"+6s alert.resolved " + auth, "+8s alert.flapping " + auth + paused,
				"+30m10s alert.resolved " + auth + ended},
			damped: []string{"+8s alert.firing " + auth, "+10s alert.resolved " + auth},
		},
		{
			name:  "a change during the quiet period starts the wait again",
			steps: then(flips(0, 5), flapStep{20 * time.Minute, ok("150")}, tick(30*time.Minute+8*time.Second), tick(50*time.Minute)),
			sent: []string{"+0s alert.firing " + auth, "+2s alert.resolved " + auth, "+4s alert.firing " + auth,
				"+6s alert.resolved " + auth, "+8s alert.flapping " + auth + paused,
				"+50m0s alert.resolved " + auth + ended},
			damped: []string{"+8s alert.firing " + auth, "+20m0s alert.resolved " + auth},
		},
		{
			name:  "flap off sends every change",
			flap:  FlapRules{Off: true, MaxChanges: 4, Window: 30 * time.Minute},
			steps: flips(0, 7),
			sent: []string{"+0s alert.firing " + auth, "+2s alert.resolved " + auth, "+4s alert.firing " + auth,
				"+6s alert.resolved " + auth, "+8s alert.firing " + auth, "+10s alert.resolved " + auth,
				"+12s alert.firing " + auth},
		},
		{
			name:  "reminders are paused while flapping and resume after the state message",
			rules: func(r *Rules) { r.RepeatEvery = 10 * time.Minute },
			steps: then(flips(0, 5), tick(10*time.Minute+8*time.Second), tick(20*time.Minute+8*time.Second),
				tick(30*time.Minute+8*time.Second), tick(35*time.Minute), tick(40*time.Minute+8*time.Second)),
			sent: []string{"+0s alert.firing " + auth, "+2s alert.resolved " + auth, "+4s alert.firing " + auth,
				"+6s alert.resolved " + auth, "+8s alert.flapping " + auth + paused,
				"+30m8s alert.firing " + auth + ended, "+40m8s alert.reminder " + auth},
			damped: []string{"+8s alert.firing " + auth},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rules
			if tc.rules != nil {
				tc.rules(&r)
			}
			fr := flap
			if tc.flap != (FlapRules{}) {
				fr = tc.flap
			}
			run := runFlap(t, r, fr, tc.steps)
			if d := cmp.Diff(tc.sent, run.sent); d != "" {
				t.Errorf("sent (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.damped, run.damped); d != "" {
				t.Errorf("recorded, not sent (-want +got):\n%s", d)
			}
			if got := !run.flaps[Access].FlappingSince.IsZero(); got != tc.flapping {
				t.Errorf("flapping after the last flapStep = %v, want %v (history %+v)", got, tc.flapping, run.flaps[Access])
			}
		})
	}
}

// The money alert flaps around the warning threshold; an escalation while it flaps is
// recorded, not sent, and the message that ends the flap names the level it settled at.
func TestDampEscalationDuringFlapping(t *testing.T) {
	r := baseRules()
	r.StaleAfter = 0
	var steps []flapStep
	for i, total := range []string{"80", "150", "80", "150", "80"} {
		steps = append(steps, flapStep{time.Duration(i) * time.Minute, ok(total)})
	}
	steps = append(steps, flapStep{10 * time.Minute, ok("10")}, tick(34*time.Minute), tick(35*time.Minute))
	run := runFlap(t, r, FlapRules{MaxChanges: 4, Window: 30 * time.Minute}, steps)
	w, c := "low_balance/warning", "low_balance/critical"
	want := []string{"+0s alert.firing " + w, "+1m0s alert.resolved " + w, "+2m0s alert.firing " + w,
		"+3m0s alert.resolved " + w, "+4m0s alert.flapping " + w + " flap{5 30m0s ended=false}",
		"+34m0s alert.firing " + c + " flap{0 30m0s ended=true}"}
	if d := cmp.Diff(want, run.sent); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"+4m0s alert.firing " + w, "+10m0s alert.escalated " + c}, run.damped); d != "" {
		t.Errorf("recorded, not sent (-want +got):\n%s", d)
	}
	if got := run.state.Money; got.Sent != lowCritical || !got.LastSentAt.Equal(t0.Add(34*time.Minute)) {
		t.Errorf("money after the flap: sent %v at %v, want low_balance/critical at +34m", got.Sent, got.LastSentAt)
	}
}

// Only the flapping alert is damped: the money alert of the same app still speaks.
func TestDampLeavesOtherAlertsAlone(t *testing.T) {
	r := baseRules()
	r.StaleAfter = 0
	steps := then(flips(0, 5), flapStep{20 * time.Second, ok("80")})
	run := runFlap(t, r, FlapRules{MaxChanges: 4, Window: 30 * time.Minute}, steps)
	last := run.sent[len(run.sent)-1]
	if last != "+20s alert.firing low_balance/warning" {
		t.Errorf("last sent %q, want the money firing (sent: %v)", last, run.sent)
	}
}

// The flapping message carries the failure that caused it, and what Damp keeps is bounded:
// a day of flips every two seconds remembers at most max_changes+1 times.
func TestDampFailureAndBoundedHistory(t *testing.T) {
	r := baseRules()
	r.StaleAfter = 0
	run := runFlap(t, r, FlapRules{MaxChanges: 4, Window: 30 * time.Minute}, flips(0, 2000))
	for _, e := range run.events {
		if e.Type == Flapping && (e.Failure == nil || e.Failure.HTTPStatus != 401) {
			t.Errorf("flapping event failure = %+v, want the 401", e.Failure)
		}
	}
	if n := len(run.flaps[Access].Changes); n != 5 {
		t.Errorf("remembered %d changes, want 5", n)
	}
	if n := len(run.sent); n != 5 {
		t.Errorf("sent %d messages over 2000 flips, want 5", n)
	}
}

// A silenced app records the flapping message silenced (not damped), like any other event.
func TestDampWhileSilenced(t *testing.T) {
	r := baseRules()
	r.StaleAfter = 0
	prev := Silence(State{}, t0.Add(time.Hour))
	flaps := Flaps{}
	var all []Event
	for _, st := range flips(0, 5) {
		now := t0.Add(st.at)
		o := *st.obs
		o.At = now
		next, events := Evaluate(prev, &o, r, now, t0)
		next, flaps, events = Damp(prev, next, flaps, events, FlapRules{MaxChanges: 4, Window: 30 * time.Minute}, now)
		prev = next
		all = append(all, events...)
	}
	for _, e := range all {
		if !e.Silenced {
			t.Errorf("%s sent while the app is silenced", e.Type)
		}
	}
	if last := all[len(all)-1]; last.Type != Flapping {
		t.Errorf("last event %s, want the flapping one", last.Type)
	}
}
