package metrics

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

func gauge(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue() + f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

func count(t *testing.T, m *Metrics, name string) int {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return len(f.GetMetric())
		}
	}
	return 0
}

func TestOutboxAge(t *testing.T) {
	st := pgtest.New(t)
	ctx := context.Background()
	ids, err := st.EnsureApps(ctx, []string{"checkout"})
	if err != nil {
		t.Fatal(err)
	}
	m := New(st, &config.Config{Apps: []config.App{{Name: "checkout"}}})
	created := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	m.collector.now = func() time.Time { return created.Add(90 * time.Second) }
	if got := gauge(t, m, "engagelab_outbox_oldest_pending_seconds"); got != 0 {
		t.Errorf("empty outbox: oldest = %v, want 0", got)
	}
	pgtest.Events(t, st, ids["checkout"], store.EventRecord{
		ID: "evt_1", Alert: alert.Money, Type: alert.Firing, Rule: "low_balance", Severity: alert.SeverityWarning,
		Since: created, At: created, Payload: []byte(`{}`), Notifiers: []string{"a", "b"},
	})
	if got := gauge(t, m, "engagelab_outbox_oldest_pending_seconds"); got != 90 {
		t.Errorf("oldest = %v, want 90", got)
	}
	if got := gauge(t, m, "engagelab_outbox_pending"); got != 2 {
		t.Errorf("pending = %v, want 2", got)
	}
}

// A database that does not answer costs the store gauges, not the scrape.
func TestStoreUnreachable(t *testing.T) {
	st := pgtest.New(t)
	ctx := context.Background()
	ids, err := st.EnsureApps(ctx, []string{"checkout"})
	if err != nil {
		t.Fatal(err)
	}
	snap := &balance.Snapshot{PolledAt: time.Now(), Currency: "USD", Balance: decimal.NewFromInt(5), GiftBalance: decimal.Zero, TotalBalance: decimal.NewFromInt(5)}
	pgtest.Snapshot(t, st, ids["checkout"], *snap)
	m := New(st, &config.Config{Apps: []config.App{{Name: "checkout"}}})
	if n := count(t, m, "engagelab_balance"); n != 3 {
		t.Fatalf("balance series before: %d, want 3", n)
	}
	st.Close()
	if n := count(t, m, "engagelab_balance"); n != 0 {
		t.Errorf("balance series with the database closed: %d, want 0", n)
	}
	if got := gauge(t, m, "engagelab_scrape_errors_total"); got != 2 { // this scrape and the count above
		t.Errorf("scrape errors = %v, want 2", got)
	}
	got := []string{}
	fams, _ := m.Registry().Gather()
	for _, f := range fams {
		if f.GetName() == "engagelab_polls_total" {
			for _, mm := range f.GetMetric() {
				got = append(got, mm.GetLabel()[0].GetValue()+" "+mm.GetLabel()[1].GetValue())
			}
		}
	}
	if diff := cmp.Diff([]string{"checkout success"}, got); diff != "" {
		t.Errorf("polls_total series (-want +got):\n%s", diff)
	}
}

// engagelab_polls_total: every configured app from the start at 0, counts kept exactly under
// concurrent polls, and, as a CounterVec did, kept for an app a reload removed.
func TestPollsTotal(t *testing.T) {
	st := pgtest.New(t)
	m := New(st, &config.Config{Apps: []config.App{{Name: "a"}, {Name: "b"}}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				m.ObservePoll("a", "success", time.Second)
				m.ObservePoll("b", "timeout", time.Second)
				m.ObservePoll("x", "network", time.Second) // not configured: counted all the same
			}
		})
	}
	wg.Wait()
	m.SetConfig(&config.Config{Apps: []config.App{{Name: "b"}, {Name: "c"}}})
	m.ObservePoll("c", "success", time.Second)

	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fams {
		if f.GetName() != "engagelab_polls_total" {
			continue
		}
		for _, mm := range f.GetMetric() {
			got = append(got, fmt.Sprintf("%s %s %v", mm.GetLabel()[0].GetValue(), mm.GetLabel()[1].GetValue(), mm.GetCounter().GetValue()))
			if mm.GetCounter().GetCreatedTimestamp() == nil {
				t.Errorf("%s %s: no created timestamp", mm.GetLabel()[0].GetValue(), mm.GetLabel()[1].GetValue())
			}
		}
	}
	want := []string{"a success 800", "b success 0", "b timeout 800", "c success 1", "x network 800"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("polls_total series (-want +got):\n%s", diff)
	}
}
