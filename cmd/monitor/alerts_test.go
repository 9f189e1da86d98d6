package main

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
)

// rfc3339 matches a UTC time as the CLI prints it.
const rfc3339 = `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`

func TestAlerts(t *testing.T) {
	t.Parallel()
	hook := startReceiver(t, http.StatusOK)
	apps := []fake.App{appLow, appHealthy}
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps,
		notifiers: hook.webhook("hook"), notify: []string{"hook"}}.config(t)

	r := cli(t, "alerts", "--config", path)
	r.want(t, 0)
	if r.stdout != "no alerts firing\n" {
		t.Errorf("before any poll: stdout = %q, want %q", r.stdout, "no alerts firing\n")
	}

	cli(t, "poll-once", "--config", path).want(t, 0)

	r = cli(t, "alerts", "--config", path)
	r.want(t, 0)
	firing := regexp.MustCompile(`^APP  ALERT  RULE         SEVERITY  SINCE                 FOR\n` +
		`low  money  low_balance  warning   ` + rfc3339 + `  \d+s\n$`)
	if !firing.MatchString(r.stdout) {
		t.Errorf("stdout:\n%s\nwant it to match %s", r.stdout, firing)
	}

	r = cli(t, "alerts", "--config", path, "--app", "healthy")
	r.want(t, 0)
	if r.stdout != "no alerts firing\n" {
		t.Errorf("--app healthy: stdout = %q, want %q", r.stdout, "no alerts firing\n")
	}

	r = cli(t, "alerts", "--config", path, "--all")
	r.want(t, 0)
	log := regexp.MustCompile(`^TIME                  APP  TYPE          RULE         SEVERITY  DELIVERIES       MESSAGE\n` +
		rfc3339 + `  low  alert.firing  low_balance  warning   hook: delivered  low: total balance 50.0000 USD is below the warning threshold 100.0000 USD\n$`)
	if !log.MatchString(r.stdout) {
		t.Errorf("--all: stdout:\n%s\nwant it to match %s", r.stdout, log)
	}

	r = cli(t, "alerts", "--config", path, "--app", "nosuch")
	r.want(t, 1)
	if got, want := r.errorLine(t), `monitor: no app named "nosuch" in the database`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// A receiver that refuses for good turns the notification dead at once: poll-once says so and
// exits 1, and the event log shows the reason.
func TestAlertsDeadDelivery(t *testing.T) {
	t.Parallel()
	hook := startReceiver(t, http.StatusNotFound)
	apps := []fake.App{appLow}
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps,
		notifiers: hook.webhook("hook"), notify: []string{"hook"}}.config(t)
	host := strings.TrimSuffix(hook.url, "/hook")

	r := cli(t, "poll-once", "--config", path)
	r.want(t, 1)
	want := "monitor: notifier hook refused the alert.firing notification of low for good (webhook hook: " + host + " answered 404 Not Found)"
	if got := r.errorLine(t); got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if n := len(hook.got()); n != 1 {
		t.Errorf("receiver got %d requests, want 1 (a 404 is not retried)", n)
	}

	r = cli(t, "alerts", "--config", path, "--all")
	r.want(t, 0)
	dead := "  hook: dead (webhook hook: " + host + " answered 404 Not Found)  "
	if !strings.Contains(r.stdout, dead) {
		t.Errorf("--all: stdout lacks %q:\n%s", dead, r.stdout)
	}
}

func TestSilence(t *testing.T) {
	t.Parallel()
	hook := startReceiver(t, http.StatusOK)
	apps := []fake.App{appLow}
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps,
		notifiers: hook.webhook("hook"), notify: []string{"hook"}}.config(t)

	r := cli(t, "silence", "--config", path, "--app", "low", "--for", "2h", "--reason", "maintenance")
	r.want(t, 0)
	if !regexp.MustCompile(`^low silenced until ` + rfc3339 + `: maintenance\n$`).MatchString(r.stdout) {
		t.Errorf("stdout = %q", r.stdout)
	}

	// Silenced: the alert fires and is recorded, but nothing is sent.
	r = cli(t, "poll-once", "--config", path)
	r.want(t, 0)
	if !strings.Contains(r.stdout, "alert.firing low_balance/warning (silenced)") {
		t.Errorf("poll-once table does not show a silenced firing:\n%s", r.stdout)
	}
	if n := len(hook.got()); n != 0 {
		t.Errorf("receiver got %d events while silenced, want 0", n)
	}
	r = cli(t, "alerts", "--config", path, "--all")
	r.want(t, 0)
	if !regexp.MustCompile(`\n` + rfc3339 + `  low  alert.firing  low_balance  warning   silenced  `).MatchString(r.stdout) {
		t.Errorf("--all does not show the event as silenced:\n%s", r.stdout)
	}

	// Unsilenced with the alert still firing: one reminder is queued.
	r = cli(t, "unsilence", "--config", path, "--app", "low")
	r.want(t, 0)
	if want := "low is no longer silenced; 1 alert still firing: a reminder is queued for `monitor serve` to deliver\n"; r.stdout != want {
		t.Errorf("unsilence: stdout = %q, want %q", r.stdout, want)
	}
}

func TestSilenceUsage(t *testing.T) {
	t.Parallel()
	path := setup{apps: []fake.App{appLow}}.config(t)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no reason":     {[]string{"silence", "--app", "low", "--for", "2h"}, "monitor: silence needs --app NAME --for DURATION --reason TEXT"},
		"blank reason":  {[]string{"silence", "--app", "low", "--for", "2h", "--reason", " "}, "monitor: silence needs --app NAME --for DURATION --reason TEXT"},
		"no app":        {[]string{"silence", "--for", "2h", "--reason", "x"}, "monitor: silence needs --app NAME --for DURATION --reason TEXT"},
		"bad duration":  {[]string{"silence", "--app", "low", "--for", "soon", "--reason", "x"}, "monitor: --for must be a positive duration like 2h or 1d"},
		"negative":      {[]string{"silence", "--app", "low", "--for", "-2h", "--reason", "x"}, "monitor: --for must be a positive duration like 2h or 1d"},
		"unknown app":   {[]string{"silence", "--app", "nosuch", "--for", "2h", "--reason", "x"}, `monitor: no app named "nosuch" in the config`},
		"unsilence app": {[]string{"unsilence"}, "monitor: unsilence needs --app NAME"},
	} {
		t.Run(name, func(t *testing.T) {
			r := cli(t, append(tc.args, "--config", path)...)
			r.want(t, 2)
			if got := r.errorLine(t); got != tc.want {
				t.Errorf("error = %q, want %q", got, tc.want)
			}
		})
	}
}

// alerts prints firing alerts and the event log as CSV and JSON too, in the API's shapes.
func TestAlertsFormats(t *testing.T) {
	t.Parallel()
	hook := startReceiver(t, http.StatusOK)
	apps := []fake.App{appLow, appHealthy}
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps,
		notifiers: hook.webhook("hook"), notify: []string{"hook"}}.config(t)
	cli(t, "poll-once", "--config", path).want(t, 0)

	r := cli(t, "alerts", "--config", path, "--format", "csv")
	r.want(t, 0)
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || strings.Join(rows[0], ",") != "app,alert,rule,severity,since,level_since" ||
		strings.Join(rows[1][:4], ",") != "low,money,low_balance,warning" {
		t.Errorf("csv = %q", rows)
	}

	r = cli(t, "alerts", "--config", path, "--format", "json")
	r.want(t, 0)
	var firing struct {
		Alerts []struct{ App, Alert, Rule, Severity, Since string } `json:"alerts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &firing); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if len(firing.Alerts) != 1 || firing.Alerts[0].Rule != "low_balance" || firing.Alerts[0].Severity != "warning" {
		t.Errorf("json alerts = %+v", firing.Alerts)
	}

	r = cli(t, "alerts", "--config", path, "--all", "--format", "json")
	r.want(t, 0)
	var log struct {
		Events []struct {
			Type, Rule, Message string
			Deliveries          []struct{ Notifier, Status string } `json:"deliveries"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &log); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if len(log.Events) != 1 || log.Events[0].Type != "alert.firing" ||
		log.Events[0].Message != "low: total balance 50.0000 USD is below the warning threshold 100.0000 USD" ||
		len(log.Events[0].Deliveries) != 1 || log.Events[0].Deliveries[0].Status != "delivered" {
		t.Errorf("json events = %+v", log.Events)
	}

	r = cli(t, "alerts", "--config", path, "--all", "--format", "csv")
	r.want(t, 0)
	rows, err = csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || strings.Join(rows[0], ",") != "at,id,app,alert,type,rule,severity,since,deliveries,message" ||
		rows[1][8] != "hook: delivered" {
		t.Errorf("csv events = %q", rows)
	}

	cli(t, "alerts", "--config", path, "--format", "xml").want(t, 2)
}
