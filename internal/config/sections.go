package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults for keys the file leaves out.
const (
	defaultBaseURL        = "https://otp.api.engagelab.cc"
	defaultTimeout        = 10 * time.Second
	defaultMaxConcurrency = 16
	defaultListen         = "127.0.0.1:8080"
	defaultMaxAge         = 24 * time.Hour
	defaultRetention      = 400 * 24 * time.Hour
)

var yamlLine = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

func (d *decoder) document(data []byte) *Config {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		// YAML forbids { and } in plain values inside [...] and {...}, which
		// is exactly where people write ${VAR}.
		if strings.Contains(msg, "did not find expected ',' or") && strings.Contains(string(data), "${") {
			msg += ` (inside [...] or {...}, quote a ${VAR} value: "${VAR}")`
		}
		d.problems = append(d.problems, problem{line: line, msg: "invalid YAML: " + msg})
		return nil
	}
	if len(doc.Content) == 0 {
		d.add(nil, "", "the file is empty")
		return nil
	}
	root := d.mapping(doc.Content[0], "",
		"database", "engagelab", "http", "defaults", "delivery", "retention", "notifiers", "apps")
	if root.node == nil {
		if len(d.problems) == 0 {
			d.add(nil, "", "the file is empty")
		}
		return nil
	}
	cfg := &Config{
		Database:  d.database(root.get("database")),
		EngageLab: d.engageLab(root.get("engagelab")),
		HTTP:      d.http(root.get("http")),
		Delivery:  d.delivery(root.get("delivery")),
		Retention: d.retention(root.get("retention")),
	}
	cfg.Notifiers = d.notifiers(root.get("notifiers"))
	cfg.Apps = d.apps(root, cfg.Notifiers)
	return cfg
}

func (d *decoder) database(n *yaml.Node) Database {
	f := d.mapping(n, "database", "url", "url_file")
	url, _ := d.secret(f, "url", true)
	return Database{URL: url}
}

func (d *decoder) engageLab(n *yaml.Node) EngageLab {
	f := d.mapping(n, "engagelab", "base_url", "timeout", "max_concurrency")
	e := EngageLab{BaseURL: defaultBaseURL, Timeout: defaultTimeout, MaxConcurrency: defaultMaxConcurrency}
	if v, ok := d.httpURL(f, "base_url"); ok && v != "" {
		e.BaseURL = v
	}
	e.Timeout = d.positiveDuration(f, "timeout", defaultTimeout)
	if s, ok := d.str(f, "max_concurrency"); ok {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			d.add(f.get("max_concurrency"), "engagelab.max_concurrency", "%q is not a whole number", s)
		case n < 1:
			d.add(f.get("max_concurrency"), "engagelab.max_concurrency", "must be at least 1, not %d", n)
		default:
			e.MaxConcurrency = n
		}
	}
	return e
}

// positiveDuration reads an optional duration that must be above zero.
func (d *decoder) positiveDuration(f fields, key string, def time.Duration) time.Duration {
	v, ok := d.duration(f.get(key), join(f.path, key))
	if !ok {
		return def
	}
	if v <= 0 {
		d.add(f.get(key), join(f.path, key), "must be longer than 0")
		return def
	}
	return v
}

func (d *decoder) http(n *yaml.Node) HTTP {
	f := d.mapping(n, "http", "listen", "public_url", "tokens")
	h := HTTP{Listen: defaultListen}
	if v, ok := d.str(f, "listen"); ok {
		if _, _, err := net.SplitHostPort(v); err != nil {
			d.add(f.get("listen"), "http.listen", "%q is not a host:port address", v)
		} else {
			h.Listen = v
		}
	}
	h.PublicURL, _ = d.httpURL(f, "public_url")
	h.Tokens = d.tokens(f.get("tokens"))
	return h
}

// tokens reads http.tokens, whose entries are a plain token (scope write) or
// a mapping with a name and scope.
func (d *decoder) tokens(n *yaml.Node) []Token {
	var out []Token
	names := map[string]string{}  // name → path of its first use
	values := map[Secret]string{} // token → path of its first use
	for i, item := range d.sequence(n, "http.tokens") {
		path := fmt.Sprintf("http.tokens[%d]", i)
		t := Token{Name: fmt.Sprintf("token%d", i+1), Scope: "write"}
		var ok bool
		if item.Kind == yaml.ScalarNode {
			var s string
			s, ok = d.scalar(item, path)
			if isNull(item) || (ok && s == "") {
				d.add(item, path, "must not be empty")
				ok = false
			}
			t.Token = Secret(s)
		} else {
			path = labelled(path, item)
			f := d.mapping(item, path, "name", "token", "token_file", "scope")
			if f.node == nil {
				continue
			}
			if name, nameOK := d.str(f, "name"); nameOK && name != "" {
				t.Name = name
			}
			t.Scope = d.oneOf(f, "scope", "write", "read", "write")
			t.Token, ok = d.secret(f, "token", true)
		}
		if first, dup := names[t.Name]; dup {
			d.add(item, path, "the name %q is already used by %s", t.Name, first)
		}
		names[t.Name] = path
		if first, dup := values[t.Token]; ok && dup {
			d.add(item, path, "is the same token as %s", first)
		}
		if ok {
			values[t.Token] = path
		}
		out = append(out, t)
	}
	return out
}

// labelled adds an item's name to its path, "apps[1] (checkout)", so a
// problem can be found without counting list entries.
func labelled(path string, item *yaml.Node) string {
	if item.Kind != yaml.MappingNode {
		return path
	}
	for i := 0; i+1 < len(item.Content); i += 2 {
		if item.Content[i].Value == "name" {
			if v := deref(item.Content[i+1]); v.Kind == yaml.ScalarNode && v.Value != "" {
				return path + " (" + v.Value + ")"
			}
		}
	}
	return path
}

func (d *decoder) delivery(n *yaml.Node) Delivery {
	f := d.mapping(n, "delivery", "max_age")
	return Delivery{MaxAge: d.positiveDuration(f, "max_age", defaultMaxAge)}
}

func (d *decoder) retention(n *yaml.Node) Retention {
	f := d.mapping(n, "retention", "snapshots", "events")
	return Retention{
		Snapshots: d.positiveDuration(f, "snapshots", defaultRetention),
		Events:    d.positiveDuration(f, "events", defaultRetention),
	}
}

// validName keeps names usable in URL paths, metric labels and Slack text.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// name reads a required, well-formed name that no earlier entry uses.
func (d *decoder) name(f fields, seen map[string]string) string {
	v, ok := d.str(f, "name")
	switch {
	case !ok && !f.has("name"):
		d.add(f.node, join(f.path, "name"), "is required")
	case !ok:
	case !validName.MatchString(v):
		d.add(f.get("name"), join(f.path, "name"), "%q may only contain letters, digits, '.', '_' and '-'", v)
	case seen[v] != "":
		d.add(f.get("name"), join(f.path, "name"), "%q is already used by %s", v, seen[v])
	default:
		seen[v] = f.path
		return v
	}
	return ""
}

var (
	commonNotifierKeys = []string{"name", "type", "min_severity"}
	notifierKeys       = map[string][]string{
		"slack":   {"webhook_url", "webhook_url_file", "token", "token_file", "channel", "api_url"},
		"webhook": {"url", "url_file", "secret", "secret_file"},
	}
)

func (d *decoder) notifiers(n *yaml.Node) []Notifier {
	var out []Notifier
	seen := map[string]string{}
	for i, item := range d.sequence(n, "notifiers") {
		path := labelled(fmt.Sprintf("notifiers[%d]", i), item)
		typ := ""
		if item.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(item.Content); j += 2 {
				if item.Content[j].Value == "type" {
					typ = deref(item.Content[j+1]).Value
				}
			}
		}
		keys, kind := append([]string{}, commonNotifierKeys...), ""
		switch typ {
		case "slack", "webhook":
			kind = "a " + typ + " notifier"
			keys = append(keys, notifierKeys[typ]...)
		default:
			keys = append(append(keys, notifierKeys["slack"]...), notifierKeys["webhook"]...)
		}
		f := d.mappingOf(item, path, kind, keys...)
		if f.node == nil {
			continue
		}
		nt := Notifier{Name: d.name(f, seen)}
		nt.Type = d.oneOf(f, "type", "", "slack", "webhook")
		if nt.Type == "" && !f.has("type") {
			d.add(f.node, join(path, "type"), `is required ("slack" or "webhook")`)
		}
		nt.MinSeverity = d.oneOf(f, "min_severity", "warning", "warning", "critical")
		switch nt.Type {
		case "slack":
			d.slack(f, &nt)
		case "webhook":
			d.webhook(f, &nt)
		}
		out = append(out, nt)
	}
	return out
}

func (d *decoder) slack(f fields, nt *Notifier) {
	hasWebhook := f.has("webhook_url") || f.has("webhook_url_file")
	hasToken := f.has("token") || f.has("token_file")
	switch {
	case hasWebhook && hasToken:
		d.add(f.node, f.path, "set either webhook_url or token (with channel), not both")
		return
	case !hasWebhook && !hasToken:
		d.add(f.node, f.path, "a slack notifier needs webhook_url, or token and channel")
		return
	case hasWebhook:
		var ok bool
		if nt.WebhookURL, ok = d.secret(f, "webhook_url", true); ok && !isHTTPURL(nt.WebhookURL.Reveal()) {
			d.add(f.get("webhook_url"), join(f.path, "webhook_url"), "must be an absolute http:// or https:// URL")
		}
		if f.has("channel") {
			d.add(f.get("channel"), join(f.path, "channel"), "only applies with token: an incoming webhook posts to its own channel")
		}
	default:
		nt.Token, _ = d.secret(f, "token", true)
		nt.Channel = d.requiredStr(f, "channel", "is required with token")
	}
	nt.APIURL, _ = d.httpURL(f, "api_url")
}

func (d *decoder) webhook(f fields, nt *Notifier) {
	// The URL is a secret: receivers often carry their credential in the path or query.
	url, ok := d.secret(f, "url", true)
	if ok && !isHTTPURL(url.Reveal()) {
		key := "url"
		if f.has("url_file") {
			key = "url_file"
		}
		d.add(f.get(key), join(f.path, key), "must be an absolute http:// or https:// URL")
	}
	nt.URL = url
	if nt.Secret, ok = d.secret(f, "secret", false); ok && !isWebhookSecret(nt.Secret.Reveal()) {
		key := "secret"
		if f.has("secret_file") {
			key = "secret_file"
		}
		d.add(f.get(key), join(f.path, key), `must be "whsec_" followed by base64, as Standard Webhooks secrets are`)
	}
}

func isWebhookSecret(s string) bool {
	key, ok := strings.CutPrefix(s, "whsec_")
	if !ok || key == "" {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(key)
	return err == nil
}
