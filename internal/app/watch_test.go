package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/logtest"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
)

// The running service sends the day's digest (due since midnight UTC here) through the outbox,
// and pings the heartbeat once a period has passed on its clock with every app polled.
func TestServiceSendsTheDigestAndPingsTheHeartbeat(t *testing.T) {
	h := newHarness(t, fake.App{Name: "checkout", DevKey: "k-checkout", DevSecret: "s-checkout", Balance: "150", Gift: "0"})
	var offset atomic.Int64
	h.clock = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	upstream := httptest.NewServer(h.fake)
	defer upstream.Close()
	ping := notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	hook := notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	logs := &logtest.Buffer{}
	h.logTo = logs
	cfg := h.config(upstream.URL, fmt.Sprintf(`
notifiers:
  - {name: hook, type: webhook, url: "%s"}
apps:
  - {name: checkout, dev_key: k-checkout, dev_secret: s-checkout}
heartbeat: {url: "%s/ping-s3cr3t", every: 10s}
digest: {at: "00:00", notify: [hook]}
`, hook.URL, ping.URL))
	h.start(cfg)
	h.waitPolls("checkout", 1)

	// Past the heartbeat period and the digest's wait for the start-up polls (2s + 5s).
	offset.Store(int64(11 * time.Second))
	notifytest.Eventually(t, "the digest at the webhook", func() bool { return len(hook.Events(t, "")) > 0 })
	evs := hook.Events(t, "")
	d := evs[0].Digest
	if len(evs) != 1 || evs[0].Type != "digest" || d == nil || evs[0].ID != "dig_"+d.Date ||
		len(d.Apps) != 1 || d.Apps[0].Name != "checkout" || d.Apps[0].TotalBalance == nil || *d.Apps[0].TotalBalance != "150.0000" {
		t.Fatalf("webhook got %+v, want one digest of checkout at 150.0000", evs)
	}

	notifytest.Eventually(t, "a heartbeat ping", func() bool { return len(ping.Requests()) > 0 })
	if r := ping.Requests()[0]; r.Method != http.MethodGet || r.Path != "/ping-s3cr3t" {
		t.Errorf("ping was %s %s, want GET /ping-s3cr3t", r.Method, r.Path)
	}
	notifytest.Eventually(t, "the heartbeat metric", func() bool {
		v, ok := sample(scrape(t, h.addr), "engagelab_heartbeat_last_success_timestamp_seconds", map[string]string{})
		return ok && v > 0
	})
	if strings.Contains(logs.String(), "s3cr3t") {
		t.Errorf("the service's log shows the heartbeat URL:\n%s", logs.String())
	}
}
