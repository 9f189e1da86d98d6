package watch_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/delivery"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/notify/build"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
	"github.com/opsbalance/engagelab-monitor/internal/watch"
)

// clock is a clock the test sets.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// env is the monitor's parts over a fresh database: the config, an evaluator to feed polls
// through (so snapshots, ledger, alerts and outbox rows are what production writes) and a
// delivery worker to send what they queue.
type env struct {
	cfg   *config.Config
	st    *store.Store
	ev    *evaluate.Evaluator
	clock *clock
}

func setup(t *testing.T, doc string, vars map[string]string, now time.Time) *env {
	t.Helper()
	cfg, err := config.Parse([]byte(doc), func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := pgtest.New(t)
	names := make([]string, len(cfg.Apps))
	for i, a := range cfg.Apps {
		names[i] = a.Name
	}
	ids, err := st.EnsureApps(context.Background(), names)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: now}
	ev, err := evaluate.New(evaluate.Config{Store: st, Apps: cfg.Apps, Notifiers: cfg.Notifiers, AppIDs: ids, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{cfg: cfg, st: st, ev: ev, clock: c}
}

// watcher is one replica's watcher; started is when its process started.
func (e *env) watcher(t *testing.T, started time.Time, log *slog.Logger) *watch.Watcher {
	t.Helper()
	w, err := watch.New(watch.Config{Store: e.st, Config: e.cfg, Clock: e.clock.Now, Started: started, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// poll stores a successful poll of app with this total balance (no gift credit), at the clock's now.
func (e *env) poll(t *testing.T, app, total string) {
	t.Helper()
	d := decimal.RequireFromString(total)
	snap := &balance.Snapshot{PolledAt: e.clock.Now(), Currency: "USD", Balance: d, GiftBalance: decimal.Zero, TotalBalance: d}
	if _, err := e.ev.Observe(context.Background(), app, snap, nil); err != nil {
		t.Fatal(err)
	}
}

// fail stores a failed poll of app at the clock's now.
func (e *env) fail(t *testing.T, app string, f balance.Failure) {
	t.Helper()
	f.At = e.clock.Now()
	if _, err := e.ev.Observe(context.Background(), app, nil, &f); err != nil {
		t.Fatal(err)
	}
}

// deliver sends everything due at the clock's now through the configured notifiers.
func (e *env) deliver(t *testing.T) {
	t.Helper()
	notifiers, err := build.Notifiers(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := delivery.New(delivery.Config{Store: e.st, Notifiers: notifiers, Clock: e.clock.Now})
	if _, err := w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// logBuffer is a logger writing JSON lines into a buffer the test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

const pingSecret = "ping-s3cr3t-0b7c"

func heartbeatDoc(pingURL string) string {
	return `
database: {url: "postgres://unused"}
notifiers:
  - {name: hook, type: webhook, url: "${HOOK_URL}"}
defaults: {schedule: "@every 1m", thresholds: {warning: "100", critical: "20"}, notify: [hook]}
apps:
  - {name: a, dev_key: k, dev_secret: s}
  - {name: b, dev_key: k, dev_secret: s}
heartbeat: {url: "` + pingURL + `", every: 5m, max_outbox_age: 10m}
`
}

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestHeartbeatPingsAfterAHealthyCycleOncePerPeriodAcrossReplicas(t *testing.T) {
	ping := notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	hook := notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	e := setup(t, heartbeatDoc(ping.URL+"/"+pingSecret), map[string]string{"HOOK_URL": hook.URL}, t0)
	started := t0.Add(-time.Hour)
	one, two := e.watcher(t, started, nil), e.watcher(t, started, nil)

	e.clock.Set(t0.Add(-30 * time.Second))
	e.poll(t, "a", "500")
	e.poll(t, "b", "500")
	e.clock.Set(t0)
	b := one.Heartbeat(context.Background())
	if !b.Healthy || !b.Pinged || b.Err != nil {
		t.Fatalf("beat = %+v, want healthy and pinged", b)
	}
	r := ping.Only(t)
	if r.Method != http.MethodGet || r.Path != "/"+pingSecret {
		t.Errorf("ping was %s %s, want GET /%s", r.Method, r.Path, pingSecret)
	}

	// The other replica, a minute later, finds this period pinged.
	e.clock.Set(t0.Add(time.Minute))
	if b := two.Heartbeat(context.Background()); !b.Healthy || b.Pinged || !b.Skipped {
		t.Errorf("second replica's beat = %+v, want healthy and skipped", b)
	}
	if n := len(ping.Requests()); n != 1 {
		t.Errorf("receiver got %d pings within one period, want 1", n)
	}

	// A period later, the second replica pings (the first could have died meanwhile).
	e.clock.Set(t0.Add(5*time.Minute + time.Minute - 30*time.Second))
	e.poll(t, "a", "499")
	e.poll(t, "b", "499")
	e.clock.Set(t0.Add(6 * time.Minute))
	if b := two.Heartbeat(context.Background()); !b.Pinged {
		t.Errorf("beat a period later = %+v, want pinged", b)
	}
	if n := len(ping.Requests()); n != 2 {
		t.Errorf("receiver got %d pings over two periods, want 2", n)
	}
	got, err := e.st.Mark(context.Background(), "heartbeat.succeeded")
	if err != nil || !got.Equal(t0.Add(6*time.Minute)) {
		t.Errorf("last success recorded %v (%v), want %v", got, err, t0.Add(6*time.Minute))
	}
}

func TestHeartbeatWithheldWhileAnAppIsOverdue(t *testing.T) {
	ping := notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	hook := notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	e := setup(t, heartbeatDoc(ping.URL+"/"+pingSecret), map[string]string{"HOOK_URL": hook.URL}, t0)
	var logs logBuffer
	w := e.watcher(t, t0.Add(-time.Hour), logs.Logger())

	// b was last polled 10 minutes ago; at @every 1m its limit is 1m + 1m + 10s.
	e.clock.Set(t0.Add(-10 * time.Minute))
	e.poll(t, "b", "500")
	e.clock.Set(t0.Add(-20 * time.Second))
	e.poll(t, "a", "500")
	e.clock.Set(t0)
	b := w.Heartbeat(context.Background())
	if b.Healthy || b.Pinged || strings.Join(b.Overdue, ",") != "b" {
		t.Errorf("beat = %+v, want unhealthy with b overdue", b)
	}
	if n := len(ping.Requests()); n != 0 {
		t.Errorf("receiver got %d pings, want none", n)
	}
	out := logs.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "heartbeat withheld") ||
		!strings.Contains(out, `1 app(s) not polled on time: b`) {
		t.Errorf("log = %s; want one line saying b was not polled on time", out)
	}

	// b's key is revoked, and its access alert reached the webhook: it fails, people know, the
	// monitor itself works.
	e.clock.Set(t0.Add(-3 * time.Minute))
	e.fail(t, "b", balance.Failure{Kind: balance.AuthFailed, HTTPStatus: 401, Code: 2001, Message: "invalid token"})
	e.deliver(t)
	e.clock.Set(t0)
	if b := w.Heartbeat(context.Background()); !b.Healthy || !b.Pinged {
		t.Errorf("beat with b's failure told = %+v, want healthy and pinged", b)
	}
}

func TestHeartbeatWithheldWhileANotificationWaitsTooLong(t *testing.T) {
	ping := notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	hook := notifytest.NewReceiver(t, notifytest.Status(http.StatusServiceUnavailable))
	e := setup(t, heartbeatDoc(ping.URL+"/"+pingSecret), map[string]string{"HOOK_URL": hook.URL}, t0)
	w := e.watcher(t, t0.Add(-time.Hour), nil)

	// a falls below its warning threshold 11 minutes ago; the webhook has answered 503 since.
	e.clock.Set(t0.Add(-11 * time.Minute))
	e.poll(t, "a", "50")
	e.deliver(t)
	e.clock.Set(t0.Add(-30 * time.Second))
	e.poll(t, "a", "50")
	e.poll(t, "b", "500")
	e.clock.Set(t0)
	b := w.Heartbeat(context.Background())
	if b.Healthy || b.Pinged || len(b.Overdue) != 0 || b.OutboxAge != 11*time.Minute {
		t.Errorf("beat = %+v, want unhealthy for an 11m old notification, no app overdue", b)
	}
	if want := "the oldest pending notification is 11m0s old (heartbeat.max_outbox_age 10m0s)"; b.Reason(10*time.Minute) != want {
		t.Errorf("reason = %q, want %q", b.Reason(10*time.Minute), want)
	}
	if n := len(ping.Requests()); n != 0 {
		t.Errorf("receiver got %d pings, want none", n)
	}
}

func TestHeartbeatURLNeverLogged(t *testing.T) {
	refusing := notifytest.NewReceiver(t, notifytest.Status(http.StatusInternalServerError))
	gone := notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	gone.Close() // connection refused: net/http's error quotes the whole URL
	for name, url := range map[string]string{"answers 500": refusing.URL, "refuses connections": gone.URL} {
		t.Run(name, func(t *testing.T) {
			e := setup(t, heartbeatDoc(url+"/"+pingSecret+"?token="+pingSecret), map[string]string{"HOOK_URL": "http://127.0.0.1:1/x"}, t0)
			var logs logBuffer
			w := e.watcher(t, t0, logs.Logger())
			b := w.Heartbeat(context.Background())
			if b.Pinged || b.Err == nil {
				t.Fatalf("beat = %+v, want a failed ping", b)
			}
			if strings.Contains(b.Err.Error(), "s3cr3t") || strings.Contains(logs.String(), "s3cr3t") {
				t.Errorf("the ping URL leaked:\nerror: %v\nlog: %s", b.Err, logs.String())
			}
			if !strings.Contains(logs.String(), "heartbeat ping failed") || !strings.Contains(b.Err.Error(), "127.0.0.1") {
				t.Errorf("error %q / log %s: want a failed ping naming the host", b.Err, logs.String())
			}
			// The failed ping gave its period back: the next check tries again.
			e.clock.Set(t0.Add(time.Minute))
			if b := w.Heartbeat(context.Background()); b.Skipped {
				t.Errorf("a check after a failed ping was skipped as if the period were done")
			}
		})
	}
}
