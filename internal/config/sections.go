package config

import (
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
	defaultSMSBaseURL     = "https://smsapi.engagelab.com"
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
		"database", "engagelab", "http", "defaults", "delivery", "retention", "grouping", "notifiers", "apps",
		"heartbeat", "digest")
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
		Grouping:  d.grouping(root.get("grouping")),
	}
	cfg.Notifiers = d.notifiers(root.get("notifiers"))
	cfg.Apps = d.apps(root, cfg.Notifiers)
	cfg.Heartbeat = d.heartbeat(root.get("heartbeat"))
	cfg.Digest = d.digest(root.get("digest"), cfg.Notifiers)
	return cfg
}

func (d *decoder) database(n *yaml.Node) Database {
	f := d.mapping(n, "database", "url", "url_file")
	url, _ := d.secret(f, "url", true)
	return Database{URL: url}
}

func (d *decoder) engageLab(n *yaml.Node) EngageLab {
	f := d.mapping(n, "engagelab", "base_url", "sms_base_url", "timeout", "max_concurrency")
	e := EngageLab{BaseURL: defaultBaseURL, SMSBaseURL: defaultSMSBaseURL, Timeout: defaultTimeout, MaxConcurrency: defaultMaxConcurrency}
	if v, ok := d.httpURL(f, "base_url"); ok && v != "" {
		e.BaseURL = v
	}
	if v, ok := d.httpURL(f, "sms_base_url"); ok && v != "" {
		e.SMSBaseURL = v
	}
	e.Timeout = d.positiveDuration(f, "timeout", defaultTimeout)
	if n, ok := d.wholeAtLeastOne(f.get("max_concurrency"), "engagelab.max_concurrency"); ok {
		e.MaxConcurrency = n
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
