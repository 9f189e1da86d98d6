package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
)

func TestTestNotify(t *testing.T) {
	t.Parallel()
	hook := startReceiver(t, http.StatusOK)
	path := setup{apps: []fake.App{appHealthy}, notifiers: hook.webhook("hook"), notify: []string{"hook"}}.config(t)

	r := cli(t, "test-notify", "--config", path, "hook")
	r.want(t, 0)
	if want := "notifier hook: test message delivered\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	got := hook.got()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	if got[0].Type != "test" || !strings.HasPrefix(got[0].ID, "evt_") {
		t.Errorf("event = %+v, want type test with an evt_ id", got[0])
	}
	if want := "Test message from engagelab-monitor: if you can read this, notifier hook works."; got[0].Message != want {
		t.Errorf("message = %q, want %q", got[0].Message, want)
	}
}

func TestTestNotifyRefused(t *testing.T) {
	t.Parallel()
	hook := startReceiver(t, http.StatusNotFound)
	path := setup{apps: []fake.App{appHealthy}, notifiers: hook.webhook("hook"), notify: []string{"hook"}}.config(t)

	r := cli(t, "test-notify", "--config", path, "hook")
	r.want(t, 1)
	host := strings.TrimSuffix(hook.url, "/hook")
	want := "monitor: notifier hook: the test message was not delivered (a permanent refusal): webhook hook: " + host + " answered 404 Not Found\n"
	if r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
}

func TestTestNotifyUsage(t *testing.T) {
	t.Parallel()
	hook := startReceiver(t, http.StatusOK)
	path := setup{apps: []fake.App{appHealthy}, notifiers: hook.webhook("hook") + hook.webhook("pager"), notify: []string{"hook"}}.config(t)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"unknown name": {[]string{"nosuch"}, `monitor: no notifier named "nosuch"; configured: hook, pager`},
		"no name":      {nil, "monitor: test-notify needs exactly one notifier name, like `monitor test-notify ops`"},
		"two names":    {[]string{"hook", "pager"}, "monitor: test-notify needs exactly one notifier name, like `monitor test-notify ops`"},
	} {
		t.Run(name, func(t *testing.T) {
			r := cli(t, append([]string{"test-notify", "--config", path}, tc.args...)...)
			r.want(t, 2)
			if got := r.errorLine(t); got != tc.want {
				t.Errorf("error = %q, want %q", got, tc.want)
			}
		})
	}
	if n := len(hook.got()); n != 0 {
		t.Errorf("receiver got %d requests, want none", n)
	}
}
