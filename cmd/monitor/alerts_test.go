package main

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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
	r.want(t, 2)
	if got, want := r.errorLine(t), `monitor: no app named "nosuch" in the config; configured: low, healthy`; got != want {
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

	// Unsilenced with the alert still firing: one message is queued.
	r = cli(t, "unsilence", "--config", path, "--app", "low")
	r.want(t, 0)
	if want := "low is no longer silenced; 1 alert still firing: its message is queued for `monitor serve` to deliver\n"; r.stdout != want {
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
		"no reason":    {[]string{"silence", "--app", "low", "--for", "2h"}, "monitor: silence needs --app NAME --for DURATION --reason TEXT"},
		"blank reason": {[]string{"silence", "--app", "low", "--for", "2h", "--reason", " "}, "monitor: silence needs --app NAME --for DURATION --reason TEXT"},
		"no app":       {[]string{"silence", "--for", "2h", "--reason", "x"}, "monitor: silence needs --app NAME --for DURATION --reason TEXT"},
		"bad duration": {[]string{"silence", "--app", "low", "--for", "soon", "--reason", "x"}, "monitor: --for must be a positive duration like 2h or 1d"},
		"negative":     {[]string{"silence", "--app", "low", "--for=-2h", "--reason", "x"}, "monitor: --for must be a positive duration like 2h or 1d"},
		// kong reads a word starting with - as a flag unless = binds it.
		"negative, spaced": {[]string{"silence", "--app", "low", "--for", "-2h", "--reason", "x"},
			"monitor: silence: --for: expected string value but got \"-2h\" (short flag); perhaps try --for=\"-2h\"?; see `monitor help silence`"},
		"unknown app":   {[]string{"silence", "--app", "nosuch", "--for", "2h", "--reason", "x"}, `monitor: no app named "nosuch" in the config; configured: low`},
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

// An unknown app is the same mistake whichever verb meets it: one sentence, status 2.
func TestUnknownApp(t *testing.T) {
	t.Parallel()
	apps := []fake.App{appLow, appHealthy}
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps}.config(t)
	cli(t, "poll-once", "--config", path).want(t, 0) // both apps are in the database too
	want := `monitor: no app named "nosuch" in the config; configured: low, healthy`
	for _, args := range [][]string{
		{"history", "--app", "nosuch"},
		{"history", "--app", "nosuch", "--step", "1h"},
		{"alerts", "--app", "nosuch"},
		{"alerts", "--app", "nosuch", "--all"},
		{"silence", "--app", "nosuch", "--for", "2h", "--reason", "x"},
		{"unsilence", "--app", "nosuch"},
		{"poll-once", "--app", "nosuch"},
		{"spend", "--app", "nosuch"},
	} {
		r := cli(t, append(args, "--config", path)...)
		r.want(t, 2)
		if r.stderr != want+"\n" || r.stdout != "" {
			t.Errorf("%v: stderr = %q, stdout = %q; want stderr %q", args, r.stderr, r.stdout, want+"\n")
		}
	}
}

// A removed app keeps its history: it is known to the verbs that read the database.
func TestRemovedAppIsStillReadable(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	storeSnapshots(t, dbURL, "gone", snap("2026-01-01T10:05:00Z", "100.0000", "0", "100.0000"))
	path := setup{dbURL: dbURL, apps: []fake.App{appLow}}.config(t)
	r := cli(t, "history", "--config", path, "--app", "gone", "--from", "2026-01-01T10:00:00Z", "--to", "2026-01-01T11:00:00Z", "--format", "csv")
	r.want(t, 0)
	if want := "t,balance,gift_balance,total_balance\n2026-01-01T10:05:00Z,100.0000,0.0000,100.0000\n"; r.stdout != want {
		t.Errorf("history: stdout = %q, want %q", r.stdout, want)
	}
	cli(t, "alerts", "--config", path, "--app", "gone").want(t, 0)
	// Silencing needs the app's rules, which only the config has.
	r = cli(t, "silence", "--config", path, "--app", "gone", "--for", "1h", "--reason", "x")
	r.want(t, 2)
	if got, want := r.errorLine(t), `monitor: no app named "gone" in the config; configured: low`; got != want {
		t.Errorf("silence: error = %q, want %q", got, want)
	}
}

// Unsilencing an app that is not silenced changes nothing and says so; it is not a failure
// (status 0): the app is not silenced, which is what was asked for.
func TestUnsilenceNotSilenced(t *testing.T) {
	t.Parallel()
	hook := startReceiver(t, http.StatusOK)
	apps := []fake.App{appLow}
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps,
		notifiers: hook.webhook("hook"), notify: []string{"hook"}}.config(t)
	cli(t, "poll-once", "--config", path).want(t, 0) // low_balance fires

	r := cli(t, "unsilence", "--config", path, "--app", "low")
	r.want(t, 0)
	if want := "low was not silenced; nothing changed\n"; r.stdout != want || r.stderr != "" {
		t.Errorf("stdout = %q, stderr = %q; want stdout %q", r.stdout, r.stderr, want)
	}
	// Nothing was queued: no reminder of the firing alert.
	r = cli(t, "alerts", "--config", path, "--all", "--format", "csv")
	r.want(t, 0)
	if n := strings.Count(r.stdout, "\n"); n != 2 {
		t.Errorf("event log has %d lines, want the header and the one firing:\n%s", n, r.stdout)
	}

	// Once silenced and unsilenced, a second unsilence has nothing to do either.
	cli(t, "silence", "--config", path, "--app", "low", "--for", "1h", "--reason", "x").want(t, 0)
	r = cli(t, "unsilence", "--config", path, "--app", "low")
	r.want(t, 0)
	if !strings.HasPrefix(r.stdout, "low is no longer silenced") {
		t.Errorf("first unsilence: stdout = %q", r.stdout)
	}
	r = cli(t, "unsilence", "--config", path, "--app", "low")
	r.want(t, 0)
	if want := "low was not silenced; nothing changed\n"; r.stdout != want {
		t.Errorf("second unsilence: stdout = %q, want %q", r.stdout, want)
	}
}

// alerts shows which apps are silenced, until when and why, in the table and the JSON.
func TestAlertsShowsSilences(t *testing.T) {
	t.Parallel()
	apps := []fake.App{appLow, appHealthy}
	path := setup{dbURL: pgtest.URL(t), baseURL: startFake(t, apps...), apps: apps}.config(t)
	cli(t, "poll-once", "--config", path).want(t, 0)
	r := cli(t, "silence", "--config", path, "--app", "healthy", "--for", "2h", "--reason", "recharge ordered")
	r.want(t, 0)
	until := regexp.MustCompile(rfc3339).FindString(r.stdout)

	r = cli(t, "alerts", "--config", path)
	r.want(t, 0)
	table := regexp.MustCompile(`^APP  ALERT  RULE         SEVERITY  SINCE                 FOR\n` +
		`low  money  low_balance  warning   ` + rfc3339 + `  \d+s\n` +
		`\n` +
		`SILENCED  UNTIL                 REASON\n` +
		`healthy   ` + until + `  recharge ordered\n$`)
	if !table.MatchString(r.stdout) {
		t.Errorf("stdout:\n%s\nwant it to match %s", r.stdout, table)
	}

	r = cli(t, "alerts", "--config", path, "--app", "low")
	r.want(t, 0)
	if strings.Contains(r.stdout, "SILENCED") {
		t.Errorf("--app low shows another app's silence:\n%s", r.stdout)
	}

	r = cli(t, "alerts", "--config", path, "--format", "json")
	r.want(t, 0)
	var got struct {
		Alerts   []map[string]any    `json:"alerts"`
		Silences []map[string]string `json:"silences"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	want := []map[string]string{{"app": "healthy", "silenced_until": until, "reason": "recharge ordered"}}
	if d := cmp.Diff(want, got.Silences); d != "" || len(got.Alerts) != 1 {
		t.Errorf("silences (-want +got):\n%s\nalerts: %v", d, got.Alerts)
	}

	cli(t, "unsilence", "--config", path, "--app", "healthy").want(t, 0)
	r = cli(t, "alerts", "--config", path, "--app", "healthy", "--format", "json")
	r.want(t, 0)
	if want := "{\n  \"alerts\": [],\n  \"silences\": []\n}\n"; r.stdout != want {
		t.Errorf("after unsilence: stdout = %q, want %q", r.stdout, want)
	}
}
