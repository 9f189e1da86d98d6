package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
)

// result is what a person running the binary would see.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs `monitor args...` in-process.
func cli(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// errorLine is the one sentence run printed for a failure: the stderr line starting with
// "monitor: " (log lines, which start with "time=", may surround it).
func (r result) errorLine(t *testing.T) string {
	t.Helper()
	var found []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "monitor: ") {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one \"monitor: \" line on stderr, got %d; stderr:\n%s", len(found), r.stderr)
	}
	return found[0]
}

func (r result) want(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

// writeFile writes a file in the test's temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Fake EngageLab apps used across the tests.
var (
	appHealthy  = fake.App{Name: "healthy", DevKey: "key-healthy", DevSecret: "secret-healthy-1", Balance: "500.0000", Gift: "25.5000"}
	appNegative = fake.App{Name: "negative", DevKey: "key-negative", DevSecret: "secret-negative-1", Balance: "-12.3400"}
	appFailing  = fake.App{Name: "failing", DevKey: "key-failing", DevSecret: "secret-failing-1", Balance: "300.0000"}
	appLow      = fake.App{Name: "low", DevKey: "key-low", DevSecret: "secret-low-1", Balance: "50.0000"}
)

// startFake serves a fake EngageLab with the given apps and returns its base URL; appFailing
// always answers 500.
func startFake(t *testing.T, apps ...fake.App) string {
	t.Helper()
	f := fake.New(fake.Scenario{Apps: apps}, nil)
	for _, a := range apps {
		if a.DevKey == appFailing.DevKey {
			f.Fail(a.DevKey, fake.Failure{Status: 500, Code: 1000, Message: "internal error"})
		}
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

// setup is one test's world: a config file pointing at a database and a fake EngageLab.
type setup struct {
	dbURL     string
	baseURL   string
	notifiers string   // YAML list items under notifiers:
	notify    []string // every app's notify list
	apps      []fake.App
}

// config writes the config file and returns its path.
func (s setup) config(t *testing.T) string {
	t.Helper()
	if s.dbURL == "" {
		s.dbURL = "postgres://monitor:db-password-42@127.0.0.1:1/monitor"
	}
	if s.baseURL == "" {
		s.baseURL = "http://127.0.0.1:1"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "database: {url: %q}\n", s.dbURL)
	fmt.Fprintf(&b, "engagelab: {base_url: %q, timeout: 5s}\n", s.baseURL)
	b.WriteString("defaults:\n  schedule: \"@every 1m\"\n  thresholds: {warning: \"100\", critical: \"20\"}\n")
	fmt.Fprintf(&b, "  notify: [%s]\n", strings.Join(s.notify, ", "))
	if s.notifiers != "" {
		b.WriteString("notifiers:\n" + s.notifiers)
	}
	b.WriteString("apps:\n")
	for _, a := range s.apps {
		fmt.Fprintf(&b, "  - {name: %s, dev_key: %s, dev_secret: %s}\n", a.Name, a.DevKey, a.DevSecret)
	}
	return writeFile(t, "monitor.yaml", b.String())
}

// receiver is the shared fake receiver, answering every request with one status.
type receiver struct {
	*notifytest.Receiver
	t   *testing.T
	url string
}

func startReceiver(t *testing.T, status int) *receiver {
	t.Helper()
	rc := notifytest.NewReceiver(t, notifytest.Status(status))
	return &receiver{Receiver: rc, t: t, url: rc.URL + "/hook"}
}

// got decodes every event the receiver was sent, whatever it answered.
func (r *receiver) got() []notify.Event {
	var out []notify.Event
	for _, req := range r.Requests() {
		out = append(out, req.Event(r.t))
	}
	return out
}

// webhook is the notifiers: entry for a receiver.
func (r *receiver) webhook(name string) string {
	return fmt.Sprintf("  - {name: %s, type: webhook, url: %q}\n", name, r.url)
}

func TestAMalformedDatabaseURLIsAConfigError(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "monitor.yaml")
	if err := os.WriteFile(path, []byte(`
database: {url: "postgres://u:p@host:notaport/db"}
http: {listen: "127.0.0.1:0"}
defaults: {thresholds: {warning: "100", critical: "20"}}
apps: [{name: a, dev_key: k, dev_secret: s}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"check-config", "serve", "poll-once"} {
		r := cli(t, verb, "--config", path)
		r.want(t, 2)
		if got, want := r.errorLine(t), "monitor: database.url is not a valid PostgreSQL connection string"; got != want {
			t.Errorf("%s: error = %q, want %q", verb, got, want)
		}
	}
}
