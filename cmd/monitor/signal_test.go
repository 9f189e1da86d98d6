package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/logtest"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
)

// TestMain lets a test run the monitor as a process of its own (the test binary re-executed
// with MONITOR_TEST_MAIN=1 is `monitor`), so that real signals reach the real main.
func TestMain(m *testing.M) {
	if os.Getenv("MONITOR_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// process starts `monitor args...` as a process of its own; its stderr is collected.
func process(t *testing.T, args ...string) (*exec.Cmd, *logtest.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MONITOR_TEST_MAIN=1")
	var stderr logtest.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &stderr
}

// SIGHUP reloads a running `monitor serve` process: while a webhook request is in flight (the
// receiver holds each 1.5 s), the process reloads the file, which adds an app, and keeps
// running; the request is answered rather than cut, and its message is delivered once. The
// added app is polled and its alert sent; SIGTERM comes while that request is in flight,
// drains it, and the process exits 0. Each message reaches the receiver once.
func TestSIGHUPReloadsServeWithoutCuttingADeliveryAndSIGTERMDrains(t *testing.T) {
	t.Parallel()
	var answered, cut atomic.Int32
	arrived := make(chan string, 10)
	var rc *notifytest.Receiver
	rc = notifytest.NewReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		seen := rc.Requests() // this request is the last one recorded
		arrived <- seen[len(seen)-1].Event(t).App
		select {
		case <-time.After(1500 * time.Millisecond):
			w.WriteHeader(http.StatusNoContent)
			answered.Add(1)
		case <-r.Context().Done(): // the monitor hung up mid-request
			cut.Add(1)
		}
	})
	addr := freeAddr(t)
	world := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, appLow, appNegative), apps: []fake.App{appLow}, notify: []string{"pager"},
		notifiers: fmt.Sprintf("  - {name: pager, type: webhook, url: %q}\n", rc.URL+"/hook")}
	path := world.config(t)
	listen := fmt.Sprintf("http: {listen: %q}\n", addr)
	appendTo(t, path, listen)
	world.apps = []fake.App{appLow, appNegative}
	reloaded, err := os.ReadFile(world.config(t))
	if err != nil {
		t.Fatal(err)
	}
	waitArrival := func(want string) {
		t.Helper()
		select {
		case app := <-arrived:
			if app != want {
				t.Fatalf("a message about %s reached the receiver, want %s", app, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no message about %s reached the receiver", want)
		}
	}

	cmd, stderr := process(t, "serve", "--config", path)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the monitor's log:\n%s", stderr.String())
		}
	})
	waitArrival("low") // 50.0000 is below the warning threshold of 100: the message is on its way
	if err := os.WriteFile(path, append(reloaded, listen...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	notifytest.Eventually(t, "the reload to be logged", func() bool { return strings.Contains(stderr.String(), "config reloaded") })
	notifytest.Eventually(t, "low's request to be answered", func() bool { return answered.Load()+cut.Load() >= 1 })
	if cut.Load() != 0 {
		t.Fatalf("the request in flight was cut at SIGHUP\n%s", stderr.String())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("after SIGHUP the monitor does not answer: %v\n%s", err, stderr.String())
	}
	resp.Body.Close()

	waitArrival("negative") // the added app, polled at once, is in overdraft
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v, want exit status 0\n%s", err, stderr.String())
	}
	if answered.Load() != 2 || cut.Load() != 0 {
		t.Errorf("%d requests answered and %d cut, want 2 answered\n%s", answered.Load(), cut.Load(), stderr.String())
	}
	if n := len(rc.Requests()); n != 2 {
		t.Errorf("the receiver got %d requests, want each of the 2 messages once\n%s", n, stderr.String())
	}
	if n := strings.Count(stderr.String(), "notification delivered"); n != 2 {
		t.Errorf("%d deliveries recorded, want 2\n%s", n, stderr.String())
	}
	if !strings.Contains(stderr.String(), "msg=stopped") {
		t.Errorf("the monitor did not say it stopped\n%s", stderr.String())
	}
}

// appendTo appends text to the file at path.
func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// A verb other than serve stops on SIGHUP as on Ctrl-C, finishing what it does: a closed
// terminal does not kill it in the middle (exit 0, not death by signal).
func TestSIGHUPStopsOtherVerbsGracefully(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	cmd, out := process(t, "simulate", "--listen", addr)
	notifytest.Eventually(t, "simulate to serve", func() bool {
		resp, err := http.Get("http://" + addr + "/v1/balance")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after SIGHUP: %v, want exit status 0\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("simulate still runs 20 s after SIGHUP\n%s", out.String()) // the cleanup kills it
	}
}

// serve logs to stderr; when its reader goes away (journald restarted, a pipe closed), the
// lines are lost but serve goes on, and still stops gracefully: a broken pipe is not a kill.
func TestServeOutlivesAClosedStderr(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, appHealthy), apps: []fake.App{appHealthy}}.config(t)
	appendTo(t, path, fmt.Sprintf("http: {listen: %q}\n", addr))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // every log line from now on hits a broken pipe
	cmd := exec.Command(os.Args[0], "serve", "--config", path)
	cmd.Env = append(os.Environ(), "MONITOR_TEST_MAIN=1")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	ready := func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		select {
		case err := <-exited:
			t.Fatalf("serve died with its stderr closed: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("serve never became ready")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil { // a reload logs, at info
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s of SIGTERM")
	}
}
