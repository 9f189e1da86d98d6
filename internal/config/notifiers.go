package config

import (
	"encoding/base64"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Each notifier type's own keys, beside commonNotifierKeys. A secret's key_file form is
// listed with it.
var (
	commonNotifierKeys = []string{"name", "type", "min_severity", "events"}
	notifierKeys       = map[string][]string{
		"slack":     {"webhook_url", "webhook_url_file", "token", "token_file", "channel", "api_url", "thread"},
		"webhook":   {"url", "url_file", "secret", "secret_file"},
		"telegram":  {"bot_token", "bot_token_file", "chat_id", "api_url"},
		"feishu":    {"webhook_url", "webhook_url_file", "secret", "secret_file"},
		"lark":      {"webhook_url", "webhook_url_file", "secret", "secret_file"},
		"dingtalk":  {"webhook_url", "webhook_url_file", "secret", "secret_file"},
		"wecom":     {"webhook_url", "webhook_url_file"},
		"teams":     {"webhook_url", "webhook_url_file"},
		"pagerduty": {"routing_key", "routing_key_file", "api_url"},
		"email":     {"smtp_host", "smtp_port", "username", "password", "password_file", "from", "to", "starttls"},
	}
	notifierTypes = []string{"slack", "webhook", "telegram", "feishu", "lark", "dingtalk", "wecom", "teams", "pagerduty", "email"}

	// NotifierEvents are the non-alert events a notifier may opt into with `events`.
	NotifierEvents = []string{"topup", "gift_expired"}
)

// Defaults of notifier keys.
const (
	DefaultTelegramAPI  = "https://api.telegram.org"
	DefaultPagerDutyAPI = "https://events.pagerduty.com"
	defaultSMTPPort     = 587
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
		if own, ok := notifierKeys[typ]; ok {
			kind = "a " + typ + " notifier"
			if strings.ContainsRune("aeiou", rune(typ[0])) {
				kind = "an " + typ + " notifier"
			}
			keys = append(keys, own...)
		} else {
			// The type is wrong or missing (reported below): accept every notifier key, so the
			// one mistake is not reported once per key.
			for _, t := range notifierTypes {
				for _, k := range notifierKeys[t] {
					if !slices.Contains(keys, k) {
						keys = append(keys, k)
					}
				}
			}
		}
		f := d.mappingOf(item, path, kind, keys...)
		if f.node == nil {
			continue
		}
		nt := Notifier{Name: d.name(f, seen)}
		nt.Type = d.oneOf(f, "type", "", notifierTypes...)
		if nt.Type == "" && !f.has("type") {
			d.add(f.node, join(path, "type"), "is required (%s)", orList(notifierTypes))
		}
		nt.MinSeverity = d.oneOf(f, "min_severity", "warning", "warning", "critical")
		nt.Events = d.events(f)
		switch nt.Type {
		case "slack":
			d.slack(f, &nt)
		case "webhook":
			d.webhook(f, &nt)
		case "telegram":
			d.telegram(f, &nt)
		case "feishu", "lark", "dingtalk":
			nt.WebhookURL = d.webhookURL(f)
			nt.Secret, _ = d.secret(f, "secret", false)
		case "wecom", "teams":
			nt.WebhookURL = d.webhookURL(f)
		case "pagerduty":
			var ok bool
			if nt.RoutingKey, ok = d.secret(f, "routing_key", true); ok && len(nt.RoutingKey) != 32 {
				key := secretKey(f, "routing_key")
				d.add(f.get(key), join(f.path, key), "must be the 32-character integration key of an Events API v2 integration")
			}
			nt.APIURL = DefaultPagerDutyAPI
			if v, ok := d.httpURL(f, "api_url"); ok && v != "" {
				nt.APIURL = v
			}
		case "email":
			d.email(f, &nt)
		}
		out = append(out, nt)
	}
	return out
}

// events reads the opt-in list of non-alert events.
func (d *decoder) events(f fields) []string {
	path := join(f.path, "events")
	var out []string
	for i, item := range d.sequence(f.get("events"), path) {
		itemPath := fmt.Sprintf("%s[%d]", path, i)
		v, ok := d.scalar(item, itemPath)
		switch {
		case !ok:
		case !slices.Contains(NotifierEvents, v):
			d.add(item, itemPath, "unknown event %q: must be %s", v, orList(NotifierEvents))
		case slices.Contains(out, v):
			d.add(item, itemPath, "%q is listed twice", v)
		default:
			out = append(out, v)
		}
	}
	return out
}

// webhookURL reads the required webhook_url (or webhook_url_file) of a chat webhook. It is a
// secret: the URL is the credential.
func (d *decoder) webhookURL(f fields) Secret {
	v, ok := d.secret(f, "webhook_url", true)
	if ok && !isHTTPURL(v.Reveal()) {
		key := secretKey(f, "webhook_url")
		d.add(f.get(key), join(f.path, key), "must be an absolute http:// or https:// URL")
	}
	return v
}

func (d *decoder) slack(f fields, nt *Notifier) {
	hasWebhook := f.has("webhook_url") || f.has("webhook_url_file")
	hasToken := f.has("token") || f.has("token_file")
	nt.Thread = d.boolean(f, "thread")
	switch {
	case hasWebhook && hasToken:
		d.add(f.node, f.path, "set either webhook_url or token (with channel), not both")
		return
	case !hasWebhook && !hasToken:
		d.add(f.node, f.path, "a slack notifier needs webhook_url, or token and channel")
		return
	case hasWebhook:
		nt.WebhookURL = d.webhookURL(f)
		if f.has("channel") {
			d.add(f.get("channel"), join(f.path, "channel"), "only applies with token: an incoming webhook posts to its own channel")
		}
		if f.has("thread") {
			d.add(f.get("thread"), join(f.path, "thread"), "only applies with token: an incoming webhook cannot reply in a thread")
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
		key := secretKey(f, "url")
		d.add(f.get(key), join(f.path, key), "must be an absolute http:// or https:// URL")
	}
	nt.URL = url
	if nt.Secret, ok = d.secret(f, "secret", false); ok && !isWebhookSecret(nt.Secret.Reveal()) {
		key := secretKey(f, "secret")
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

func (d *decoder) telegram(f fields, nt *Notifier) {
	var ok bool
	if nt.BotToken, ok = d.secret(f, "bot_token", true); ok {
		// BotFather's tokens are "<bot id>:<secret>"; the value is never echoed.
		id, rest, found := strings.Cut(nt.BotToken.Reveal(), ":")
		if _, err := strconv.ParseUint(id, 10, 64); !found || err != nil || rest == "" || strings.ContainsAny(rest, "/?# ") {
			key := secretKey(f, "bot_token")
			d.add(f.get(key), join(f.path, key), "must be the token BotFather gives, like 123456789:AAH...")
		}
	}
	nt.ChatID = d.requiredStr(f, "chat_id", `is required: the chat's numeric id (like -1001234567890) or a public channel's "@name"`)
	if nt.ChatID != "" && !chatID.MatchString(nt.ChatID) {
		d.add(f.get("chat_id"), join(f.path, "chat_id"), `%q is neither a numeric chat id (like -1001234567890) nor a channel's "@name"`, nt.ChatID)
	}
	nt.APIURL = DefaultTelegramAPI
	if v, ok := d.httpURL(f, "api_url"); ok && v != "" {
		nt.APIURL = v
	}
}

func (d *decoder) email(f fields, nt *Notifier) {
	nt.SMTPHost = d.requiredStr(f, "smtp_host", "is required")
	nt.SMTPPort = defaultSMTPPort
	if s, ok := d.str(f, "smtp_port"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 65535 {
			d.add(f.get("smtp_port"), join(f.path, "smtp_port"), "%q is not a port number (1 to 65535)", s)
		} else {
			nt.SMTPPort = n
		}
	}
	nt.StartTLS = d.oneOf(f, "starttls", "required", "required", "opportunistic", "off")
	nt.Username, _ = d.str(f, "username")
	var hasPassword bool
	nt.Password, hasPassword = d.secret(f, "password", false)
	passwordKey := secretKey(f, "password")
	switch {
	case nt.Username != "" && !f.has("password") && !f.has("password_file"):
		d.add(f.get("username"), join(f.path, "username"), "needs password (or password_file)")
	case hasPassword && nt.Username == "":
		d.add(f.get(passwordKey), join(f.path, passwordKey), "needs username")
	case hasPassword && nt.StartTLS == "off":
		d.add(f.get(passwordKey), join(f.path, passwordKey), `would be sent unencrypted with starttls: off; use starttls: required`)
	}
	if from, ok := d.str(f, "from"); ok {
		if _, err := mail.ParseAddress(from); err != nil {
			d.add(f.get("from"), join(f.path, "from"), "%q is not an email address", from)
		}
		nt.From = from
	} else if !f.has("from") {
		d.add(f.node, join(f.path, "from"), "is required")
	}
	toPath := join(f.path, "to")
	for i, item := range d.sequence(f.get("to"), toPath) {
		itemPath := fmt.Sprintf("%s[%d]", toPath, i)
		v, ok := d.scalar(item, itemPath)
		if !ok {
			continue
		}
		if _, err := mail.ParseAddress(v); err != nil {
			d.add(item, itemPath, "%q is not an email address", v)
			continue
		}
		nt.To = append(nt.To, v)
	}
	if !f.has("to") {
		d.add(f.node, toPath, "is required: a list of addresses")
	} else if n := deref(f.get("to")); n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		d.add(n, toPath, "must name at least one address")
	}
}

// chatID is a Telegram chat: a numeric id (negative for groups) or a public "@username".
var chatID = regexp.MustCompile(`^(-?[0-9]+|@[A-Za-z][A-Za-z0-9_]{3,})$`)

// secretKey is the key a secret was given under: key, or key_file.
func secretKey(f fields, key string) string {
	if f.has(key + "_file") {
		return key + "_file"
	}
	return key
}

// boolean reads an optional true or false.
func (d *decoder) boolean(f fields, key string) bool {
	v, ok := d.str(f, key)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil || (v != "true" && v != "false") {
		d.add(f.get(key), join(f.path, key), "must be true or false, not %q", v)
		return false
	}
	return b
}
