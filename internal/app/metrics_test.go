package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
)

// scrape fetches the running service's /metrics and parses it with Prometheus's own parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sample returns the value of the series of family name with exactly these labels.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if match {
			return m.GetGauge().GetValue() + m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// The metrics reflect what the service really did: polls it made, deliveries it tried, the
// balances it stored and the alerts it holds. An observer left unwired (poller or delivery
// worker), a dead row counted twice or retried, or a store gauge reading the wrong row each
// break one of the assertions below.
func TestMetricsAfterRealPollsAndDeliveries(t *testing.T) {
	t.Parallel()
	h := newHarness(t,
		fake.App{Name: "a", DevKey: "k-a", DevSecret: "s-a", Balance: "500", Gift: "25.5"},
		fake.App{Name: "b", DevKey: "k-b", DevSecret: "s-b", Balance: "50"},
	)
	upstream := httptest.NewServer(h.fake)
	t.Cleanup(upstream.Close)
	var refused atomic.Int32
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		refused.Add(1)
		http.NotFound(w, nil)
	}))
	t.Cleanup(gone.Close)
	h.start(h.config(upstream.URL, fmt.Sprintf(`
notifiers: [{name: gone, type: webhook, url: "%s/hook"}]
apps:
  - {name: a, dev_key: k-a, dev_secret: s-a}
  - {name: b, dev_key: k-b, dev_secret: s-b, notify: [gone]}
`, gone.URL)))
	h.waitPolls("a", 2)

	dead := map[string]string{"notifier": "gone", "result": "dead"}
	waitUntil(t, "the refused notification to be counted", func() bool {
		_, ok := sample(scrape(t, h.addr), "engagelab_notifications_total", dead)
		return ok
	})
	// A few more polls at the same balance: no new event, and a dead row is never tried again.
	h.mu.Lock()
	polled := h.polled["b"]
	h.mu.Unlock()
	h.waitPolls("b", polled+2)
	fams := scrape(t, h.addr)

	if v, _ := sample(fams, "engagelab_polls_total", map[string]string{"app": "a", "result": "success"}); v < 2 {
		t.Errorf(`engagelab_polls_total{app="a",result="success"} = %v, want at least 2`, v)
	}
	if v, _ := sample(fams, "engagelab_notifications_total", dead); v != 1 {
		t.Errorf(`engagelab_notifications_total{notifier="gone",result="dead"} = %v, want 1`, v)
	}
	if n := refused.Load(); n != 1 {
		t.Errorf("the receiver was tried %d times, want once (404 is permanent)", n)
	}
	for app, want := range map[string]float64{"a": 525.5, "b": 50} {
		labels := map[string]string{"app": app, "currency": "USD", "kind": "total_balance"}
		if v, ok := sample(fams, "engagelab_balance", labels); !ok || v != want {
			t.Errorf(`engagelab_balance{app=%q,currency="USD",kind="total_balance"} = %v (present: %v), want %v`, app, v, ok, want)
		}
	}
	firing := map[string]string{"app": "b", "alert": "money", "rule": "low_balance", "severity": "warning"}
	if v, ok := sample(fams, "engagelab_alert_firing", firing); !ok || v != 1 {
		t.Errorf("engagelab_alert_firing for b's low balance = %v (present: %v), want 1", v, ok)
	}
	for _, m := range fams["engagelab_alert_firing"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "app" && l.GetValue() == "a" {
				t.Errorf("engagelab_alert_firing has a series for the healthy app a: %v", m.GetLabel())
			}
		}
	}
}
