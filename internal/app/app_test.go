package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/app"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/logtest"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/poller"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// harness runs the real service in-process against a fake EngageLab and a fresh database.
type harness struct {
	t      *testing.T
	fake   *fake.Server
	dbURL  string
	mu     sync.Mutex
	polled map[string]int
	cond   *sync.Cond
	addr   string                         // HTTP address of the last service started
	logTo  io.Writer                      // also receives the service's log when set
	level  slog.Level                     // of the service's log; warnings by default
	load   func() (*config.Config, error) // the service's Options.Load, for reloads

	clock func() time.Time // the service's clock; time.Now when nil
}

func newHarness(t *testing.T, apps ...fake.App) *harness {
	t.Helper()
	h := &harness{t: t, fake: fake.New(fake.Scenario{Apps: apps}, nil), dbURL: pgtest.URL(t), polled: map[string]int{}, level: slog.LevelWarn}
	h.cond = sync.NewCond(&h.mu)
	return h
}

func (h *harness) config(engagelabURL, extra string) *config.Config {
	h.t.Helper()
	cfg, err := config.Parse([]byte(h.yaml(engagelabURL, extra)), func(string) (string, bool) { return "", false }, ".")
	if err != nil {
		h.t.Fatalf("config: %v", err)
	}
	return cfg
}

// yaml is the config file's text: the test's database and upstream, every app every second.
func (h *harness) yaml(engagelabURL, extra string) string {
	httpLine := `http: {listen: "127.0.0.1:0"}`
	if strings.Contains(extra, "\nhttp:") {
		httpLine = "" // the test brings its own
	}
	// Access and data alerts wait grouping.wait (30s by default) for other apps to join them;
	// a second keeps these tests quick. A test about grouping brings its own.
	if !strings.Contains(extra, "\ngrouping:") {
		httpLine += "\ngrouping: {wait: 1s}"
	}
	return fmt.Sprintf(`
database: {url: "%s"}
engagelab: {base_url: "%s", timeout: 2s}
%s
defaults:
  schedule: "@every 1s"
  thresholds: {warning: "100", critical: "20"}
  stale_after: 1h
%s`, h.dbURL, engagelabURL, httpLine, extra)
}

// start runs the service until the test ends (or stop is called) and waits until it is ready.
func (h *harness) start(cfg *config.Config) (stop func()) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc := app.New(app.Options{
		Config: cfg, Listen: "127.0.0.1:0", MaxJitter: time.Millisecond, TickEvery: 200 * time.Millisecond,
		BaseBackoff: 100 * time.Millisecond, PollOutbox: 100 * time.Millisecond, Clock: h.clock, Load: h.load,
		Logger: slog.New(slog.NewTextHandler(h.logWriter(), &slog.HandlerOptions{Level: h.level})),
		Polled: func(r poller.Result) {
			h.mu.Lock()
			h.polled[r.App]++
			h.cond.Broadcast()
			h.mu.Unlock()
		},
	})
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	select {
	case <-svc.Ready():
		h.addr = svc.Addr()
	case err := <-done:
		cancel()
		h.t.Fatalf("service did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		h.t.Fatal("service did not become ready")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("service stopped with %v", err)
			}
		})
	}
	h.t.Cleanup(stop)
	return stop
}

// waitPolls blocks until app has been polled n times (by the scheduler) or the test times out.
func (h *harness) waitPolls(app string, n int) {
	h.t.Helper()
	deadline := time.AfterFunc(20*time.Second, func() {
		h.mu.Lock()
		h.cond.Broadcast()
		h.mu.Unlock()
	})
	defer deadline.Stop()
	start := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.polled[app] < n {
		if time.Since(start) > 20*time.Second {
			h.t.Fatalf("app %s polled %d times, want %d", app, h.polled[app], n)
		}
		h.cond.Wait()
	}
}

func (h *harness) logWriter() io.Writer {
	if h.logTo != nil {
		return io.MultiWriter(testWriter{h.t}, h.logTo)
	}
	return testWriter{h.t}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func TestServicePollsEveryAppOnScheduleAndStoresExactRows(t *testing.T) {
	h := newHarness(t,
		fake.App{Name: "checkout", DevKey: "k-checkout", DevSecret: "s-checkout", Balance: "124.4500", Gift: "1.0000"},
		fake.App{Name: "arrears", DevKey: "k-arrears", DevSecret: "s-arrears", Balance: "-12.3400", Gift: "0"},
		fake.App{Name: "broken", DevKey: "k-broken", DevSecret: "s-broken", Balance: "50"},
	)
	h.fake.Fail("k-broken", fake.Failure{Status: 502, Body: "<html><title>502 Bad Gateway</title></html>"})
	upstream := httptest.NewServer(h.fake)
	defer upstream.Close()
	cfg := h.config(upstream.URL, `
apps:
  - {name: checkout, dev_key: k-checkout, dev_secret: s-checkout}
  - {name: arrears, dev_key: k-arrears, dev_secret: s-arrears}
  - {name: broken, dev_key: k-broken, dev_secret: s-broken}
`)
	stop := h.start(cfg)
	// One start-up poll plus two scheduled ones each.
	for _, app := range []string{"checkout", "arrears", "broken"} {
		h.waitPolls(app, 3)
	}
	stop()

	st, err := store.Open(context.Background(), h.dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for app, want := range map[string][3]string{
		"checkout": {"124.4500", "1.0000", "125.4500"},
		"arrears":  {"-12.3400", "0.0000", "-12.3400"},
	} {
		pts, err := st.Snapshots(ctx, app, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) < 3 {
			t.Errorf("%s: %d snapshots, want at least 3", app, len(pts))
		}
		for _, p := range pts {
			got := [3]string{p.Balance.StringFixed(4), p.GiftBalance.StringFixed(4), p.TotalBalance.StringFixed(4)}
			if got != want {
				t.Errorf("%s snapshot = %v, want %v", app, got, want)
			}
		}
		// One poll per second, not several: the scheduler keeps to the schedule.
		for i := 2; i < len(pts); i++ { // the start-up poll may sit close to the first scheduled one
			if gap := pts[i].T.Sub(pts[i-1].T); gap < 500*time.Millisecond {
				t.Errorf("%s: polls %v apart", app, gap)
			}
		}
	}
	pts, _ := st.Snapshots(ctx, "broken", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 100)
	if len(pts) != 0 {
		t.Errorf("broken: %d snapshots stored from error pages", len(pts))
	}
	fails, err := st.PollFailures(ctx, "broken")
	if err != nil {
		t.Fatal(err)
	}
	if len(fails) != 1 {
		t.Fatalf("broken: %d failure rows, want 1 (identical failures merge): %+v", len(fails), fails)
	}
	f := fails[0]
	if f.Kind != "server_error" || f.HTTPStatus != 502 || f.Polls < 3 || f.Code != 0 {
		t.Errorf("failure row = %+v", f)
	}
	// Every poll of the broken app reached the fake twice (one retry within the poll).
	if n := h.fake.Requests("k-broken"); n < 2*f.Polls {
		t.Errorf("fake saw %d requests for %d failed polls; want one retry each", n, f.Polls)
	}
}

func TestServiceWaitsForItsDatabase(t *testing.T) {
	cfg, err := config.Parse([]byte(`
database: {url: "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"}
apps: [{name: a, dev_key: k, dev_secret: s}]
defaults: {thresholds: {warning: "100", critical: "20"}}
`), func(string) (string, bool) { return "", false }, ".")
	if err != nil {
		t.Fatal(err)
	}
	var logs logtest.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	svc := app.New(app.Options{Config: cfg, ConnectRetry: 200 * time.Millisecond, Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	// While it waits, probes get answers: alive, not ready.
	for svc.Addr() == "" {
		time.Sleep(10 * time.Millisecond)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503, "/api/v1/apps": 503} {
		resp, err := http.Get("http://" + svc.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s while waiting for the database = %d, want %d", path, resp.StatusCode, want)
		}
	}
	if err := <-done; err != context.DeadlineExceeded {
		t.Fatalf("Run = %v, want it to keep waiting until its context ends", err)
	}
	if n := logs.Count("database not reachable; retrying"); n < 2 {
		t.Errorf("logged the wait %d times, want at least 2:\n%s", n, logs.String())
	}
}

var _ http.Handler = (*fake.Server)(nil)

// Two replicas on one database poll each scheduled slot once between them.
func TestReplicasPollEachSlotOnce(t *testing.T) {
	h := newHarness(t, fake.App{Name: "checkout", DevKey: "k", DevSecret: "s", Balance: "500"})
	upstream := httptest.NewServer(h.fake)
	defer upstream.Close()
	cfg := h.config(upstream.URL, `apps: [{name: checkout, dev_key: k, dev_secret: s}]`)
	stopA := h.start(cfg)
	stopB := h.start(cfg)
	h.waitPolls("checkout", 4)
	stopA()
	stopB()

	st, err := store.Open(context.Background(), h.dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var snapshots, slots int
	if err := st.Pool().QueryRow(context.Background(), `SELECT (SELECT count(*) FROM balance_snapshots), (SELECT count(*) FROM poll_slots)`).
		Scan(&snapshots, &slots); err != nil {
		t.Fatal(err)
	}
	requests := h.fake.Requests("k")
	if snapshots < 3 || snapshots != slots || requests != snapshots {
		t.Errorf("%d slots claimed, %d snapshots stored, %d requests upstream: want one poll per slot", slots, snapshots, requests)
	}
}

// A total that is not balance + gift is stored exactly as EngageLab sent it, and the log says
// so, naming the app.
func TestAnInconsistentTotalIsStoredAsReturnedAndFlagged(t *testing.T) {
	h := newHarness(t, fake.App{Name: "checkout", DevKey: "k", DevSecret: "s", Balance: "10"})
	h.fake.SetTotal("k", "10.0000", "1.0000", "12.0000")
	upstream := httptest.NewServer(h.fake)
	defer upstream.Close()
	var logs logtest.Buffer
	h.logTo = &logs
	h.start(h.config(upstream.URL, `apps: [{name: checkout, dev_key: k, dev_secret: s}]`))
	h.waitPolls("checkout", 1)

	st, err := store.Open(context.Background(), h.dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pts, err := st.Snapshots(context.Background(), "checkout", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 10)
	if err != nil || len(pts) == 0 {
		t.Fatalf("%d snapshots, %v", len(pts), err)
	}
	if got := [3]string{pts[0].Balance.StringFixed(4), pts[0].GiftBalance.StringFixed(4), pts[0].TotalBalance.StringFixed(4)}; got != [3]string{"10.0000", "1.0000", "12.0000"} {
		t.Errorf("stored %v, want the total as returned", got)
	}
	want := `msg="total_balance differs from balance + gift_balance; stored as returned" component=poller app=checkout currency=USD balance=10.0000 gift_balance=1.0000 total_balance=12.0000`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, logs.String())
	}
}
