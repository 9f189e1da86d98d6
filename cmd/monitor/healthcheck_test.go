package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/httpapi"
	"github.com/opsbalance/engagelab-monitor/internal/logtest"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
)

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
	}))
	t.Cleanup(ready.Close)
	// What serve answers while it waits for its database: /healthz 200, /readyz 503.
	starting := httptest.NewServer(httpapi.Starting())
	t.Cleanup(starting.Close)
	closed := freeAddr(t) // nothing listens there
	// A server that accepts but never answers.
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hung.Close)

	for name, tc := range map[string]struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		"ready": {
			args: []string{"--url", ready.URL + "/readyz"}, code: 0,
			stdout: "ready: " + ready.URL + "/readyz answered 200 OK\n",
		},
		"unready": {
			args: []string{"--url", starting.URL + "/readyz?token=s3cr3t"}, code: 1,
			stderr: "monitor: not ready: " + starting.URL + "/readyz answered 503 Service Unavailable: the monitor is starting: it is waiting for its database\n",
		},
		"alive is not ready": {
			args: []string{"--url", starting.URL + "/healthz"}, code: 0,
			stdout: "ready: " + starting.URL + "/healthz answered 200 OK\n",
		},
		"unreachable": {
			args: []string{"--url", "http://" + closed + "/readyz"}, code: 1,
			stderr: "monitor: not ready: http://" + closed + "/readyz is unreachable: dial tcp " + closed + ": connect: connection refused\n",
		},
		"no answer in time": {
			args: []string{"--url", hung.URL + "/readyz", "--timeout", "200ms"}, code: 1,
			stderr: "monitor: not ready: " + hung.URL + "/readyz did not answer in time\n",
		},
		"not a URL": {
			args: []string{"--url", "127.0.0.1:8080/readyz"}, code: 2,
			stderr: "monitor: healthcheck: --url \"127.0.0.1:8080/readyz\" is not an absolute http(s) URL\n",
		},
		"stray word": {
			args: []string{"now"}, code: 2,
			stderr: "monitor: healthcheck: unexpected argument now; see `monitor help healthcheck`\n",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := cli(t, append([]string{"healthcheck"}, tc.args...)...)
			r.want(t, tc.code)
			if r.stdout != tc.stdout || r.stderr != tc.stderr {
				t.Errorf("stdout = %q, stderr = %q\nwant stdout = %q, stderr = %q", r.stdout, r.stderr, tc.stdout, tc.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, "s3cr3t") {
				t.Errorf("the query string was printed")
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

// The Dockerfile's HEALTHCHECK relies on the default URL, so --help shows it.
func TestHealthcheckDefaultURL(t *testing.T) {
	t.Parallel()
	r := cli(t, "healthcheck", "--help")
	r.want(t, 0)
	if !strings.Contains(r.stdout+r.stderr, "http://127.0.0.1:8080/readyz") {
		t.Errorf("--help does not show the default URL:\n%s", r.stderr)
	}
}

// Against the real thing: `serve` waiting for an unreachable database is alive but not ready
// (exit 1, with its reason); `serve` on a good database becomes ready (exit 0); once it has
// stopped, nothing answers (exit 1).
func TestHealthcheckAgainstServe(t *testing.T) {
	t.Parallel()
	serve := func(dbURL string) (addr string, stop func()) {
		t.Helper()
		addr = freeAddr(t)
		cfg := setup{dbURL: dbURL, baseURL: startFake(t, appHealthy), apps: []fake.App{appHealthy}}.config(t)
		raw, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfg, append(raw, fmt.Sprintf("http: {listen: %q}\n", addr)...), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		var stderr logtest.Buffer
		go func() { done <- run(ctx, []string{"serve", "--config", cfg}, io.Discard, &stderr) }()
		var once sync.Once
		stop = func() {
			once.Do(func() {
				cancel()
				if code := <-done; code != 0 {
					t.Errorf("serve exited with %d\n%s", code, stderr.String())
				}
			})
		}
		t.Cleanup(stop)
		return addr, stop
	}
	// probe runs healthcheck until it exits with want (serve needs a moment to listen).
	probe := func(url string, want int) result {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			r := cli(t, "healthcheck", "--url", url, "--timeout", "2s")
			if r.code == want || time.Now().After(deadline) {
				r.want(t, want)
				return r
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// The database port is closed: serve listens, answers /healthz, and waits.
	waiting, _ := serve("postgres://monitor:db-password-42@" + freeAddr(t) + "/monitor?connect_timeout=1")
	probe("http://"+waiting+"/healthz", 0)
	r := probe("http://"+waiting+"/readyz", 1)
	if want := "monitor: not ready: http://" + waiting + "/readyz answered 503 Service Unavailable: the monitor is starting: it is waiting for its database\n"; r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
	if strings.Contains(r.stdout+r.stderr, "db-password-42") {
		t.Error("the database password was printed")
	}

	ready, stop := serve(pgtest.URL(t))
	r = probe("http://"+ready+"/readyz", 0)
	if want := "ready: http://" + ready + "/readyz answered 200 OK\n"; r.stdout != want || r.stderr != "" {
		t.Errorf("stdout = %q, stderr = %q, want stdout %q", r.stdout, r.stderr, want)
	}
	// serve labels engagelab_build_info with the binary's version.
	resp, err := http.Get("http://" + ready + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("engagelab_build_info{goversion=%q,version=%q} 1\n", runtime.Version(), version); !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %q", want)
	}
	stop()
	r = cli(t, "healthcheck", "--url", "http://"+ready+"/readyz")
	r.want(t, 1)
	if !strings.Contains(r.stderr, "is unreachable") {
		t.Errorf("after stop: %q", r.stderr)
	}
}
