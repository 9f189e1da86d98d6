package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
)

func TestPollOnceMixed(t *testing.T) {
	t.Parallel()
	apps := []fake.App{appHealthy, appNegative, appFailing}
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps}.config(t)

	r := cli(t, "poll-once", "--config", path)
	r.want(t, 1)
	want := "APP       RESULT                              CURRENCY  BALANCE   GIFT     TOTAL     EVENTS\n" +
		"failing   server_error (HTTP 500, code 1000)  -         -         -        -         \n" +
		"healthy   ok                                  USD       500.0000  25.5000  525.5000  \n" +
		"negative  ok                                  USD       -12.3400  0.0000   -12.3400  alert.firing overdraft/critical\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if got, want := r.errorLine(t), "monitor: 1 of 3 polls failed"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	for _, a := range apps {
		if strings.Contains(r.stdout+r.stderr, a.DevSecret) {
			t.Errorf("output contains the dev_secret of %s", a.Name)
		}
	}
}

func TestPollOnceAllHealthy(t *testing.T) {
	t.Parallel()
	apps := []fake.App{appHealthy, appNegative}
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps}.config(t)

	r := cli(t, "poll-once", "--config", path)
	r.want(t, 0)
	if !strings.Contains(r.stdout, "\nhealthy   ok ") || !strings.Contains(r.stdout, "\nnegative  ok ") {
		t.Errorf("stdout does not show both apps ok:\n%s", r.stdout)
	}
}

func TestPollOnceOneApp(t *testing.T) {
	t.Parallel()
	apps := []fake.App{appHealthy, appFailing}
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps}.config(t)

	r := cli(t, "poll-once", "--config", path, "--app", "healthy")
	r.want(t, 0)
	want := "APP      RESULT  CURRENCY  BALANCE   GIFT     TOTAL     EVENTS\n" +
		"healthy  ok      USD       500.0000  25.5000  525.5000  \n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}

	r = cli(t, "poll-once", "--config", path, "--app", "nosuch")
	r.want(t, 2)
	if got, want := r.errorLine(t), `monitor: no app named "nosuch" in the config; configured: healthy, failing`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestPollOnceDeliversWhatItCaused(t *testing.T) {
	t.Parallel()
	hook := startReceiver(t, http.StatusOK)
	apps := []fake.App{appLow}
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps,
		notifiers: hook.webhook("hook"), notify: []string{"hook"}}.config(t)

	r := cli(t, "poll-once", "--config", path)
	r.want(t, 0)
	got := hook.got()
	if len(got) != 1 {
		t.Fatalf("receiver got %d events before poll-once returned, want 1: %+v", len(got), got)
	}
	ev := got[0]
	if ev.Type != "alert.firing" || ev.App != "low" || ev.Rule != "low_balance" || ev.Severity != "warning" || ev.TotalBalance != "50.0000" {
		t.Errorf("event = %+v, want alert.firing low_balance/warning for low at 50.0000", ev)
	}
	if !strings.Contains(r.stdout, "alert.firing low_balance/warning") {
		t.Errorf("the table does not show the event:\n%s", r.stdout)
	}

	// The alert is already firing: a second poll sends nothing new.
	r = cli(t, "poll-once", "--config", path)
	r.want(t, 0)
	if n := len(hook.got()); n != 1 {
		t.Errorf("after a second poll the receiver has %d events, want still 1", n)
	}
}

func TestPollOnceUndelivered(t *testing.T) {
	t.Parallel()
	hook := startReceiver(t, http.StatusInternalServerError)
	apps := []fake.App{appLow}
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps,
		notifiers: hook.webhook("hook"), notify: []string{"hook"}}.config(t)

	r := cli(t, "poll-once", "--config", path, "--deliver-timeout", "2s")
	r.want(t, 1)
	want := "monitor: 1 notification is still undelivered after 2s; it stays in the outbox for `monitor serve` to deliver"
	if got := r.errorLine(t); got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if len(hook.got()) == 0 {
		t.Errorf("the receiver was never tried")
	}
	// The event log says why it still waits.
	r = cli(t, "alerts", "--all", "--config", path)
	r.want(t, 0)
	host := strings.TrimSuffix(hook.url, "/hook")
	if !strings.Contains(r.stdout, "hook: pending after ") ||
		!strings.Contains(r.stdout, "(webhook hook: "+host+" answered 500 Internal Server Error)") {
		t.Errorf("alerts --all:\n%s\nwant the pending row with its attempts and last error", r.stdout)
	}
}

// A receiver that fails twice and then accepts gets the notification within --deliver-timeout:
// poll-once retries (with backoff) rather than leaving it to `monitor serve`.
func TestPollOnceRetriesWithinDeliverTimeout(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		ids []string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get("webhook-id"))
		n := len(ids)
		mu.Unlock()
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(hook.Close)
	apps := []fake.App{appLow}
	notifiers := fmt.Sprintf("  - {name: hook, type: webhook, url: %q, secret: %s}\n", hook.URL+"/hook",
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") // a secret makes it send the webhook-id header
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps,
		notifiers: notifiers, notify: []string{"hook"}}.config(t)

	r := cli(t, "poll-once", "--config", path, "--deliver-timeout", "20s")
	r.want(t, 0)
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 3 {
		t.Fatalf("receiver got %d requests, want 3 (two refused, then accepted)", len(ids))
	}
	if ids[0] == "" || ids[1] != ids[0] || ids[2] != ids[0] {
		t.Errorf("webhook-ids %q, want the same non-empty id on every attempt", ids)
	}
}
