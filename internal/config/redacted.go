package config

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The types below mirror the file's keys for Redacted. Secret fields keep
// their type, whose MarshalYAML prints "***".
type (
	fileConfig struct {
		Database struct {
			URL Secret `yaml:"url"`
		} `yaml:"database"`
		EngageLab struct {
			BaseURL        string `yaml:"base_url"`
			SMSBaseURL     string `yaml:"sms_base_url"`
			Timeout        string `yaml:"timeout"`
			MaxConcurrency int    `yaml:"max_concurrency"`
		} `yaml:"engagelab"`
		HTTP struct {
			Listen    string      `yaml:"listen"`
			PublicURL string      `yaml:"public_url,omitempty"`
			Tokens    []fileToken `yaml:"tokens,omitempty"`
		} `yaml:"http"`
		Delivery struct {
			MaxAge string `yaml:"max_age"`
		} `yaml:"delivery"`
		Retention struct {
			Snapshots string `yaml:"snapshots"`
			Events    string `yaml:"events"`
		} `yaml:"retention"`
		Grouping  any            `yaml:"grouping"` // "off" or {min_apps, wait}
		Notifiers []fileNotifier `yaml:"notifiers,omitempty"`
		Apps      []fileApp      `yaml:"apps"`

		Heartbeat *fileHeartbeat `yaml:"heartbeat,omitempty"`
		Digest    *fileDigest    `yaml:"digest,omitempty"`
	}
	fileToken struct {
		Name  string `yaml:"name"`
		Token Secret `yaml:"token"`
		Scope string `yaml:"scope"`
	}
	fileNotifier struct {
		Name        string   `yaml:"name"`
		Type        string   `yaml:"type"`
		WebhookURL  Secret   `yaml:"webhook_url,omitempty"`
		Token       Secret   `yaml:"token,omitempty"`
		Channel     string   `yaml:"channel,omitempty"`
		Thread      bool     `yaml:"thread,omitempty"`
		BotToken    Secret   `yaml:"bot_token,omitempty"`
		ChatID      string   `yaml:"chat_id,omitempty"`
		RoutingKey  Secret   `yaml:"routing_key,omitempty"`
		APIURL      string   `yaml:"api_url,omitempty"`
		URL         Secret   `yaml:"url,omitempty"`
		Secret      Secret   `yaml:"secret,omitempty"`
		SMTPHost    string   `yaml:"smtp_host,omitempty"`
		SMTPPort    int      `yaml:"smtp_port,omitempty"`
		Username    string   `yaml:"username,omitempty"`
		Password    Secret   `yaml:"password,omitempty"`
		From        string   `yaml:"from,omitempty"`
		To          []string `yaml:"to,omitempty,flow"`
		StartTLS    string   `yaml:"starttls,omitempty"`
		MinSeverity string   `yaml:"min_severity"`
		Events      []string `yaml:"events,omitempty,flow"`
	}
	fileApp struct {
		Name       string `yaml:"name"`
		DevKey     string `yaml:"dev_key"`
		DevSecret  Secret `yaml:"dev_secret"`
		Product    string `yaml:"product"`
		Schedule   string `yaml:"schedule"`
		Amount     string `yaml:"amount"`
		Thresholds struct {
			Warning  string `yaml:"warning"`
			Critical string `yaml:"critical"`
		} `yaml:"thresholds,flow"`
		ResolveMargin      string   `yaml:"resolve_margin"`
		OverdraftWarnRatio string   `yaml:"overdraft_warn_ratio"`
		OverdraftLimit     string   `yaml:"overdraft_limit,omitempty"`
		RepeatEvery        string   `yaml:"repeat_every"`
		StaleAfter         string   `yaml:"stale_after"`
		Notify             []string `yaml:"notify,flow"`
		Runway             any      `yaml:"runway"` // "off" or a fileRunway
		Drain              any      `yaml:"drain"`  // "off" or a fileDrain
		DailySpendLimit    string   `yaml:"daily_spend_limit,omitempty"`
		SpendDayTimezone   string   `yaml:"spend_day_timezone"`
		Flap               any      `yaml:"flap"` // "off" or a fileFlap
	}
	fileFlap struct {
		MaxChanges int    `yaml:"max_changes"`
		Window     string `yaml:"window"`
	}
	fileRunway struct {
		Warning    string `yaml:"warning"`
		Critical   string `yaml:"critical"`
		MinHistory string `yaml:"min_history"`
	}
	fileDrain struct {
		Window     string `yaml:"window"`
		Factor     string `yaml:"factor"`
		Min        string `yaml:"min"`
		MinHistory string `yaml:"min_history"`
	}
)

// Redacted renders the effective config (defaults applied, every app merged
// with defaults) as YAML, with every secret shown as ***.
func (c *Config) Redacted() string {
	var f fileConfig
	f.Database.URL = c.Database.URL
	f.EngageLab.BaseURL = c.EngageLab.BaseURL
	f.EngageLab.SMSBaseURL = c.EngageLab.SMSBaseURL
	f.EngageLab.Timeout = formatDuration(c.EngageLab.Timeout)
	f.EngageLab.MaxConcurrency = c.EngageLab.MaxConcurrency
	f.HTTP.Listen = c.HTTP.Listen
	f.HTTP.PublicURL = c.HTTP.PublicURL
	for _, t := range c.HTTP.Tokens {
		f.HTTP.Tokens = append(f.HTTP.Tokens, fileToken(t))
	}
	f.Delivery.MaxAge = formatDuration(c.Delivery.MaxAge)
	f.Retention.Snapshots = formatDuration(c.Retention.Snapshots)
	f.Retention.Events = formatDuration(c.Retention.Events)
	f.Grouping = "off"
	if g := c.Grouping; g.On() {
		f.Grouping = struct {
			MinApps int    `yaml:"min_apps"`
			Wait    string `yaml:"wait"`
		}{g.MinApps, formatDuration(g.Wait)}
	}
	for _, n := range c.Notifiers {
		f.Notifiers = append(f.Notifiers, fileNotifier{
			Name: n.Name, Type: n.Type, WebhookURL: n.WebhookURL, Token: n.Token, Channel: n.Channel,
			Thread: n.Thread, BotToken: n.BotToken, ChatID: n.ChatID, RoutingKey: n.RoutingKey,
			APIURL: n.APIURL, URL: n.URL, Secret: n.Secret, SMTPHost: n.SMTPHost, SMTPPort: n.SMTPPort,
			Username: n.Username, Password: n.Password, From: n.From, To: n.To, StartTLS: n.StartTLS,
			MinSeverity: n.MinSeverity, Events: n.Events,
		})
	}
	for _, a := range c.Apps {
		fa := fileApp{
			Name:               a.Name,
			DevKey:             a.DevKey,
			DevSecret:          a.DevSecret,
			Product:            string(a.Product),
			Schedule:           a.Schedule,
			Amount:             a.Amount,
			ResolveMargin:      a.ResolveMargin.String(),
			OverdraftWarnRatio: a.OverdraftWarnRatio.String(),
			RepeatEvery:        formatDuration(a.RepeatEvery),
			StaleAfter:         formatDuration(a.StaleAfter),
			Notify:             a.Notify,
		}
		fa.Thresholds.Warning, fa.Thresholds.Critical = a.Warning.String(), a.Critical.String()
		if a.OverdraftLimit != nil {
			fa.OverdraftLimit = a.OverdraftLimit.String()
		}
		fa.Runway, fa.Drain = "off", "off"
		if r := a.Runway; !r.Off {
			fa.Runway = fileRunway{formatDuration(r.Warning), formatDuration(r.Critical), formatDuration(r.MinHistory)}
		}
		if d := a.Drain; !d.Off {
			fa.Drain = fileDrain{formatDuration(d.Window), d.Factor.String(), d.Min.String(), formatDuration(d.MinHistory)}
		}
		if a.DailySpendLimit != nil {
			fa.DailySpendLimit = a.DailySpendLimit.String()
		}
		if a.SpendDay != nil {
			fa.SpendDayTimezone = a.SpendDay.String()
		}
		fa.Flap = "off"
		if !a.Flap.Off {
			fa.Flap = fileFlap{a.Flap.MaxChanges, formatDuration(a.Flap.Window)}
		}
		f.Apps = append(f.Apps, fa)
	}
	f.Heartbeat, f.Digest = c.redactedOperations()
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		// Only plain strings, ints and slices are encoded: this cannot fail.
		panic("config: render redacted config: " + err.Error())
	}
	return b.String()
}

// formatDuration writes d the way the file accepts it, in days from two
// days on: "400d", "2d12h", "36h", "4h", and "1m30s" for 90s.
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d == 0 {
		return "0s"
	}
	var s string
	if d >= 2*day {
		s = strconv.FormatInt(int64(d/day), 10) + "d"
		d %= day
		if d == 0 {
			return s
		}
	}
	rest := d.String()
	if strings.HasSuffix(rest, "m0s") {
		rest = strings.TrimSuffix(rest, "0s")
	}
	if strings.HasSuffix(rest, "h0m") {
		rest = strings.TrimSuffix(rest, "0m")
	}
	return s + rest
}
