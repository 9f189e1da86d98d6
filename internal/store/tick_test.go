package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Only apps a tick could change are returned: the rest of ten thousand idle apps cost nothing.
func TestDueForTickFindsOnlyAppsWithSomethingDue(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	names := []string{"reminder", "quiet", "silence-over", "silenced", "stale", "stale-firing", "daily"}
	ids, err := s.EnsureApps(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	started := now.Add(-2 * time.Hour)
	low := alert.Level{Rule: alert.RuleLowBalance, Severity: alert.SeverityWarning}
	firing := func(l alert.Level, lastSent time.Time) alert.AlertState {
		return alert.AlertState{Level: l, Since: lastSent, LevelSince: lastSent, LastSentAt: lastSent}
	}
	recent := now.Add(-time.Minute)
	set := func(name string, change func(*store.AppState)) {
		pgtest.Change(t, s, ids[name], func(st *store.AppState) {
			st.Alerts.LastSuccessAt = recent
			change(st)
		})
	}
	set("reminder", func(st *store.AppState) { st.Alerts.Money = firing(low, now.Add(-5*time.Hour)) })
	set("quiet", func(st *store.AppState) { st.Alerts.Money = firing(low, now.Add(-time.Hour)) })
	set("silence-over", func(st *store.AppState) { st.Alerts.SilencedUntil = now.Add(-time.Second) })
	set("silenced", func(st *store.AppState) {
		st.Alerts.SilencedUntil = now.Add(time.Hour)
		st.Alerts.Money = firing(low, now.Add(-5*time.Hour)) // overdue, but silenced: nothing to send
	})
	set("stale", func(st *store.AppState) { st.Alerts.LastSuccessAt = now.Add(-40 * time.Minute) })
	set("stale-firing", func(st *store.AppState) {
		st.Alerts.LastSuccessAt = now.Add(-40 * time.Minute)
		st.Alerts.Data = firing(alert.Level{Rule: alert.RuleStale, Severity: alert.SeverityWarning}, now.Add(-10*time.Minute))
	})
	set("daily", func(st *store.AppState) {
		st.Alerts.DailySpend = firing(alert.Level{Rule: alert.RuleDailySpend, Severity: alert.SeverityWarning}, now.Add(-time.Minute))
	})
	var rules []store.TickRule
	for _, n := range names {
		rules = append(rules, store.TickRule{AppID: ids[n], RepeatEvery: 4 * time.Hour, StaleAfter: 30 * time.Minute})
	}
	due, err := s.DueForTick(ctx, now, started, store.NewTickRules(rules))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, id := range due {
		for n, i := range ids {
			if i == id {
				got[n] = true
			}
		}
	}
	want := map[string]bool{"reminder": true, "silence-over": true, "stale": true, "daily": true}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("due apps (-want +got):\n%s", d)
	}
}
