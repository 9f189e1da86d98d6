package config

import (
	"regexp"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Heartbeat configures the dead-man's-switch ping (key `heartbeat`): the URL is called every
// Every, but only after a healthy cycle, so a service such as healthchecks.io pages when the
// pings stop.
type Heartbeat struct {
	URL          Secret        // the ping URL; often the only credential of the check
	Method       string        // "GET" (default) or "POST"
	Every        time.Duration // default 5m
	MaxOutboxAge time.Duration // a pending notification older than this makes the cycle unhealthy; default 10m
}

// Digest configures the daily summary (key `digest`).
type Digest struct {
	At           string // "09:00", as written
	Hour, Minute int
	Timezone     *time.Location // default UTC
	Notify       []string
}

// Defaults of the operations sections, as in the README.
const (
	defaultHeartbeatEvery = 5 * time.Minute
	defaultMaxOutboxAge   = 10 * time.Minute
	defaultDigestAt       = "09:00"
	// minHeartbeatEvery keeps a typo ("5s" for "5m") from hammering the receiver, and leaves
	// the check, which reads every app, time to run.
	minHeartbeatEvery = 10 * time.Second
)

func (d *decoder) heartbeat(n *yaml.Node) *Heartbeat {
	if isNull(deref(n)) || isOff(n) {
		return nil
	}
	f := d.mapping(n, "heartbeat", "url", "url_file", "method", "every", "max_outbox_age")
	if f.node == nil {
		return nil
	}
	h := &Heartbeat{
		Method:       d.oneOf(f, "method", "GET", "GET", "POST"),
		Every:        d.positiveDuration(f, "every", defaultHeartbeatEvery),
		MaxOutboxAge: d.positiveDuration(f, "max_outbox_age", defaultMaxOutboxAge),
	}
	if h.Every < minHeartbeatEvery && f.has("every") {
		d.add(f.get("every"), "heartbeat.every", "%s is too often; write at least %s", formatDuration(h.Every), formatDuration(minHeartbeatEvery))
	}
	url, ok := d.secret(f, "url", true)
	if ok && !isHTTPURL(url.Reveal()) {
		// Never quoted: the URL is the secret.
		key := "url"
		if f.has("url_file") {
			key = "url_file"
		}
		d.add(f.get(key), join("heartbeat", key), "must be an absolute http:// or https:// URL")
	}
	h.URL = url
	return h
}

var timeOfDay = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)

func (d *decoder) digest(n *yaml.Node, notifiers []Notifier) *Digest {
	if isNull(deref(n)) || isOff(n) {
		return nil
	}
	f := d.mapping(n, "digest", "at", "timezone", "notify")
	if f.node == nil {
		return nil
	}
	g := &Digest{At: defaultDigestAt, Hour: 9, Timezone: time.UTC}
	if at, ok := d.str(f, "at"); ok {
		if m := timeOfDay.FindStringSubmatch(at); m != nil {
			g.At = at
			g.Hour, _ = strconv.Atoi(m[1])
			g.Minute, _ = strconv.Atoi(m[2])
		} else {
			d.add(f.get("at"), "digest.at", "%q is not a time of day (write it like \"09:00\", 24-hour HH:MM, in quotes)", at)
		}
	}
	if f.has("timezone") {
		if loc, ok := d.zone(f.get("timezone"), "digest.timezone"); ok {
			g.Timezone = loc
		}
	}
	if !f.has("notify") {
		d.add(f.node, "digest.notify", "is required: name the notifiers that get the digest")
		return g
	}
	names, _ := d.notify(f.get("notify"), "digest.notify", notifiers)
	if list := deref(f.get("notify")); list.Kind == yaml.SequenceNode && len(list.Content) == 0 {
		d.add(list, "digest.notify", "must name at least one notifier")
	}
	g.Notify = names
	return g
}

type (
	fileHeartbeat struct {
		URL          Secret `yaml:"url"`
		Method       string `yaml:"method"`
		Every        string `yaml:"every"`
		MaxOutboxAge string `yaml:"max_outbox_age"`
	}
	fileDigest struct {
		At       string   `yaml:"at"`
		Timezone string   `yaml:"timezone"`
		Notify   []string `yaml:"notify"`
	}
)

// redactedOperations renders the heartbeat and digest for Redacted; nil for an absent section.
func (c *Config) redactedOperations() (*fileHeartbeat, *fileDigest) {
	var h *fileHeartbeat
	var g *fileDigest
	if hb := c.Heartbeat; hb != nil {
		h = &fileHeartbeat{URL: hb.URL, Method: hb.Method, Every: formatDuration(hb.Every), MaxOutboxAge: formatDuration(hb.MaxOutboxAge)}
	}
	if dg := c.Digest; dg != nil {
		g = &fileDigest{At: dg.At, Timezone: dg.Timezone.String(), Notify: dg.Notify}
	}
	return h, g
}

// isOff reports whether a section is written as the word off, as flap and grouping allow,
// which is also how a commented-out section reads.
func isOff(n *yaml.Node) bool {
	n = deref(n)
	return n != nil && n.Kind == yaml.ScalarNode && (n.Value == "off" || n.Value == "false")
}
