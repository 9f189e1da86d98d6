package evaluate

import (
	"cmp"
	"slices"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/config"
)

func minSeverity(n config.Notifier) alert.Severity {
	return alert.Severity(cmp.Or(n.MinSeverity, string(alert.SeverityWarning)))
}

// route picks the app's notifiers that get e: those whose min_severity it meets, and, for a
// resolve, de-escalation or flapping message, every notifier already told about this alert.
func (e *Evaluator) route(app config.App, ev alert.Event, told []string) []string {
	var out []string
	for _, n := range app.Notify {
		meets := e.minSev[n] != alert.SeverityCritical || ev.Level.Severity == alert.SeverityCritical
		switch ev.Type {
		case alert.Resolved, alert.Deescalated, alert.Flapping: // a flap may begin with a resolve
			if meets || slices.Contains(told, n) {
				out = append(out, n)
			}
		default:
			if meets {
				out = append(out, n)
			}
		}
	}
	return out
}

// routeEvent picks the app's notifiers that opted in to a non-alert event with `events`.
func (e *Evaluator) routeEvent(app config.App, name string) []string {
	var out []string
	for _, n := range app.Notify {
		if slices.Contains(e.events[n], name) {
			out = append(out, n)
		}
	}
	return out
}

// grouped picks, of the notifiers an event goes to, those whose row waits to be grouped with
// the same rule on other apps: the firing, the escalation (an outage that goes on turns
// poll_failing into stale on every app at once) and the resolve of an access or data alert
// (an upstream outage, a shared key revoked), but not reminders, nor the message that ends a
// flap.
func (e *Evaluator) grouped(ev alert.Event, notifiers []string) []string {
	if !e.cfg.Grouping.On() || ev.Flap != nil || (ev.Alert != alert.Access && ev.Alert != alert.Data) ||
		(ev.Type != alert.Firing && ev.Type != alert.Escalated && ev.Type != alert.Resolved) {
		return nil
	}
	var out []string
	for _, n := range notifiers {
		if !e.solo[n] {
			out = append(out, n)
		}
	}
	return out
}

// groupKey names what grouped rows share: "alert.firing/access/auth_failed".
func groupKey(ev alert.Event) string {
	return string(ev.Type) + "/" + string(ev.Alert) + "/" + ev.Level.Rule
}
