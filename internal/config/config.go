// Package config loads the monitor's YAML file into a validated Config: it
// expands ${VAR} references, reads *_file secrets, merges every app with the
// defaults section and reports every problem at once with its key path and
// line. It knows nothing about what the settings do; other packages decide that.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/robfig/cron/v3"
	"github.com/shopspring/decimal"
)

// CronParser is the cron parser used by the scheduler too (seconds optional, descriptors allowed).
var CronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Config is the whole validated configuration.
type Config struct {
	Database  Database
	EngageLab EngageLab
	HTTP      HTTP
	Delivery  Delivery
	Retention Retention
	Grouping  Grouping
	Notifiers []Notifier
	Apps      []App // each already merged with defaults

	// Operations (see operations.go).
	Heartbeat *Heartbeat // nil: no heartbeat
	Digest    *Digest    // nil: no daily digest
}

// Database says where the monitor keeps its state.
type Database struct{ URL Secret }

// EngageLab configures the upstream balance API client.
type EngageLab struct {
	BaseURL        string        // the OTP API
	SMSBaseURL     string        // the SMS API
	Timeout        time.Duration // per poll, retries included
	MaxConcurrency int
}

// HTTP configures the API, dashboard and metrics server.
type HTTP struct {
	Listen    string
	PublicURL string // optional; links in messages
	Tokens    []Token
}

// Token is a bearer token accepted by the HTTP server.
type Token struct {
	Name  string
	Token Secret
	Scope string // "read" or "write"
}

// Delivery configures the notification outbox.
type Delivery struct{ MaxAge time.Duration }

// Retention says how long history is kept.
type Retention struct{ Snapshots, Events time.Duration }

// Notifier is one destination of events. Which fields are set depends on Type; each
// secret-carrying field is a Secret.
type Notifier struct {
	Name, Type string // type: slack, webhook, telegram, feishu (or lark), dingtalk, wecom, teams, pagerduty, email

	// WebhookURL: slack incoming webhook mode; feishu/lark, dingtalk, wecom and teams (required).
	WebhookURL Secret
	Token      Secret // slack bot mode, with Channel
	Channel    string
	Thread     bool   // slack bot mode: reply in the alert episode's thread
	APIURL     string // optional override of the API base: slack, telegram, pagerduty

	URL    Secret // webhook (or url_file): receivers often put a credential in it
	Secret Secret // webhook, optional: "whsec_" + base64; feishu/lark and dingtalk, optional: the signing secret

	BotToken Secret // telegram
	ChatID   string // telegram: a numeric id or @channelname

	RoutingKey Secret // pagerduty: the Events API v2 integration key

	// email
	SMTPHost string
	SMTPPort int
	Username string
	Password Secret
	From     string
	To       []string
	StartTLS string // "required", "opportunistic" or "off"

	MinSeverity string   // "warning" or "critical"
	Events      []string // the non-alert events this notifier also gets: "topup", "gift_expired"
}

// App is one monitored EngageLab application, merged with the defaults.
type App struct {
	Name, DevKey string
	DevSecret    Secret
	Product      balance.Product // whose balance API: otp (default) or sms
	Schedule     string          // as written
	Cron         cron.Schedule   // Schedule parsed with CronParser, in UTC unless it names a CRON_TZ
	Interval     time.Duration   // the longest gap between two runs of Schedule

	Amount             string // "total_balance" or "balance"
	Warning, Critical  decimal.Decimal
	ResolveMargin      decimal.Decimal
	OverdraftWarnRatio decimal.Decimal
	OverdraftLimit     *decimal.Decimal // nil: no overdraft_limit rule

	RepeatEvery time.Duration // 0: never remind
	StaleAfter  time.Duration
	Notify      []string

	// Spend rules (runway, drain, daily_spend_limit, spend_day_timezone).
	Runway          RunwayRule
	Drain           DrainRule
	DailySpendLimit *decimal.Decimal // nil: no daily_spend alert
	SpendDay        *time.Location   // where "today" starts for daily_spend and spent_today
	Flap            FlapRule         // flap damping of the app's alerts
}

// App returns the app with the given name.
func (c *Config) App(name string) (App, bool) {
	for _, a := range c.Apps {
		if a.Name == name {
			return a, true
		}
	}
	return App{}, false
}

// Notifier returns the notifier with the given name.
func (c *Config) Notifier(name string) (Notifier, bool) {
	for _, n := range c.Notifiers {
		if n.Name == name {
			return n, true
		}
	}
	return Notifier{}, false
}

// ValidationError lists every problem found in a config file. Each problem
// names its key path and, when known, its line; none contains a secret.
type ValidationError struct {
	Path     string
	Problems []string
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.Path != "" {
		b.WriteString(" " + e.Path)
	}
	noun := "problems"
	if len(e.Problems) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(&b, ": %d %s:", len(e.Problems), noun)
	for _, p := range e.Problems {
		b.WriteString("\n  - " + p)
	}
	return b.String()
}

// Resolve picks the config path: the flag value, else $MONITOR_CONFIG, else ./monitor.yaml.
func Resolve(flagValue string, getenv func(string) (string, bool)) string {
	if flagValue != "" {
		return flagValue
	}
	if v, ok := getenv("MONITOR_CONFIG"); ok && v != "" {
		return v
	}
	return "monitor.yaml"
}

// Load reads and validates the config file at path. ${VAR} references are
// looked up with getenv (os.LookupEnv when nil). Any problem, including an
// unreadable file, comes back as a *ValidationError.
func Load(path string, getenv func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ValidationError{Path: path, Problems: []string{err.Error()}}
	}
	cfg, err := Parse(data, getenv, filepath.Dir(path))
	if ve, ok := err.(*ValidationError); ok {
		ve.Path = path
	}
	return cfg, err
}

// Parse validates a config document. baseDir resolves relative *_file paths.
func Parse(data []byte, getenv func(string) (string, bool), baseDir string) (*Config, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	d := &decoder{getenv: getenv, baseDir: baseDir, schedules: map[string]scheduleResult{}}
	cfg := d.document(data)
	if len(d.problems) > 0 {
		return nil, &ValidationError{Problems: d.sortedProblems()}
	}
	return cfg, nil
}

// Groupable reports whether the notifier's messages may be grouped (grouped outages). Not
// PagerDuty's: it keys each incident to one app's alert episode (dedup_key) and groups
// incidents itself, so one grouped trigger would open an incident no app's resolve closes.
func (n Notifier) Groupable() bool { return n.Type != "pagerduty" }
