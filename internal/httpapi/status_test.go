package httpapi

import (
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

func TestStatusPrecedence(t *testing.T) {
	snap := &balance.Snapshot{Currency: "USD"}
	f := func(alert, rule, severity string) store.FiringAlert {
		return store.FiringAlert{Alert: alert, Rule: rule, Severity: severity}
	}
	var (
		lowWarning  = f("money", "low_balance", "warning")
		lowCritical = f("money", "low_balance", "critical")
		overdraft   = f("money", "overdraft", "critical")
		limit       = f("money", "overdraft_limit", "critical")
		auth        = f("access", "auth_failed", "critical")
		unavailable = f("access", "app_unavailable", "critical")
		failing     = f("data", "poll_failing", "warning")
		stale       = f("data", "stale", "warning")
	)
	tests := []struct {
		name   string
		latest *balance.Snapshot
		firing []store.FiringAlert
		want   string
	}{
		{"never polled", nil, nil, "unknown"},
		{"never polled, key refused", nil, []store.FiringAlert{auth}, "error"},
		{"never polled, polls failing", nil, []store.FiringAlert{failing}, "warning"},
		{"fine", snap, nil, "ok"},
		{"low", snap, []store.FiringAlert{lowWarning}, "warning"},
		{"polls failing", snap, []store.FiringAlert{failing}, "warning"},
		{"stale beats warning", snap, []store.FiringAlert{lowWarning, stale}, "stale"},
		{"critical beats stale", snap, []store.FiringAlert{lowCritical, stale}, "critical"},
		{"overdraft", snap, []store.FiringAlert{overdraft, stale}, "overdraft"},
		{"overdraft limit", snap, []store.FiringAlert{limit}, "overdraft"},
		{"app unavailable beats overdraft", snap, []store.FiringAlert{limit, unavailable}, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := status(store.AppStatus{Latest: tt.latest, Firing: tt.firing}); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
