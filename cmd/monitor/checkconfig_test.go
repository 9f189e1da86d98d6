package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// fullConfig has a secret of every kind, each a distinctive string to search output for.
const fullConfig = `
database: {url: "postgres://monitor:db-password-42@127.0.0.1:5432/monitor"}
http:
  tokens:
    - {name: ops, token: api-token-secret-7, scope: write}
defaults:
  schedule: "@every 1m"
  thresholds: {warning: "100", critical: "20"}
  notify: [ops, pager]
notifiers:
  - {name: ops, type: slack, webhook_url: "https://hooks.slack.com/services/T000/B000/slack-hook-secret-9"}
  - {name: bot, type: slack, token: xoxb-bot-token-secret-3, channel: C0123456789, thread: true}
  - {name: pager, type: webhook, url: "https://hooks.example.com/balance", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", min_severity: critical}
apps:
  - {name: checkout, dev_key: key-checkout, dev_secret: dev-secret-checkout-5, thresholds: {warning: "500.5", critical: "100"}}
  - {name: signup, dev_key: key-signup, dev_secret: dev-secret-signup-6, schedule: "*/5 * * * *", amount: balance}
`

var fullConfigSecrets = []string{
	"db-password-42", "api-token-secret-7", "slack-hook-secret-9", "hooks.slack.com",
	"xoxb-bot-token-secret-3", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "dev-secret-checkout-5", "dev-secret-signup-6",
}

func TestCheckConfigValid(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "monitor.yaml", fullConfig)
	r := cli(t, "check-config", "--config", path)
	r.want(t, 0)

	head := "config " + path + " is valid: 2 apps, 3 notifiers\n\n" +
		"APP       SCHEDULE     AMOUNT         WARNING   CRITICAL  STALE AFTER  NOTIFY\n" +
		"checkout  @every 1m    total_balance  500.5000  100.0000  10m0s        ops,pager\n" +
		"signup    */5 * * * *  balance        100.0000  20.0000   15m0s        ops,pager\n" +
		"\n" +
		"NOTIFIER  TYPE     MIN SEVERITY\n" +
		"ops       slack    warning\n" +
		"bot       slack    warning\n" +
		"pager     webhook  critical\n"
	if !strings.HasPrefix(r.stdout, head) {
		t.Errorf("stdout does not start with the summary tables:\n%s\nwant:\n%s", r.stdout, head)
	}
	for _, want := range []string{
		"pager     webhook  critical\n" +
			"note: ops is a Slack incoming webhook, which cannot reply in threads (thread: true needs token and channel)\n\n",
		"# effective configuration (defaults applied, secrets redacted)\n",
		"  url: '***'\n",
		"      token: '***'\n",
		"    webhook_url: '***'\n",
		"    secret: '***'\n",
		"    dev_secret: '***'\n",
		"    thresholds: {warning: \"100\", critical: \"20\"}\n", // signup inherits the defaults
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, secret := range fullConfigSecrets {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("output contains the secret %q", secret)
		}
	}
}

func TestCheckConfigProblems(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "monitor.yaml", `
database: {url: "postgres://monitor:db-password-42@127.0.0.1:5432/monitor"}
defaults:
  schedule: "every minute"
  thresholds: {warning: "100", critical: "20"}
apps:
  - {name: checkout, dev_key: key-checkout, dev_secret: dev-secret-checkout-5, thresholds: {warning: "1O0"}}
  - {name: signup, dev_secret: dev-secret-signup-6}
`)
	r := cli(t, "check-config", "--config", path)
	r.want(t, 2)
	want := "monitor: config " + path + ": 3 problems:\n" +
		"  - line 4: defaults.schedule: \"every minute\" is not a valid cron spec: expected 5 to 6 fields, found 2: [every minute]\n" +
		"  - line 7: apps[0] (checkout).thresholds.warning: \"1O0\" is not a decimal number (write it like 100 or \"100.50\")\n" +
		"  - line 8: apps[1] (signup).dev_key: is required\n"
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	for _, secret := range []string{"db-password-42", "dev-secret-checkout-5", "dev-secret-signup-6"} {
		if strings.Contains(r.stderr, secret) {
			t.Errorf("stderr contains the secret %q", secret)
		}
	}
}

func TestCheckConfigMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.yaml")
	r := cli(t, "check-config", "--config", path)
	r.want(t, 2)
	want := "monitor: config file " + path + " does not exist: pass --config FILE or set $MONITOR_CONFIG\n"
	if r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
}

// The file comes from $MONITOR_CONFIG, and --config wins over it. Not parallel: it sets the
// environment that run reads.
func TestCheckConfigPathFromEnvironment(t *testing.T) {
	valid := writeFile(t, "monitor.yaml", fullConfig)
	missing := filepath.Join(t.TempDir(), "missing.yaml")

	t.Setenv("MONITOR_CONFIG", valid)
	r := cli(t, "check-config")
	r.want(t, 0)
	if want := "config " + valid + " is valid: 2 apps, 3 notifiers\n"; !strings.HasPrefix(r.stdout, want) {
		t.Errorf("with $MONITOR_CONFIG: stdout starts %q, want %q", firstLine(r.stdout), want)
	}

	t.Setenv("MONITOR_CONFIG", missing)
	r = cli(t, "check-config", "--config", valid)
	r.want(t, 0)
	if want := "config " + valid + " is valid"; !strings.HasPrefix(r.stdout, want) {
		t.Errorf("--config beside $MONITOR_CONFIG: stdout starts %q, want %q", firstLine(r.stdout), want)
	}

	r = cli(t, "check-config")
	r.want(t, 2)
	if want := "monitor: config file " + missing + " does not exist: pass --config FILE or set $MONITOR_CONFIG\n"; r.stderr != want {
		t.Errorf("with $MONITOR_CONFIG missing: stderr = %q, want %q", r.stderr, want)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Without tokens the API must stay on loopback: a config mistake, caught before anything runs.
func TestCheckConfigOpenListen(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "monitor.yaml", strings.Replace(fullConfig,
		"http:\n  tokens:\n    - {name: ops, token: api-token-secret-7, scope: write}\n", "http: {listen: \"0.0.0.0:8080\"}\n", 1))
	r := cli(t, "check-config", "--config", path)
	r.want(t, 2)
	want := "monitor: http.listen 0.0.0.0:8080 is not a loopback address and http.tokens is empty: set tokens or listen on 127.0.0.1\n"
	if r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
}

// The new notifier types print with every secret redacted.
func TestCheckConfigRedactsEveryNotifierSecret(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "monitor.yaml", `
database: {url: "postgres://monitor:db-password-42@127.0.0.1:5432/monitor"}
defaults:
  thresholds: {warning: "100", critical: "20"}
notifiers:
  - {name: tg, type: telegram, bot_token: "123456:tg-token-secret-1", chat_id: "-100123"}
  - {name: fs, type: lark, webhook_url: "https://open.larksuite.com/open-apis/bot/v2/hook/lark-hook-secret-2", secret: lark-sign-secret-3}
  - {name: dt, type: dingtalk, webhook_url: "https://oapi.dingtalk.com/robot/send?access_token=ding-token-secret-4", secret: SECding-sign-secret-5}
  - {name: wc, type: wecom, webhook_url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wecom-key-secret-6", events: [topup]}
  - {name: tm, type: teams, webhook_url: "https://x.logic.azure.com/workflows/1?sig=teams-sig-secret-7"}
  - {name: pd, type: pagerduty, routing_key: pd-routing-secret-8-0123456789ab, min_severity: critical}
  - {name: em, type: email, smtp_host: smtp.example.com, username: alerts, password: smtp-password-secret-9, from: a@example.com, to: [b@example.com]}
apps:
  - {name: checkout, dev_key: key-checkout, dev_secret: dev-secret-checkout-5}
`)
	r := cli(t, "check-config", "--config", path)
	r.want(t, 0)
	for _, want := range []string{
		"NOTIFIER  TYPE       MIN SEVERITY\ntg        telegram   warning\nfs        lark       warning\ndt        dingtalk   warning\n" +
			"wc        wecom      warning\ntm        teams      warning\npd        pagerduty  critical\nem        email      warning\n",
		"    bot_token: '***'\n    chat_id: \"-100123\"\n    api_url: https://api.telegram.org\n",
		"    type: lark\n    webhook_url: '***'\n    secret: '***'\n",
		"    routing_key: '***'\n    api_url: https://events.pagerduty.com\n",
		"    username: alerts\n    password: '***'\n",
		"    events: [topup]\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, secret := range []string{"tg-token-secret-1", "lark-hook-secret-2", "lark-sign-secret-3", "ding-token-secret-4",
		"ding-sign-secret-5", "wecom-key-secret-6", "teams-sig-secret-7", "pd-routing-secret-8-0123456789ab", "smtp-password-secret-9", "db-password-42"} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("output contains the secret %q", secret)
		}
	}
}

// A new notifier type's missing key is named with its line, and the status is 2.
func TestCheckConfigNotifierProblems(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "monitor.yaml", `
database: {url: "postgres://monitor:db-password-42@127.0.0.1:5432/monitor"}
defaults:
  thresholds: {warning: "100", critical: "20"}
notifiers:
  - {name: tg, type: telegram, bot_token: "123456:tg-token-secret-1"}
  - {name: mail, type: email, smtp_host: smtp.example.com, password: smtp-password-secret-9, from: a@example.com, to: [b@example.com], events: [refund]}
apps:
  - {name: checkout, dev_key: key-checkout, dev_secret: dev-secret-checkout-5}
`)
	r := cli(t, "check-config", "--config", path)
	r.want(t, 2)
	want := "monitor: config " + path + ": 3 problems:\n" +
		"  - line 6: notifiers[0] (tg).chat_id: is required: the chat's numeric id (like -1001234567890) or a public channel's \"@name\"\n" +
		"  - line 7: notifiers[1] (mail).events[0]: unknown event \"refund\": must be \"topup\" or \"gift_expired\"\n" +
		"  - line 7: notifiers[1] (mail).password: needs username\n"
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	if strings.Contains(r.stderr, "tg-token-secret-1") || strings.Contains(r.stderr, "smtp-password-secret-9") {
		t.Error("stderr shows a secret")
	}
}

// The spend rules' mistakes stop check-config with exit 2, each named with its line.
func TestCheckConfigSpendProblems(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "monitor.yaml", `
database: {url: "postgres://monitor@127.0.0.1:5432/monitor"}
defaults:
  thresholds: {warning: "100", critical: "20"}
  runway: {warning: 24h, critical: 48h}
  drain: {factor: 0, min: "-5"}
notifiers:
  - {name: finance, type: webhook, url: "http://127.0.0.1:1/f", events: [topup, refund]}
apps:
  - {name: checkout, dev_key: k, dev_secret: s, daily_spend_limit: "-1", notify: [finance]}
`)
	r := cli(t, "check-config", "--config", path)
	r.want(t, 2)
	for _, want := range []string{
		"line 5: defaults.runway.critical: 2d must be below runway.warning 24h",
		"line 6: defaults.drain.factor: 0 must be above 0",
		"line 6: defaults.drain.min: -5 must not be negative",
		"line 10: apps[0] (checkout).daily_spend_limit: -1 must be above 0",
		`"refund"`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}
