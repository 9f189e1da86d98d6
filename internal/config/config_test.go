package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Every secret value in the test environments contains this marker, so a
// leak anywhere is one strings.Contains away.
const marker = "s3cr3t"

func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

var badEnv = env(map[string]string{
	"DATABASE_URL": "postgres://monitor:db-s3cr3t@db/monitor",
	"DEV_SECRET":   "dev-s3cr3t",
	"TOKEN_A":      "token-a-s3cr3t",
	"TOKEN_B":      "token-b-s3cr3t",
	"SLACK_URL":    "https://hooks.slack.com/services/slack-s3cr3t",
	"BOT":          "xoxb-s3cr3t",
	"WHSEC":        "whsec_czNjcjN0LWtleQ==",
	"EMPTY":        "",
})

// golden compares got with the file, or rewrites the file under -update.
func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", file, diff)
	}
}

// TestBadConfigs loads each testdata/bad/NAME.yaml and compares the error a
// user would see with NAME.err.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found %d bad configs, want at least 20", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(file, badEnv)
			if err == nil {
				t.Fatalf("Load succeeded, want an error; config:\n%s", cfg.Redacted())
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is %T, want *ValidationError", err)
			}
			if strings.Contains(err.Error(), marker) {
				t.Errorf("error leaks a secret:\n%s", err)
			}
			golden(t, strings.TrimSuffix(file, ".yaml")+".err", err.Error()+"\n")
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml", badEnv)
	want := "config testdata/nope.yaml: 1 problem:\n  - open testdata/nope.yaml: no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %q", err, want)
	}
}

var fullEnv = env(map[string]string{
	"DATABASE_URL":        "postgres://monitor:db-s3cr3t@db:5432/monitor",
	"MONITOR_API_TOKEN":   "api-s3cr3t",
	"SLACK_WEBHOOK_URL":   "https://hooks.slack.com/services/T0/B0/slack-s3cr3t",
	"SLACK_BOT_TOKEN":     "xoxb-bot-s3cr3t",
	"WEBHOOK_SECRET":      "whsec_czNjcjN0LWhvb2sta2V5",
	"CHECKOUT_DEV_KEY":    "checkout-key",
	"CHECKOUT_DEV_SECRET": "checkout-s3cr3t",
})

func loadFull(t *testing.T) *Config {
	t.Helper()
	cfg, err := Load("testdata/good/full.yaml", fullEnv)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var cmpConfig = cmp.Options{
	cmp.Comparer(func(a, b decimal.Decimal) bool { return a.String() == b.String() }),
	cmpopts.IgnoreFields(App{}, "Cron"),
	cmp.Comparer(func(a, b *time.Location) bool { return a.String() == b.String() }),
}

func TestLoadFullExample(t *testing.T) {
	cfg := loadFull(t)
	limit, daily := dec("200"), dec("500")
	want := &Config{
		Database:  Database{URL: "postgres://monitor:db-s3cr3t@db:5432/monitor"},
		EngageLab: EngageLab{BaseURL: "https://otp.api.engagelab.cc", SMSBaseURL: "https://smsapi.engagelab.com", Timeout: 10 * time.Second, MaxConcurrency: 16},
		HTTP: HTTP{
			Listen:    "127.0.0.1:8080",
			PublicURL: "https://balance.example.com",
			Tokens: []Token{
				{Name: "ops", Token: "api-s3cr3t", Scope: "write"},
				{Name: "grafana", Token: "scrape-token-s3cr3t", Scope: "read"},
			},
		},
		Delivery:  Delivery{MaxAge: 24 * time.Hour},
		Retention: Retention{Snapshots: 400 * 24 * time.Hour, Events: 400 * 24 * time.Hour},
		Grouping:  Grouping{MinApps: 4, Wait: time.Minute},
		Notifiers: []Notifier{
			{Name: "ops", Type: "slack", WebhookURL: "https://hooks.slack.com/services/T0/B0/slack-s3cr3t", MinSeverity: "warning"},
			{Name: "ops-bot", Type: "slack", Token: "xoxb-bot-s3cr3t", Channel: "C0123456789", MinSeverity: "warning"},
			{Name: "pager", Type: "webhook", URL: "https://hooks.example.com/balance", Secret: "whsec_czNjcjN0LWhvb2sta2V5", MinSeverity: "critical"},
		},
		Apps: []App{{
			Name:               "checkout",
			DevKey:             "checkout-key",
			DevSecret:          "checkout-s3cr3t",
			Product:            "otp",
			Schedule:           "@every 1m",
			Interval:           time.Minute,
			Amount:             "total_balance",
			Warning:            dec("500"),
			Critical:           dec("100"),
			ResolveMargin:      dec("0"),
			OverdraftWarnRatio: dec("0.8"),
			OverdraftLimit:     &limit,
			RepeatEvery:        4 * time.Hour,
			StaleAfter:         30 * time.Minute,
			Notify:             []string{"ops", "pager"},
			Runway:             RunwayRule{Warning: 72 * time.Hour, Critical: 24 * time.Hour, MinHistory: time.Hour},
			Drain:              DrainRule{Window: time.Hour, Factor: dec("5"), Min: dec("20"), MinHistory: 24 * time.Hour},
			DailySpendLimit:    &daily,
			SpendDay:           time.UTC,
			Flap:               FlapRule{MaxChanges: 4, Window: 30 * time.Minute},
		}},
	}
	if diff := cmp.Diff(want, cfg, cmpConfig); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
	if a, ok := cfg.App("checkout"); !ok || a.Name != "checkout" {
		t.Errorf(`App("checkout") = %q, %v`, a.Name, ok)
	}
	if _, ok := cfg.App("nope"); ok {
		t.Error(`App("nope") found an app`)
	}
	if n, ok := cfg.Notifier("pager"); !ok || n.URL != "https://hooks.example.com/balance" {
		t.Errorf(`Notifier("pager") = %q, %v`, n.URL, ok)
	}
	if _, ok := cfg.Notifier("nope"); ok {
		t.Error(`Notifier("nope") found a notifier`)
	}
}

// The smallest valid config around one app, for tests of single features.
const minimal = `
database: {url: postgres://localhost/monitor}
notifiers:
  - {name: ops, type: slack, webhook_url: "https://hooks.slack.com/x"}
  - {name: pager, type: webhook, url: "https://hooks.example.com/x"}
defaults:
  thresholds: {warning: "100", critical: "20"}
  notify: [ops]
`

func parseApp(t *testing.T, appYAML string, vars map[string]string) App {
	t.Helper()
	cfg, err := Parse([]byte(minimal+"apps:\n"+appYAML), env(vars), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Apps[0]
}

func TestExpansion(t *testing.T) {
	tests := []struct {
		name, value, want string
		vars              map[string]string
	}{
		{"hash and colon-space in the value", "${S}", "a#b: c {d} ${E}", map[string]string{"S": "a#b: c {d} ${E}"}},
		{"several references", "pre-${A}-${B}", "pre-1-2", map[string]string{"A": "1", "B": "2"}},
		{"double dollar", "pa$$word$${X}", "pa$word${X}", nil},
		{"lone dollar stays", "a$b$", "a$b$", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := parseApp(t, fmt.Sprintf("  - {name: a, dev_key: k, dev_secret: %q}\n", tt.value), tt.vars)
			if got := a.DevSecret.Reveal(); got != tt.want {
				t.Errorf("dev_secret = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("dev", "dev-s3cr3t\n")
	write("token", "token-s3cr3t\r\n")
	write("db", "postgres://u:p@h/db")
	write("hook", "https://hooks.slack.com/services/s3cr3t\n")
	write("dev2", "only-one-newline-trimmed\n\n")
	write("whsec", "whsec_czNjcjN0\n")
	abs := filepath.Join(dir, "dev")
	write("monitor.yaml", `
database: {url_file: db}
http:
  tokens: [{name: t, token_file: token}]
notifiers:
  - {name: ops, type: slack, webhook_url_file: hook}
  - {name: pager, type: webhook, url: "https://hooks.example.com/x", secret_file: whsec}
defaults: {thresholds: {warning: "100", critical: "20"}}
apps:
  - {name: a, dev_key: k, dev_secret_file: dev}
  - {name: b, dev_key: k, dev_secret_file: `+abs+`}
  - {name: c, dev_key: k, dev_secret_file: dev2}
`)
	cfg, err := Load(filepath.Join(dir, "monitor.yaml"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{
		cfg.Database.URL.Reveal(), cfg.HTTP.Tokens[0].Token.Reveal(), cfg.Notifiers[0].WebhookURL.Reveal(),
		cfg.Notifiers[1].Secret.Reveal(), cfg.Apps[0].DevSecret.Reveal(), cfg.Apps[1].DevSecret.Reveal(), cfg.Apps[2].DevSecret.Reveal(),
	}
	want := []string{
		"postgres://u:p@h/db", "token-s3cr3t", "https://hooks.slack.com/services/s3cr3t",
		"whsec_czNjcjN0", "dev-s3cr3t", "dev-s3cr3t", "only-one-newline-trimmed\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("secrets mismatch (-want +got):\n%s", diff)
	}
}

func TestPlainStringTokens(t *testing.T) {
	cfg, err := Parse([]byte(minimal+`
http:
  tokens: ["${T1}", {name: grafana, token: t2, scope: read}, t3, {token: t4}]
apps: [{name: a, dev_key: k, dev_secret: s}]
`), env(map[string]string{"T1": "t1"}), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{
		{Name: "token1", Token: "t1", Scope: "write"},
		{Name: "grafana", Token: "t2", Scope: "read"},
		{Name: "token3", Token: "t3", Scope: "write"},
		{Name: "token4", Token: "t4", Scope: "write"},
	}
	if diff := cmp.Diff(want, cfg.HTTP.Tokens); diff != "" {
		t.Errorf("tokens mismatch (-want +got):\n%s", diff)
	}
}

func TestInheritance(t *testing.T) {
	tests := []struct {
		name, app         string
		warning, critical string
		notify            []string
	}{
		{"everything inherited", "{name: a, dev_key: k, dev_secret: s}", "100", "20", []string{"ops"}},
		{"map merged key by key", "{name: a, dev_key: k, dev_secret: s, thresholds: {critical: 50.25}}", "100", "50.25", []string{"ops"}},
		{"list replaced", "{name: a, dev_key: k, dev_secret: s, notify: [pager]}", "100", "20", []string{"pager"}},
		{"list emptied", "{name: a, dev_key: k, dev_secret: s, notify: []}", "100", "20", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := parseApp(t, "  - "+tt.app+"\n", nil)
			got := []string{a.Warning.String(), a.Critical.String()}
			if diff := cmp.Diff([]string{tt.warning, tt.critical}, got); diff != "" {
				t.Errorf("thresholds mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.notify, a.Notify); diff != "" {
				t.Errorf("notify mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSchedules(t *testing.T) {
	ref := time.Date(2026, 3, 6, 8, 0, 0, 0, time.UTC) // a Friday
	tests := []struct {
		name, schedule, staleAfter string
		interval, stale            time.Duration
		next                       time.Time
	}{
		{"every minute: stale floor of 10m", "@every 1m", "", time.Minute, 10 * time.Minute, ref.Add(time.Minute)},
		{"every ten minutes: three intervals", "*/10 * * * *", "", 10 * time.Minute, 30 * time.Minute, ref.Add(10 * time.Minute)},
		{"six fields with seconds", "*/30 * * * * *", "", 30 * time.Second, 10 * time.Minute, ref.Add(30 * time.Second)},
		{"weekdays: the weekend is the longest gap", "0 9 * * 1-5", "", 72 * time.Hour, 216 * time.Hour, ref.Add(time.Hour)},
		{"hours are UTC", "@daily", "", 24 * time.Hour, 72 * time.Hour, time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)},
		{"own time zone", "CRON_TZ=Asia/Tokyo 0 9 * * *", "", 24 * time.Hour, 72 * time.Hour, time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)},
		{"explicit stale_after of exactly two intervals", "@hourly", "2h", time.Hour, 2 * time.Hour, ref.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := fmt.Sprintf("  - {name: a, dev_key: k, dev_secret: s, schedule: %q", tt.schedule)
			if tt.staleAfter != "" {
				app += ", stale_after: " + tt.staleAfter
			}
			a := parseApp(t, app+"}\n", nil)
			if a.Schedule != tt.schedule || a.Interval != tt.interval || a.StaleAfter != tt.stale {
				t.Errorf("schedule, interval, stale_after = %q, %v, %v; want %q, %v, %v",
					a.Schedule, a.Interval, a.StaleAfter, tt.schedule, tt.interval, tt.stale)
			}
			if got := a.Cron.Next(ref); !got.Equal(tt.next) {
				t.Errorf("Cron.Next(%v) = %v, want %v", ref, got, tt.next)
			}
		})
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"90s", 90 * time.Second, "1m30s"},
		{"10m", 10 * time.Minute, "10m"},
		{"4h", 4 * time.Hour, "4h"},
		{"7d", 7 * 24 * time.Hour, "7d"},
		{"400d", 400 * 24 * time.Hour, "400d"},
		{"1d12h", 36 * time.Hour, "36h"},
		{"2d12h", 60 * time.Hour, "2d12h"},
		{"1d0h30m", 24*time.Hour + 30*time.Minute, "24h30m"},
		{"0", 0, "0s"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if s := formatDuration(got); s != tt.out {
				t.Errorf("formatDuration(%v) = %q, want %q", got, s, tt.out)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name, flag string
		env        map[string]string
		want       string
	}{
		{"flag wins", "/etc/m.yaml", map[string]string{"MONITOR_CONFIG": "/env.yaml"}, "/etc/m.yaml"},
		{"environment", "", map[string]string{"MONITOR_CONFIG": "/env.yaml"}, "/env.yaml"},
		{"empty environment ignored", "", map[string]string{"MONITOR_CONFIG": ""}, "monitor.yaml"},
		{"default", "", nil, "monitor.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Resolve(tt.flag, env(tt.env)); got != tt.want {
				t.Errorf("Resolve = %q, want %q", got, tt.want)
			}
		})
	}
}

// secrets lists every secret in the full example, as the leak tests check each.
func secrets(cfg *Config) []string {
	s := []string{cfg.Database.URL.Reveal()}
	for _, t := range cfg.HTTP.Tokens {
		s = append(s, t.Token.Reveal())
	}
	for _, n := range cfg.Notifiers {
		s = append(s, n.WebhookURL.Reveal(), n.Token.Reveal(), n.Secret.Reveal(), n.URL.Reveal(),
			n.BotToken.Reveal(), n.RoutingKey.Reveal(), n.Password.Reveal())
	}
	for _, a := range cfg.Apps {
		s = append(s, a.DevSecret.Reveal())
	}
	var set []string
	for _, v := range s {
		if v != "" {
			set = append(set, v)
		}
	}
	return set
}

func assertNoSecret(t *testing.T, cfg *Config, what, out string) {
	t.Helper()
	for _, s := range secrets(cfg) {
		if strings.Contains(out, s) {
			t.Errorf("%s contains the secret %q:\n%s", what, s, out)
		}
	}
	if strings.Contains(out, marker) {
		t.Errorf("%s contains %q:\n%s", what, marker, out)
	}
	if !strings.Contains(out, redacted) {
		t.Errorf("%s shows no %q:\n%s", what, redacted, out)
	}
}

func TestRedacted(t *testing.T) {
	cfg := loadFull(t)
	if n := len(secrets(cfg)); n != 8 {
		t.Fatalf("the full example has %d secrets, want 8", n)
	}
	out := cfg.Redacted()
	assertNoSecret(t, cfg, "Redacted()", out)
	golden(t, "testdata/good/full.redacted.yaml", out)
}

func TestNoLeaks(t *testing.T) {
	cfg := loadFull(t)
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("loaded", "config", cfg, "value", *cfg)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("loaded", "config", cfg, "value", *cfg)
	outputs := map[string]string{
		"fmt":       fmt.Sprintf("%v %+v %#v", *cfg, *cfg, *cfg),
		"fmt apps":  fmt.Sprintf("%v %+v %#v", cfg.Apps, cfg.Apps[0], cfg.Notifiers),
		"slog text": text.String(),
		"slog json": js.String(),
	}
	for what, out := range outputs {
		assertNoSecret(t, cfg, what, out)
	}
}

func TestSecretFormatting(t *testing.T) {
	s := Secret("s3cr3t")
	b, _ := s.MarshalJSON()
	got := []string{s.String(), fmt.Sprintf("%v|%s|%q|%#v", s, s, s, s), string(b), Secret("").String()}
	want := []string{"***", `***|***|"***"|config.Secret("***")`, `"***"`, ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

// A schedule that runs once a year (or every four years) has an interval, not "never runs".
func TestRareSchedules(t *testing.T) {
	for spec, want := range map[string]time.Duration{
		"0 0 1 1 *":  366 * 24 * time.Hour, // 2024 is a leap year
		"0 0 29 2 *": 1461 * 24 * time.Hour,
	} {
		cfg, err := Parse([]byte(`
database: {url: "postgres://x@localhost/db"}
defaults: {thresholds: {warning: "100", critical: "20"}, stale_after: 4000d}
apps: [{name: a, dev_key: k, dev_secret: s, schedule: "`+spec+`"}]
`), func(string) (string, bool) { return "", false }, ".")
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		if got := cfg.Apps[0].Interval; got != want {
			t.Errorf("%s: interval %v, want %v", spec, got, want)
		}
	}
}

var notifiersEnv = env(map[string]string{
	"DATABASE_URL":          "postgres://monitor:db-s3cr3t@db/monitor",
	"DEV_SECRET":            "dev-s3cr3t",
	"SLACK_BOT_TOKEN":       "xoxb-bot-s3cr3t",
	"TELEGRAM_BOT_TOKEN":    "123456789:AAH-tg-s3cr3t",
	"FEISHU_WEBHOOK_URL":    "https://open.feishu.cn/open-apis/bot/v2/hook/feishu-s3cr3t",
	"FEISHU_SECRET":         "feishu-sign-s3cr3t",
	"DINGTALK_WEBHOOK_URL":  "https://oapi.dingtalk.com/robot/send?access_token=ding-s3cr3t",
	"DINGTALK_SECRET":       "SECding-s3cr3t",
	"WECOM_WEBHOOK_URL":     "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wecom-s3cr3t",
	"TEAMS_WEBHOOK_URL":     "https://prod-01.westus.logic.azure.com/workflows/1/triggers/manual/paths/invoke?sig=teams-s3cr3t",
	"PAGERDUTY_ROUTING_KEY": "pd-routing-key-s3cr3t-012345678a",
})

// Every notifier type, read into the fields its package is built from.
func TestEveryNotifierType(t *testing.T) {
	cfg, err := Load("testdata/good/notifiers.yaml", notifiersEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []Notifier{
		{Name: "ops-bot", Type: "slack", Token: "xoxb-bot-s3cr3t", Channel: "C0123456789", Thread: true, MinSeverity: "warning"},
		{Name: "tg", Type: "telegram", BotToken: "123456789:AAH-tg-s3cr3t", ChatID: "-1001234567890", APIURL: "https://api.telegram.org", MinSeverity: "warning"},
		{Name: "feishu", Type: "feishu", WebhookURL: "https://open.feishu.cn/open-apis/bot/v2/hook/feishu-s3cr3t", Secret: "feishu-sign-s3cr3t", MinSeverity: "critical"},
		{Name: "lark", Type: "lark", WebhookURL: "https://open.feishu.cn/open-apis/bot/v2/hook/feishu-s3cr3t", MinSeverity: "warning"},
		{Name: "ding", Type: "dingtalk", WebhookURL: "https://oapi.dingtalk.com/robot/send?access_token=ding-s3cr3t", Secret: "SECding-s3cr3t", MinSeverity: "warning"},
		{Name: "wecom", Type: "wecom", WebhookURL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wecom-s3cr3t", MinSeverity: "warning", Events: []string{"topup"}},
		{Name: "teams", Type: "teams", WebhookURL: "https://prod-01.westus.logic.azure.com/workflows/1/triggers/manual/paths/invoke?sig=teams-s3cr3t", MinSeverity: "warning"},
		{Name: "pd", Type: "pagerduty", RoutingKey: "pd-routing-key-s3cr3t-012345678a", APIURL: "https://events.pagerduty.com", MinSeverity: "critical"},
		{Name: "finance", Type: "webhook", URL: "https://hooks.example.com/finance", MinSeverity: "warning", Events: []string{"topup", "gift_expired"}},
		{Name: "mail", Type: "email", SMTPHost: "smtp.example.com", SMTPPort: 2525, Username: "alerts@example.com",
			Password: "smtp-s3cr3t-password", StartTLS: "opportunistic", From: "Balance monitor <alerts@example.com>",
			To: []string{"ops@example.com", "finance@example.com"}, MinSeverity: "warning"},
		{Name: "mail-local", Type: "email", SMTPHost: "127.0.0.1", SMTPPort: 587, StartTLS: "off", From: "alerts@example.com",
			To: []string{"ops@example.com"}, MinSeverity: "warning"},
	}
	if diff := cmp.Diff(want, cfg.Notifiers); diff != "" {
		t.Errorf("notifiers (-want +got):\n%s", diff)
	}
	out := cfg.Redacted()
	assertNoSecret(t, cfg, "Redacted()", out)
	golden(t, "testdata/good/notifiers.redacted.yaml", out)
}

func TestProduct(t *testing.T) {
	tests := []struct {
		name, defaults, app string
		want                balance.Product
	}{
		{"default otp", "", "{name: a, dev_key: k, dev_secret: s}", balance.ProductOTP},
		{"set on the app", "", "{name: a, dev_key: k, dev_secret: s, product: sms}", balance.ProductSMS},
		{"inherited from defaults", "  product: sms\n", "{name: a, dev_key: k, dev_secret: s}", balance.ProductSMS},
		{"overridden on the app", "  product: sms\n", "{name: a, dev_key: k, dev_secret: s, product: otp}", balance.ProductOTP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(minimal+tt.defaults+"apps:\n  - "+tt.app+"\n"), env(nil), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Apps[0].Product; got != tt.want {
				t.Errorf("Product = %q, want %q", got, tt.want)
			}
			if got, want := cfg.EngageLab.SMSBaseURL, "https://smsapi.engagelab.com"; got != want {
				t.Errorf("SMSBaseURL = %q, want the default %q", got, want)
			}
		})
	}
	cfg, err := Parse([]byte(minimal+"engagelab: {base_url: \"http://127.0.0.1:8099\", sms_base_url: \"http://127.0.0.1:8099/\"}\napps:\n  - {name: a, dev_key: k, dev_secret: s}\n"), env(nil), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.EngageLab.SMSBaseURL, "http://127.0.0.1:8099/"; got != want {
		t.Errorf("SMSBaseURL = %q, want %q", got, want)
	}
}

func TestGrouping(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"", "{3 30s}"},
		{"grouping: off", "{0 0s}"},
		{"grouping: on", "{3 30s}"},
		{"grouping: {min_apps: 5}", "{5 30s}"},
		{"grouping: {wait: 2m}", "{3 2m0s}"},
	} {
		cfg, err := Parse([]byte(`database: {url: "postgres://x@db/m"}
defaults: {thresholds: {warning: "100", critical: "20"}}
apps: [{name: a, dev_key: a, dev_secret: s}]
`+tc.yaml), env(nil), ".")
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if got := fmt.Sprintf("{%d %s}", cfg.Grouping.MinApps, cfg.Grouping.Wait); got != tc.want {
			t.Errorf("%q: grouping %s, want %s", tc.yaml, got, tc.want)
		}
	}
}

// PagerDuty groups incidents itself, keyed by each app's alert episode: its messages are never
// grouped; every other channel's may be.
func TestNotifierGroupable(t *testing.T) {
	for typ, want := range map[string]bool{"pagerduty": false, "slack": true, "webhook": true, "email": true} {
		if got := (Notifier{Type: typ}).Groupable(); got != want {
			t.Errorf("%s: Groupable() = %v, want %v", typ, got, want)
		}
	}
}
