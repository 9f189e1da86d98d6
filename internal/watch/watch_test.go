package watch_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/clocktest"
	"github.com/opsbalance/engagelab-monitor/internal/logtest"

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

// env is the monitor's parts over a fresh database: the config, an evaluator to feed polls
// through (so snapshots, ledger, alerts and outbox rows are what production writes) and a
// delivery worker to send what they queue.
type env struct {
	cfg   *config.Config
	st    *store.Store
	ev    *evaluate.Evaluator
	clock *clocktest.Clock
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
	c := clocktest.New(now)
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
type logBuffer struct{ logtest.Buffer }

func (b *logBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(&b.Buffer, &slog.HandlerOptions{Level: slog.LevelDebug}))
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

const digestDoc = `
database: {url: "postgres://unused"}
notifiers:
  - {name: hook, type: webhook, url: "${HOOK_URL}"}
  - {name: chat, type: slack, webhook_url: "${CHAT_URL}"}
  - {name: gone, type: webhook, url: "${GONE_URL}"}
defaults: {schedule: "@every 1h", thresholds: {warning: "100", critical: "20"}, notify: [hook]}
apps:
  - {name: checkout, dev_key: k, dev_secret: s}
  - {name: promo, dev_key: k, dev_secret: s, notify: [hook, gone]}
  - {name: fresh, dev_key: k, dev_secret: s}
digest: {at: "09:00", timezone: Asia/Shanghai, notify: [hook, chat]}
`

// digestEnv is digestDoc over three receivers: hook and chat accept, gone answers 410.
func digestEnv(t *testing.T, now time.Time) (e *env, hook, chat, gone *notifytest.Receiver) {
	t.Helper()
	hook = notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	chat = notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	gone = notifytest.NewReceiver(t, notifytest.Status(http.StatusGone))
	return setup(t, digestDoc, map[string]string{"HOOK_URL": hook.URL, "CHAT_URL": chat.URL, "GONE_URL": gone.URL}, now), hook, chat, gone
}

// outboxRows counts the outbox rows of an event, by notifier.
func outboxRows(t *testing.T, st *store.Store, eventID string) map[string]int {
	t.Helper()
	rows, err := st.Notifications(context.Background(), []string{eventID}, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Notifier]++
	}
	return out
}

func TestDigestOnceAtNineInItsTimezoneAcrossReplicas(t *testing.T) {
	// 09:00 in Shanghai is 01:00 UTC.
	nine := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	e, hook, chat, goneRcv := digestEnv(t, nine)
	gone := goneRcv.URL

	// checkout: an hourly poll from 24.5 h before the digest, spending 2.5000 an hour.
	total := decimal.RequireFromString("1000")
	for at := nine.Add(-24*time.Hour - 30*time.Minute); !at.After(nine.Add(-30 * time.Minute)); at = at.Add(time.Hour) {
		e.clock.Set(at)
		e.poll(t, "checkout", total.StringFixed(4))
		total = total.Sub(decimal.RequireFromString("2.5"))
	}
	// promo: below its warning threshold; its webhook "gone" refuses the alert for good.
	e.clock.Set(nine.Add(-15 * time.Minute))
	e.poll(t, "promo", "50.1234")
	e.deliver(t)

	// A minute before nine, nothing is due.
	e.clock.Set(nine.Add(-time.Minute))
	if queued, err := e.watcher(t, nine.Add(-time.Hour), nil).Digest(context.Background()); queued || err != nil {
		t.Fatalf("digest at 08:59 Shanghai: queued %v (%v), want not yet", queued, err)
	}

	// At nine, two replicas, each checking twice, race.
	e.clock.Set(nine)
	replicas := []*watch.Watcher{e.watcher(t, nine.Add(-time.Hour), nil), e.watcher(t, nine.Add(-time.Hour), nil)}
	var mu sync.Mutex
	queued := 0
	var wg sync.WaitGroup
	for _, w := range replicas {
		wg.Go(func() {
			for range 2 {
				ok, err := w.Digest(context.Background())
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					queued++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if queued != 1 {
		t.Errorf("digest queued %d times, want once", queued)
	}
	if got := outboxRows(t, e.st, "dig_2026-11-27"); got["hook"] != 1 || got["chat"] != 1 || len(got) != 2 {
		t.Errorf("outbox rows of the digest by notifier: %v, want one for hook and one for chat", got)
	}

	e.deliver(t)
	var digests []string
	for _, ev := range hook.Events(t, "") {
		if ev.Type == "digest" {
			digests = append(digests, ev.ID)
		}
	}
	if len(digests) != 1 || digests[0] != "dig_2026-11-27" {
		t.Fatalf("webhook got digests %v, want dig_2026-11-27 once", digests)
	}
	req := hook.Requests()[len(hook.Requests())-1]
	if req.WebhookID != "" && req.WebhookID != "dig_2026-11-27" {
		t.Errorf("webhook-id %q, want the digest's id", req.WebhookID)
	}
	body := string(req.Body)
	for _, want := range []string{
		`"type":"digest"`,
		`"message":"Daily digest for 2026-11-27 (Asia/Shanghai): 3 apps, 1 alert firing, 1 delivery died in the last 24 h"`,
		`"date":"2026-11-27","timezone":"Asia/Shanghai","from":"2026-11-26T01:00:00Z","to":"2026-11-27T01:00:00Z"`,
		`{"name":"checkout","currency":"USD","balance":"940.0000","gift_balance":"0.0000","total_balance":"940.0000","polled_at":"2026-11-27T00:30:00Z","spent_24h":"60.0000","burn_rate_24h":"2.5000","runway_seconds":1353600,"runs_dry_at":"2026-12-12T17:00:00Z","firing":[],"dead_deliveries":0}`,
		`{"name":"promo","currency":"USD","balance":"50.1234","gift_balance":"0.0000","total_balance":"50.1234","polled_at":"2026-11-27T00:45:00Z","spent_24h":"0.0000","burn_rate_24h":"0.0000","runway_seconds":null,"runs_dry_at":null,"firing":[{"alert":"money","rule":"low_balance","severity":"warning","since":"2026-11-27T00:45:00Z"}],"dead_deliveries":1}`,
		`{"name":"fresh","balance":null,"gift_balance":null,"total_balance":null,"polled_at":null,"spent_24h":null,"burn_rate_24h":null,"runway_seconds":null,"runs_dry_at":null,"firing":[],"dead_deliveries":0}`,
		`"dead_deliveries":[{"event_id":"evt_`,
		`"app":"promo","notifier":"gone","type":"alert.firing","error":"webhook gone: ` + gone + ` answered 410 Gone","at":"2026-11-27T00:45:00Z"}]`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("webhook digest lacks %s\nbody: %s", want, body)
		}
	}

	slack := string(chat.Only(t).Body)
	for _, want := range []string{
		`Daily digest for 2026-11-27`,
		`*checkout*: total 940.0000 USD · spent 60.0000 USD in 24 h (2.5000 USD/h) · runs dry in about 16 days (Sat 17:00 UTC)`,
		`*promo*: total 50.1234 USD · spent 0.0000 USD in 24 h (0.0000 USD/h) · runway unknown (too little history) · firing: low balance (warning) · 1 dead delivery`,
		`*fresh*: never polled successfully`,
		`promo → gone (alert.firing): webhook gone: ` + gone + ` answered 410 Gone`,
	} {
		if !strings.Contains(slack, want) {
			t.Errorf("slack digest lacks %q\nbody: %s", want, slack)
		}
	}
}

func TestDigestAfterALateStartAndNotForMissedDays(t *testing.T) {
	// The service was down at 09:00 Shanghai on the 27th and comes up at 15:00 (07:00 UTC).
	late := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	e, hook, _, _ := digestEnv(t, late)
	e.poll(t, "checkout", "500")
	w := e.watcher(t, late, nil)
	// Not before its start-up polls had engagelab.timeout and a few seconds.
	if queued, err := w.Digest(context.Background()); queued || err != nil {
		t.Fatalf("at start-up: queued %v (%v), want to wait for the start-up polls", queued, err)
	}
	e.clock.Set(late.Add(20 * time.Second))
	if queued, err := w.Digest(context.Background()); !queued || err != nil {
		t.Fatalf("late start: queued %v (%v), want the day's digest", queued, err)
	}
	e.deliver(t)
	// A restart later that day sends nothing more.
	e.clock.Set(late.Add(3 * time.Hour))
	if queued, err := e.watcher(t, late.Add(time.Hour), nil).Digest(context.Background()); queued || err != nil {
		t.Errorf("restart the same day: queued %v (%v), want nothing", queued, err)
	}
	// Down from then until the 29th at 10:00 Shanghai: the 29th's digest, not the 28th's.
	e.clock.Set(time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC))
	if queued, err := w.Digest(context.Background()); !queued || err != nil {
		t.Errorf("29th: queued %v (%v), want the day's digest", queued, err)
	}
	for id, want := range map[string]bool{"dig_2026-11-27": true, "dig_2026-11-28": false, "dig_2026-11-29": true} {
		if got, err := e.st.EventExists(context.Background(), id); err != nil || got != want {
			t.Errorf("event %s exists: %v (%v), want %v", id, got, err, want)
		}
	}
	e.deliver(t)
	var got []string
	for _, ev := range hook.Events(t, "") {
		got = append(got, ev.ID)
	}
	if strings.Join(got, ",") != "dig_2026-11-27,dig_2026-11-29" {
		t.Errorf("webhook got %v, want the digests of the 27th and the 29th", got)
	}
}

func TestQueueMonitorEventOnceWhenManyRace(t *testing.T) {
	st := pgtest.New(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	queued := 0
	for range 8 {
		wg.Go(func() {
			ok, err := st.QueueMonitorEvent(context.Background(), store.MonitorEvent{
				ID: "dig_2026-11-27", Type: "digest", At: t0, Payload: []byte(`{"type":"digest"}`), Notifiers: []string{"hook", "chat"}})
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				queued++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if queued != 1 {
		t.Errorf("queued %d times, want once", queued)
	}
	if got := outboxRows(t, st, "dig_2026-11-27"); got["hook"] != 1 || got["chat"] != 1 || len(got) != 2 {
		t.Errorf("outbox rows by notifier: %v, want one each for hook and chat", got)
	}
}

func TestCycleChecksOncePerPeriodFromTheStart(t *testing.T) {
	ping := notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	e := setup(t, heartbeatDoc(ping.URL+"/"+pingSecret), map[string]string{"HOOK_URL": "http://127.0.0.1:1/x"}, t0)
	w := e.watcher(t, t0, nil)
	for _, step := range []struct {
		after time.Duration
		pings int
	}{{0, 0}, {4 * time.Minute, 0}, {5 * time.Minute, 1}, {7 * time.Minute, 1}, {10 * time.Minute, 2}} {
		e.clock.Set(t0.Add(step.after - 20*time.Second))
		e.poll(t, "a", "500")
		e.poll(t, "b", "500")
		e.clock.Set(t0.Add(step.after))
		w.Cycle(context.Background())
		if n := len(ping.Requests()); n != step.pings {
			t.Errorf("after %s: %d pings, want %d", step.after, n, step.pings)
		}
	}
}

// A reload that adds a heartbeat starts it: the first check a whole period after the reload.
func TestSetConfigStartsAHeartbeatAddedByAReload(t *testing.T) {
	ping := notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	e := setup(t, heartbeatDoc(ping.URL+"/"+pingSecret), map[string]string{"HOOK_URL": "http://127.0.0.1:1/x"}, t0)
	without := *e.cfg
	without.Heartbeat = nil
	w, err := watch.New(watch.Config{Store: e.st, Config: &without, Clock: e.clock.Now, Started: t0})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		after  time.Duration
		reload bool
		pings  int
	}{{5 * time.Minute, false, 0}, {6 * time.Minute, true, 0}, {10 * time.Minute, false, 0}, {11 * time.Minute, false, 1}} {
		e.clock.Set(t0.Add(step.after - 20*time.Second))
		e.poll(t, "a", "500")
		e.poll(t, "b", "500")
		e.clock.Set(t0.Add(step.after))
		if step.reload {
			w.SetConfig(e.cfg)
		}
		w.Cycle(context.Background())
		if n := len(ping.Requests()); n != step.pings {
			t.Errorf("after %s: %d pings, want %d", step.after, n, step.pings)
		}
	}
}
