package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/httpapi"
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
	// A port that nothing listens on: listen, note the address, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
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
