package poller_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/poller"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// setup registers n apps named app0..app{n-1} (keys k0.., secrets s0..) on an "@every 1s"
// schedule and returns their config and a poller over client.
func setup(t *testing.T, n int, client poller.Balancer) (*store.Store, *poller.Poller, []config.App, *evaluate.Evaluator) {
	t.Helper()
	return setupEvery(t, "1s", n, client)
}

// setupEvery is setup on an "@every every" schedule.
func setupEvery(t *testing.T, every string, n int, client poller.Balancer) (*store.Store, *poller.Poller, []config.App, *evaluate.Evaluator) {
	t.Helper()
	var apps strings.Builder
	for i := range n {
		fmt.Fprintf(&apps, "  - {name: app%d, dev_key: k%d, dev_secret: s%d}\n", i, i, i)
	}
	cfg, err := config.Parse([]byte(`
database: {url: "postgres://unused"}
defaults: {schedule: "@every `+every+`", thresholds: {warning: "100", critical: "20"}}
apps:
`+apps.String()), func(string) (string, bool) { return "", false }, ".")
	if err != nil {
		t.Fatal(err)
	}
	st := pgtest.New(t)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("app%d", i)
	}
	ids, err := st.EnsureApps(context.Background(), names)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evaluate.New(evaluate.Config{Store: st, Apps: cfg.Apps, AppIDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	p, err := poller.New(poller.Config{Evaluator: ev, Client: client, Apps: cfg.Apps, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return st, p, cfg.Apps, ev
}

func fakeApps(n int) []fake.App {
	out := make([]fake.App, n)
	for i := range out {
		out[i] = fake.App{Name: fmt.Sprintf("app%d", i), DevKey: fmt.Sprintf("k%d", i), DevSecret: fmt.Sprintf("s%d", i), Balance: "500"}
	}
	return out
}

func TestSchedulerPollsAtStartAndBoundsPollsInFlight(t *testing.T) {
	f := fake.New(fake.Scenario{Apps: fakeApps(6)}, nil)
	peak := &fake.Peak{Hold: 300 * time.Millisecond}
	upstream := httptest.NewServer(peak.Wrap(f))
	defer upstream.Close()
	// Hourly: only the start-up polls run, so every poll counted is one of them.
	st, p, apps, ev := setupEvery(t, "1h", 6, engagelab.New(upstream.URL))

	var mu sync.Mutex
	first := map[string]time.Time{}
	// The timeout only ends a run whose start-up polls did not all happen (checked below).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	s := poller.NewScheduler(poller.SchedulerConfig{Poller: p, Timers: ev, Slots: st, Apps: apps, MaxConcurrency: 2, MaxJitter: time.Millisecond,
		Polled: func(r poller.Result) {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := first[r.App]; !ok {
				first[r.App] = time.Now()
			}
			if len(first) == 6 {
				cancel()
			}
		}})
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(first) != 6 {
		t.Fatalf("%d of 6 apps polled at start-up", len(first))
	}
	if got := peak.Most(); got != 2 {
		t.Errorf("at most %d polls were in flight, want exactly max_concurrency = 2", got)
	}
	// Six 300 ms polls two at a time take about a second: everything is polled within seconds
	// of start-up, not at the first hourly slot. The bound leaves room for a loaded machine.
	for app, at := range first {
		if d := at.Sub(start); d > 10*time.Second {
			t.Errorf("%s first polled %v after start", app, d)
		}
	}
}

func TestSchedulerFinishesAPollInFlightAtShutdown(t *testing.T) {
	f := fake.New(fake.Scenario{Apps: fakeApps(1)}, nil)
	arrived := make(chan struct{}, 10)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		time.Sleep(700 * time.Millisecond)
		f.ServeHTTP(w, r)
	}))
	defer upstream.Close()
	st, p, apps, ev := setup(t, 1, engagelab.New(upstream.URL))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- poller.NewScheduler(poller.SchedulerConfig{Poller: p, Timers: ev, Slots: st, Apps: apps, MaxJitter: time.Millisecond}).Run(ctx)
	}()
	<-arrived // the start-up poll is waiting on the upstream: stop now, as SIGTERM would
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	pts, err := st.Snapshots(context.Background(), "app0", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 1 || pts[0].TotalBalance.StringFixed(4) != "500.0000" {
		t.Fatalf("after shutdown: %d snapshots %v; want the in-flight poll stored", len(pts), pts)
	}
}

// panicky panics on its first call, then answers: a bug in one poll must not stop the others.
type panicky struct {
	calls atomic.Int32
}

func (p *panicky) Balance(context.Context, balance.Product, string, string) (balance.Snapshot, error) {
	if p.calls.Add(1) == 1 {
		panic("boom")
	}
	return balance.Snapshot{Currency: "USD"}, nil
}

func TestSchedulerSurvivesAPanickingPoll(t *testing.T) {
	client := &panicky{}
	st, p, apps, ev := setup(t, 1, client)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var polled atomic.Int32
	s := poller.NewScheduler(poller.SchedulerConfig{Poller: p, Timers: ev, Slots: st, Apps: apps, MaxJitter: time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
		Polled: func(poller.Result) {
			if polled.Add(1) == 2 {
				cancel()
			}
		}})
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := polled.Load(); n < 2 {
		t.Fatalf("%d polls completed after the panic, want 2 (the schedule kept running)", n)
	}
	if client.calls.Load() < 3 {
		t.Errorf("client called %d times", client.calls.Load())
	}
}

// A tick that comes while the app's previous poll still waits on the upstream is skipped, not
// run beside it (nor queued behind it).
func TestSchedulerSkipsATickWhileThePollStillRuns(t *testing.T) {
	f := fake.New(fake.Scenario{Apps: fakeApps(1)}, nil)
	peak := &fake.Peak{Hold: 2500 * time.Millisecond}
	upstream := httptest.NewServer(peak.Wrap(f))
	defer upstream.Close()
	st, p, apps, ev := setup(t, 1, engagelab.New(upstream.URL))

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	var polled atomic.Int32
	s := poller.NewScheduler(poller.SchedulerConfig{Poller: p, Timers: ev, Slots: st, Apps: apps, MaxJitter: time.Millisecond,
		Polled: func(poller.Result) { polled.Add(1) }})
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := peak.Most(); got != 1 {
		t.Errorf("%d polls of the app were in flight at once, want 1", got)
	}
	// Six one-second ticks, each poll taking 2.5s: about three polls, not six.
	if n := peak.Requests(); n < 2 || n > 3 {
		t.Errorf("%d requests upstream in 6s, want 2 or 3 (ticks skipped while a poll runs)", n)
	}
	if int(polled.Load()) != peak.Requests() {
		t.Errorf("%d polls finished for %d requests", polled.Load(), peak.Requests())
	}
}
