package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/logtest"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// configFile is a config file on disk that the service reloads from, as `serve` does.
type configFile struct {
	t    *testing.T
	path string
}

func newConfigFile(t *testing.T, text string) *configFile {
	t.Helper()
	f := &configFile{t: t, path: filepath.Join(t.TempDir(), "monitor.yaml")}
	f.write(text)
	return f
}

func (f *configFile) write(text string) {
	f.t.Helper()
	if err := os.WriteFile(f.path, []byte(text), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func (f *configFile) load() (*config.Config, error) {
	return config.Load(f.path, func(string) (string, bool) { return "", false })
}

func (f *configFile) mustLoad() *config.Config {
	f.t.Helper()
	cfg, err := f.load()
	if err != nil {
		f.t.Fatal(err)
	}
	return cfg
}

// post sends a body-less POST, as `curl -X POST` does, and returns the status and the body's
// "error" sentence (or the whole body).
func post(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return resp.StatusCode, e.Error
	}
	return resp.StatusCode, string(b)
}

// line is what a person reads of a message: "app type rule/severity".
func lines(events []notify.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.App+" "+e.Type+" "+e.Rule+"/"+e.Severity)
	}
	return out
}

// A reload while alerts fire: checkout's warning threshold drops below its balance, gone is
// removed while its firing message waits in the outbox for a receiver that is down, quiet is
// silenced, and fresh is added. Nothing is lost and nothing is sent twice: gone's message is
// delivered once the receiver is back, its state and events stay; quiet stays silenced;
// checkout resolves at its next poll; fresh is polled and fires; gone is polled no more.
func TestReloadAddsRemovesAndChangesAppsWhileAlertsFire(t *testing.T) {
	t.Parallel()
	h := newHarness(t,
		fake.App{Name: "checkout", DevKey: "k-checkout", DevSecret: "s-checkout", Balance: "80", Gift: "0"},
		fake.App{Name: "gone", DevKey: "k-gone", DevSecret: "s-gone", Balance: "10", Gift: "0"},
		fake.App{Name: "quiet", DevKey: "k-quiet", DevSecret: "s-quiet", Balance: "150", Gift: "0"},
		fake.App{Name: "fresh", DevKey: "k-fresh", DevSecret: "s-fresh", Balance: "50", Gift: "0"},
	)
	upstream := httptest.NewServer(h.fake)
	t.Cleanup(upstream.Close)
	pager, ops := newHook(t), newHook(t)
	notifiers := fmt.Sprintf(`
notifiers:
  - {name: pager, type: webhook, url: "%s/pager", secret: %s}
  - {name: ops, type: webhook, url: "%s/ops", secret: %s}
`, pager.URL, hookSecret, ops.URL, hookSecret)
	file := newConfigFile(t, h.yaml(upstream.URL, notifiers+`
apps:
  - {name: checkout, dev_key: k-checkout, dev_secret: s-checkout, notify: [pager]}
  - {name: gone, dev_key: k-gone, dev_secret: s-gone, notify: [ops]}
  - {name: quiet, dev_key: k-quiet, dev_secret: s-quiet, notify: [pager]}
`))
	h.load = file.load
	st, err := store.Open(context.Background(), h.dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	ctx := context.Background()

	ops.setDown(true)
	h.start(file.mustLoad())
	pager.waitDelivered(t, "/pager", 1) // checkout: 80 < 100
	waitUntil(t, "gone's message to be refused by ops", func() bool { return len(ops.Requests()) > 0 })
	req, _ := http.NewRequest("POST", "http://"+h.addr+"/api/v1/apps/quiet/silence", strings.NewReader(`{"for":"1h"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("silence quiet: %v %v", resp, err)
	}
	h.fake.SetBalance("k-quiet", "10", "0")
	waitUntil(t, "quiet's silenced firing", func() bool {
		events, err := st.Events(ctx, "quiet", time.Time{}, 10)
		return err == nil && len(events) == 1
	})
	before := statuses(t, st)
	if len(before["gone"].Firing) != 1 || before["quiet"].SilencedUntil.IsZero() {
		t.Fatalf("before the reload: gone fires %v, quiet silenced until %v", before["gone"].Firing, before["quiet"].SilencedUntil)
	}

	file.write(h.yaml(upstream.URL, notifiers+`
apps:
  - {name: checkout, dev_key: k-checkout, dev_secret: s-checkout, notify: [pager], thresholds: {warning: "50", critical: "20"}}
  - {name: quiet, dev_key: k-quiet, dev_secret: s-quiet, notify: [pager]}
  - {name: fresh, dev_key: k-fresh, dev_secret: s-fresh, notify: [pager]}
`))
	if code, body := post(t, h.addr, "/-/reload"); code != 200 {
		t.Fatalf("POST /-/reload = %d %s", code, body)
	}
	goneAsked := h.fake.Requests("k-gone")

	pager.waitDelivered(t, "/pager", 3)
	h.waitPolls("fresh", 1)
	ops.setDown(false)
	ops.waitDelivered(t, "/ops", 1)
	h.mu.Lock()
	checkoutPolls := h.polled["checkout"]
	h.mu.Unlock()
	h.waitPolls("checkout", checkoutPolls+3) // time for a duplicate to show up, were there one

	diff(t, "pager's messages", []string{
		"checkout alert.firing low_balance/warning",
		"checkout alert.resolved low_balance/warning", // 80 is above the new warning of 50
		"fresh alert.firing low_balance/warning",
	}, sortedAfterFirst(lines(pager.delivered(t, "/pager"))))
	diff(t, "ops' messages", []string{"gone alert.firing low_balance/critical"}, lines(ops.delivered(t, "/ops")))
	// Every attempt at gone's message was the same message: one webhook-id, retried.
	for _, r := range ops.Requests() {
		if r.WebhookID != ops.Requests()[0].WebhookID {
			t.Errorf("ops got webhook-ids %q and %q: gone's message was queued twice", ops.Requests()[0].WebhookID, r.WebhookID)
		}
	}
	seen := map[string]bool{}
	for _, r := range pager.Requests() {
		if seen[r.WebhookID] {
			t.Errorf("pager got webhook-id %s twice", r.WebhookID)
		}
		seen[r.WebhookID] = true
	}
	// One poll of gone may have been on its way when the reload came.
	if n := h.fake.Requests("k-gone") - goneAsked; n > 1 {
		t.Errorf("gone was polled %d times after its removal", n)
	}

	after := statuses(t, st)
	if len(after["gone"].Firing) != 1 || after["gone"].Firing[0] != before["gone"].Firing[0] {
		t.Errorf("gone's alert state: %v before the reload, %v after; want it kept", before["gone"].Firing, after["gone"].Firing)
	}
	if !after["quiet"].SilencedUntil.Equal(before["quiet"].SilencedUntil) {
		t.Errorf("quiet silenced until %v before the reload, %v after", before["quiet"].SilencedUntil, after["quiet"].SilencedUntil)
	}
	for app, want := range map[string]int{"gone": 1, "quiet": 1, "checkout": 2, "fresh": 1} {
		events, err := st.Events(ctx, app, time.Time{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != want {
			t.Errorf("%s has %d events, want %d", app, len(events), want)
		}
	}
	rows, err := st.Notifications(ctx, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	var outbox []string
	for _, r := range rows {
		outbox = append(outbox, r.App+" "+r.Notifier+" "+r.Type+" "+r.Status)
	}
	slices.Sort(outbox)
	diff(t, "outbox rows", []string{
		"checkout pager alert.firing delivered",
		"checkout pager alert.resolved delivered",
		"fresh pager alert.firing delivered",
		"gone ops alert.firing delivered",
	}, outbox)

	resp, err := http.Get("http://" + h.addr + "/api/v1/apps")
	if err != nil {
		t.Fatal(err)
	}
	var listed struct{ Apps []struct{ Name string } }
	err = json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range listed.Apps {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	diff(t, "apps in the API", []string{"checkout", "fresh", "quiet"}, names)
	fams := scrape(t, h.addr)
	if v, ok := sample(fams, "engagelab_config_last_reload_successful", nil); !ok || v != 1 {
		t.Errorf("engagelab_config_last_reload_successful = %v (present %v), want 1", v, ok)
	}
	if _, ok := sample(fams, "engagelab_balance", map[string]string{"app": "gone", "currency": "USD", "kind": "total_balance"}); ok {
		t.Error("the removed app still has a balance series")
	}
	if v, ok := sample(fams, "engagelab_threshold", map[string]string{"app": "checkout", "kind": "total_balance", "level": "warning"}); v != 50 {
		t.Errorf("checkout's warning threshold series = %v (present %v), want the reloaded 50", v, ok)
	}
}

// sortedAfterFirst sorts all but the first line: what came first is fixed, the rest races.
func sortedAfterFirst(l []string) []string {
	if len(l) > 1 {
		slices.Sort(l[1:])
	}
	return l
}

func statuses(t *testing.T, st *store.Store) map[string]store.AppStatus {
	t.Helper()
	all, err := st.AppStatuses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.AppStatus{}
	for _, s := range all {
		out[s.Name] = s
	}
	return out
}

// A broken file is refused as a whole: the running config goes on (polls continue at the old
// threshold), the POST answers 400 with the loader's sentence, the log has that sentence on one
// line, and the metrics say the last reload failed while keeping the time of the last good one.
// Fixing the file and reloading again works.
func TestReloadOfABrokenFileKeepsTheRunningConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fake.App{Name: "checkout", DevKey: "k-checkout", DevSecret: "s-checkout", Balance: "150", Gift: "0"})
	upstream := httptest.NewServer(h.fake)
	t.Cleanup(upstream.Close)
	rc := newHook(t)
	good := h.yaml(upstream.URL, fmt.Sprintf(`
notifiers: [{name: pager, type: webhook, url: "%s/pager", secret: %s}]
apps:
  - {name: checkout, dev_key: k-checkout, dev_secret: s-checkout, notify: [pager]}
`, rc.URL, hookSecret))
	file := newConfigFile(t, good)
	h.load = file.load
	var log logtest.Buffer
	h.logTo = &log
	h.start(file.mustLoad())
	h.waitPolls("checkout", 1)

	fams := scrape(t, h.addr)
	if v, ok := sample(fams, "engagelab_config_last_reload_successful", nil); !ok || v != 1 {
		t.Fatalf("at start-up engagelab_config_last_reload_successful = %v (present %v), want 1", v, ok)
	}
	startedAt, ok := sample(fams, "engagelab_config_last_reload_success_timestamp_seconds", nil)
	if !ok || startedAt < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("at start-up engagelab_config_last_reload_success_timestamp_seconds = %v (present %v), want about now", startedAt, ok)
	}

	// The new warning threshold would fire at once, were any of the file applied.
	file.write(strings.Replace(good, "notify: [pager]}", `notify: [pager], thresholds: {warning: "200", critical: "lots"}}`, 1))
	_, loadErr := file.load()
	var invalid *config.ValidationError
	if !errors.As(loadErr, &invalid) {
		t.Fatalf("the broken file loads with %v", loadErr)
	}
	sentence := loadErr.Error()
	code, body := post(t, h.addr, "/-/reload")
	if code != http.StatusBadRequest || body != sentence {
		t.Errorf("POST /-/reload = %d %q, want 400 %q", code, body, sentence)
	}
	var logged []string
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, strconv.Quote(sentence)) {
			logged = append(logged, l)
		}
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "level=ERROR") || !strings.Contains(logged[0], "config not reloaded; the running config stays") {
		t.Errorf("log lines with the sentence: %q, want one ERROR line saying the running config stays\nlog:\n%s", logged, log.String())
	}

	h.mu.Lock()
	polls := h.polled["checkout"]
	h.mu.Unlock()
	h.waitPolls("checkout", polls+3)
	if n := len(rc.Requests()); n != 0 {
		t.Errorf("the receiver got %d messages: some of the broken file was applied", n)
	}
	fams = scrape(t, h.addr)
	if v, _ := sample(fams, "engagelab_config_last_reload_successful", nil); v != 0 {
		t.Errorf("after the broken reload engagelab_config_last_reload_successful = %v, want 0", v)
	}
	if v, _ := sample(fams, "engagelab_config_last_reload_success_timestamp_seconds", nil); v != startedAt {
		t.Errorf("after the broken reload the success timestamp = %v, want the start's %v", v, startedAt)
	}

	// Fixed, the file is taken: the threshold of 200 fires at the next poll.
	file.write(strings.Replace(good, "notify: [pager]}", `notify: [pager], thresholds: {warning: "200", critical: "20"}}`, 1))
	if code, body := post(t, h.addr, "/-/reload"); code != 200 {
		t.Fatalf("POST /-/reload of the fixed file = %d %s", code, body)
	}
	diff(t, "messages", []string{"checkout alert.firing low_balance/warning"}, lines(rc.waitDelivered(t, "/pager", 1)))
	fams = scrape(t, h.addr)
	if v, _ := sample(fams, "engagelab_config_last_reload_successful", nil); v != 1 {
		t.Errorf("after the good reload engagelab_config_last_reload_successful = %v, want 1", v)
	}
	if v, _ := sample(fams, "engagelab_config_last_reload_success_timestamp_seconds", nil); v <= startedAt {
		t.Errorf("after the good reload the success timestamp = %v, want later than the start's %v", v, startedAt)
	}
}
