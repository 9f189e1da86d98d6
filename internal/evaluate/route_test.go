package evaluate

import (
	"testing"

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
