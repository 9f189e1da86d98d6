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

func saveFlaps(t *testing.T, s *store.Store, id int64, flaps alert.Flaps) {
	t.Helper()
	if err := s.WithAppLock(context.Background(), id, func(ctx context.Context, tx *store.AppTx) error {
		return tx.SaveFlaps(ctx, flaps)
	}); err != nil {
		t.Fatal(err)
	}
}

func readFlaps(t *testing.T, s *store.Store, id int64) alert.Flaps {
	t.Helper()
	var out alert.Flaps
	if err := s.WithAppLock(context.Background(), id, func(_ context.Context, tx *store.AppTx) error {
		out = tx.Flaps()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// A flap history is its own row: the resolve that deletes the alert's state keeps it, a new
// unit of work (a restart) reads it back as written, and an empty one leaves no row.
func TestFlapHistorySurvivesResolveAndIsReadBack(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	id := ids["a"]
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	auth := alert.Level{Rule: alert.RuleAuthFailed, Severity: alert.SeverityCritical}
	pgtest.Change(t, s, id, func(st *store.AppState) {
		st.Alerts.Access = alert.AlertState{Level: auth, Since: now, LevelSince: now, LastSentAt: now}
	})
	want := alert.Flaps{alert.Access: {
		Changes:       []time.Time{now.Add(-4 * time.Second), now.Add(-2 * time.Second), now},
		FlappingSince: now, Level: auth, Since: now,
	}}
	saveFlaps(t, s, id, want)
	pgtest.Change(t, s, id, func(st *store.AppState) { st.Alerts.Access = alert.AlertState{} }) // resolved
	if d := cmp.Diff(want, readFlaps(t, s, id)); d != "" {
		t.Errorf("flaps after a resolve (-want +got):\n%s", d)
	}
	saveFlaps(t, s, id, alert.Flaps{})
	var rows int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM alert_flaps WHERE app_id = $1`, id).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d alert_flaps rows after saving an empty history, want 0", rows)
	}
}

// A flapping alert makes its app due for a tick once it has been stable for the flap window,
// so the message that ends the flap comes from the timer; not a moment before.
func TestDueForTickEndsAFlapOnTheTimer(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	names := []string{"stable", "recent", "counting", "flap-off"}
	ids, err := s.EnsureApps(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	auth := alert.Level{Rule: alert.RuleAuthFailed, Severity: alert.SeverityCritical}
	flapping := func(last time.Time) alert.Flaps {
		return alert.Flaps{alert.Access: {Changes: []time.Time{last.Add(-time.Minute), last}, FlappingSince: last.Add(-time.Minute), Level: auth, Since: last}}
	}
	saveFlaps(t, s, ids["stable"], flapping(now.Add(-30*time.Minute)))
	saveFlaps(t, s, ids["recent"], flapping(now.Add(-29*time.Minute)))
	saveFlaps(t, s, ids["counting"], alert.Flaps{alert.Access: {Changes: []time.Time{now.Add(-time.Hour)}, Level: auth, Since: now}})
	saveFlaps(t, s, ids["flap-off"], flapping(now.Add(-time.Minute)))
	var rules []store.TickRule
	for _, n := range names {
		window := 30 * time.Minute
		if n == "flap-off" {
			window = 0 // turned off while flapping: a tick clears it
		}
		rules = append(rules, store.TickRule{AppID: ids[n], FlapWindow: window})
	}
	due, err := s.DueForTick(ctx, now, now.Add(-time.Hour), store.NewTickRules(rules))
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{ids["stable"], ids["flap-off"]}
	if ids["flap-off"] < ids["stable"] {
		want = []int64{ids["flap-off"], ids["stable"]}
	}
	if d := cmp.Diff(want, due); d != "" {
		t.Errorf("due apps (-want +got):\n%s", d)
	}
}
