package poller_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/poller"
)

// A reload replaces the app set of a running scheduler: the added app is polled at once (its
// schedule is hourly, so only the start-up poll can explain it), the removed one is not
// polled again, and the kept one goes on, through the new poller.
func TestSetAppsReplacesTheAppsOfARunningScheduler(t *testing.T) {
	f := fake.New(fake.Scenario{Apps: fakeApps(3)}, nil)
	oldUp := httptest.NewServer(f)
	defer oldUp.Close()
	var viaNew atomic.Int32
	newUp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		viaNew.Add(1)
		f.ServeHTTP(w, r)
	}))
	defer newUp.Close()
	// app0, app1, app2 registered, every second; the scheduler starts with app0 and app1.
	st, _, all, _ := setup(t, 3, engagelab.New(oldUp.URL))
	ids, err := st.EnsureApps(context.Background(), []string{"app0", "app1", "app2"})
	if err != nil {
		t.Fatal(err)
	}
	build := func(apps []config.App, url string) (*poller.Poller, *evaluate.Evaluator) {
		t.Helper()
		ev, err := evaluate.New(evaluate.Config{Store: st, Apps: apps, AppIDs: ids})
		if err != nil {
			t.Fatal(err)
		}
		p, err := poller.New(poller.Config{Evaluator: ev, Client: engagelab.New(url), Apps: apps, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return p, ev
	}
	before := all[:2]
	reloaded, err := config.Parse([]byte(`
database: {url: "postgres://unused"}
defaults: {schedule: "@every 1s", thresholds: {warning: "100", critical: "20"}}
apps:
  - {name: app1, dev_key: k1, dev_secret: s1}
  - {name: app2, dev_key: k2, dev_secret: s2, schedule: "@every 1h"}
`), func(string) (string, bool) { return "", false }, ".")
	if err != nil {
		t.Fatal(err)
	}
	after := reloaded.Apps

	var mu sync.Mutex
	polled := map[string]int{}
	cond := sync.NewCond(&mu)
	waitFor := func(app string, n int) {
		t.Helper()
		deadline := time.AfterFunc(20*time.Second, func() { mu.Lock(); cond.Broadcast(); mu.Unlock() })
		defer deadline.Stop()
		start := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for polled[app] < n {
			if time.Since(start) > 20*time.Second {
				t.Fatalf("%s polled %d times, want %d", app, polled[app], n)
			}
			cond.Wait()
		}
	}
	count := func(app string) int { mu.Lock(); defer mu.Unlock(); return polled[app] }

	p, ev := build(before, oldUp.URL)
	s := poller.NewScheduler(poller.SchedulerConfig{Poller: p, Timers: ev, Slots: st, Apps: before, MaxJitter: time.Millisecond,
		Polled: func(r poller.Result) {
			if r.Err != nil {
				t.Errorf("poll of %s: %v", r.App, r.Err)
			}
			mu.Lock()
			polled[r.App]++
			cond.Broadcast()
			mu.Unlock()
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitFor("app0", 2)
	waitFor("app1", 2)

	p2, ev2 := build(after, newUp.URL)
	s.SetApps(after, p2, ev2)
	removedAt := f.Requests("k0")
	app1At := count("app1")
	waitFor("app2", 1) // at once, though its schedule is hourly
	waitFor("app1", app1At+3)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// One poll of app0 may already have been on its way to the upstream when SetApps ran.
	if n := f.Requests("k0") - removedAt; n > 1 {
		t.Errorf("app0 was asked for %d more times after its removal, want at most the one in flight", n)
	}
	if got := count("app2"); got != 1 {
		t.Errorf("app2 polled %d times within seconds of an hourly schedule, want the 1 start-up poll", got)
	}
	// app1's polls after the reload and app2's went through the new poller's client.
	if n := viaNew.Load(); n < 4 {
		t.Errorf("%d requests through the new poller, want at least 4 (app2 once, app1 three times)", n)
	}
}
