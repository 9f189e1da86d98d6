package alert

import (
	"slices"
	"time"
)

// Flapping is the one message that says an alert keeps firing and resolving and that its
// messages are paused until it is stable.
const Flapping EventType = "alert.flapping"

// FlapRules configure flap damping: an alert that fired or resolved more than MaxChanges
// times within Window is flapping. Off (or MaxChanges 0) disables it.
type FlapRules struct {
	Off        bool
	MaxChanges int
	Window     time.Duration
}

func (r FlapRules) enabled() bool { return !r.Off && r.MaxChanges > 0 && r.Window > 0 }

// Flap is the change history of one alert, kept apart from its AlertState because it must
// outlive a resolve (which forgets the AlertState).
type Flap struct {
	// Changes are the times the alert fired or resolved within the window, oldest first; at
	// most MaxChanges+1 are kept, which is all the threshold needs.
	Changes []time.Time
	// FlappingSince is when the alert was found flapping; zero while it is not.
	FlappingSince time.Time
	// Level and Since are the level and episode start of the alert when it last fired: the
	// message that ends a flap while the alert is resolved names the level that ended.
	Level Level
	Since time.Time
}

// Zero reports whether f remembers nothing (the store keeps no row for it).
func (f Flap) Zero() bool { return f.Equal(Flap{}) }

// Equal reports whether f and g are the same history.
func (f Flap) Equal(g Flap) bool {
	return slices.EqualFunc(f.Changes, g.Changes, time.Time.Equal) && f.FlappingSince.Equal(g.FlappingSince) &&
		f.Level == g.Level && f.Since.Equal(g.Since)
}

// Flaps are the change histories of one app's alerts.
type Flaps map[Kind]Flap

// FlapDetail is what a flapping message reports.
type FlapDetail struct {
	Changes int           // fire and resolve changes counted within Window
	Window  time.Duration // the flap window, also how long the alert must be stable
	Ended   bool          // on the message that ends a flap: the alert has been stable for Window
}

// Damp applies flap damping at now to one evaluation of an app: prev is the state before it,
// next and events what Evaluate made of it. It counts each alert's changes between firing and
// not firing; the change that makes more than MaxChanges within Window is announced by one
// Flapping event instead, after which that alert's events are recorded but not sent
// (Silenced, Damped) and its reminders dropped, until the alert has made no change for Window;
// then one event says its state: Firing at its level, or Resolved. Other alerts are untouched.
func Damp(prev, next State, flaps Flaps, events []Event, r FlapRules, now time.Time) (State, Flaps, []Event) {
	out := Flaps{}
	if !r.enabled() {
		return next, out, events // nothing remembered: a flap in progress ends with the setting
	}
	silenced := now.Before(next.SilencedUntil)
	var announced []Event // the flapping messages and those that end a flap, after the rest
	for _, k := range Kinds {
		before, after := prev.Alert(k), next.Alert(k)
		f := flaps[k]
		f.Changes = slices.Clone(f.Changes)
		switch {
		case after.Level.Firing():
			f.Level, f.Since = after.Level, after.Since
		case before.Level.Firing():
			f.Level, f.Since = before.Level, before.Since // the level that just ended
		}
		changed := before.Level.Firing() != after.Level.Firing()
		if changed {
			f.Changes = append(f.Changes, now)
		}
		// A change exactly Window ago is out of it: stable "for Window" then holds.
		f.Changes = slices.DeleteFunc(f.Changes, func(t time.Time) bool { return now.Sub(t) >= r.Window })
		if n := len(f.Changes); n > r.MaxChanges+1 {
			f.Changes = f.Changes[n-r.MaxChanges-1:]
		}
		own := func(e Event) bool { return e.Alert == k }
		switch {
		case f.FlappingSince.IsZero() && changed && len(f.Changes) > r.MaxChanges:
			f.FlappingSince = now
			ev := Event{Type: Flapping, Alert: k, Level: f.Level, Since: f.Since, At: now, Silenced: silenced,
				Flap: &FlapDetail{Changes: len(f.Changes), Window: r.Window}}
			for _, e := range events {
				if own(e) && e.Failure != nil {
					ev.Failure = e.Failure
				}
			}
			announced = append(announced, ev)
			next.Set(k, muted(before, after))
			events = dampEvents(events, own)
		case !f.FlappingSince.IsZero() && len(f.Changes) == 0:
			// Stable for Window: one message with the state it settled in.
			events = dampEvents(events, own)
			ev := Event{Type: Resolved, Alert: k, Level: f.Level, Since: f.Since, At: now, Silenced: silenced,
				Flap: &FlapDetail{Window: r.Window, Ended: true}}
			if after.Level.Firing() {
				ev.Type, ev.Level, ev.Since = Firing, after.Level, after.Since
				after.LastSentAt = now
				if !silenced {
					after.Sent = after.Level
				}
				next.Set(k, after)
			}
			for _, e := range events {
				if own(e) && e.Failure != nil {
					ev.Failure = e.Failure
				}
			}
			announced = append(announced, ev)
			f.FlappingSince = time.Time{}
		case !f.FlappingSince.IsZero():
			next.Set(k, muted(before, after))
			events = dampEvents(events, own)
		}
		if len(f.Changes) == 0 && f.FlappingSince.IsZero() {
			f = Flap{} // nothing left to count or to end
		}
		if !f.Zero() {
			out[k] = f
		}
	}
	return next, out, append(events, announced...)
}

// muted is after with nothing of it counted as sent: a damped message tells nobody anything.
func muted(before, after AlertState) AlertState {
	if !after.Level.Firing() {
		return after
	}
	if before.Level.Firing() && before.Since.Equal(after.Since) {
		after.Sent = before.Sent
	} else {
		after.Sent = Level{}
	}
	return after
}

// dampEvents marks the events that own selects as not to be sent, dropping reminders, which
// would only repeat a state nobody is being told about.
func dampEvents(events []Event, own func(Event) bool) []Event {
	out := events[:0:0]
	for _, e := range events {
		if own(e) {
			if e.Type == Reminder {
				continue
			}
			e.Silenced, e.Damped = true, true
		}
		out = append(out, e)
	}
	return out
}
