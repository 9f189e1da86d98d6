package evaluate

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/config"
)

func TestRoute(t *testing.T) {
	e := &Evaluator{minSev: map[string]alert.Severity{"ops": alert.SeverityWarning, "pager": alert.SeverityCritical}}
	app := config.App{Name: "checkout", Notify: []string{"ops", "pager"}}
	warning := alert.Level{Rule: alert.RuleLowBalance, Severity: alert.SeverityWarning}
	critical := alert.Level{Rule: alert.RuleLowBalance, Severity: alert.SeverityCritical}
	tests := []struct {
		name  string
		typ   alert.EventType
		level alert.Level
		told  []string
		want  []string
	}{
		{"warning firing skips a critical-only notifier", alert.Firing, warning, nil, []string{"ops"}},
		{"critical escalation reaches both", alert.Escalated, critical, []string{"ops"}, []string{"ops", "pager"}},
		{"warning reminder skips a critical-only notifier", alert.Reminder, warning, []string{"ops", "pager"}, []string{"ops"}},
		{"de-escalation to warning reaches a notifier told of the critical", alert.Deescalated, warning, []string{"ops", "pager"}, []string{"ops", "pager"}},
		{"resolve of a warning reaches a notifier told of the episode", alert.Resolved, warning, []string{"ops", "pager"}, []string{"ops", "pager"}},
		{"resolve of a warning-only episode skips a notifier never told", alert.Resolved, warning, []string{"ops"}, []string{"ops"}},
		{"resolve of a critical reaches both even untold (silenced episode)", alert.Resolved, critical, nil, []string{"ops", "pager"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.route(app, alert.Event{Type: tt.typ, Level: tt.level}, tt.told)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("route (-want +got):\n%s", d)
			}
		})
	}
}

// TestGrouped is which rows wait to be grouped with the same rule on other apps.
func TestGrouped(t *testing.T) {
	on := config.Grouping{MinApps: 3, Wait: 30 * time.Second}
	notifiers := []string{"ops", "pd"}
	tests := []struct {
		name     string
		grouping config.Grouping
		ev       alert.Event
		want     []string
	}{
		{"an auth_failed firing waits, but not for PagerDuty", on,
			alert.Event{Alert: alert.Access, Type: alert.Firing, Level: alert.Level{Rule: alert.RuleAuthFailed}}, []string{"ops"}},
		{"a poll_failing resolve waits", on,
			alert.Event{Alert: alert.Data, Type: alert.Resolved, Level: alert.Level{Rule: alert.RulePollFailing}}, []string{"ops"}},
		{"a stale escalation waits (a long outage escalates every app at once)", on,
			alert.Event{Alert: alert.Data, Type: alert.Escalated, Level: alert.Level{Rule: alert.RuleStale}}, []string{"ops"}},
		{"a de-escalation is sent as it is", on,
			alert.Event{Alert: alert.Data, Type: alert.Deescalated, Level: alert.Level{Rule: alert.RulePollFailing}}, nil},
		{"a reminder is sent as it is", on,
			alert.Event{Alert: alert.Access, Type: alert.Reminder, Level: alert.Level{Rule: alert.RuleAuthFailed}}, nil},
		{"a money alert is each app's own", on,
			alert.Event{Alert: alert.Money, Type: alert.Firing, Level: alert.Level{Rule: alert.RuleLowBalance}}, nil},
		{"the end of a flap is sent as it is", on,
			alert.Event{Alert: alert.Access, Type: alert.Firing, Level: alert.Level{Rule: alert.RuleAuthFailed}, Flap: &alert.FlapDetail{Ended: true}}, nil},
		{"grouping off", config.Grouping{},
			alert.Event{Alert: alert.Access, Type: alert.Firing, Level: alert.Level{Rule: alert.RuleAuthFailed}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Evaluator{cfg: Config{Grouping: tt.grouping}, solo: map[string]bool{"pd": true}}
			if d := cmp.Diff(tt.want, e.grouped(tt.ev, notifiers)); d != "" {
				t.Errorf("grouped (-want +got):\n%s", d)
			}
		})
	}
	if k := groupKey(alert.Event{Alert: alert.Access, Type: alert.Firing, Level: alert.Level{Rule: alert.RuleAuthFailed}}); k != "alert.firing/access/auth_failed" {
		t.Errorf("group key %q", k)
	}
}
