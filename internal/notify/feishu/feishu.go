// Package feishu posts events to a Feishu (or Lark) group through a custom bot webhook, as an
// interactive card coloured by severity, signed when the bot has a signing secret.
package feishu

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// Config configures one custom bot. It is trusted: internal/config has validated it.
type Config struct {
	Name       string
	Kind       string // "feishu" or "lark", as configured: it names the notifier in errors
	WebhookURL string // https://open.feishu.cn/open-apis/bot/v2/hook/<token>: a secret
	Secret     string // optional signing secret ("signature verification" in the bot's security settings)
	PublicURL  string
	Timeout    time.Duration
	Clock      func() time.Time
}

// Notifier posts one card per event.
type Notifier struct {
	ep        notify.Endpoint
	vendor    string // "Feishu" or "Lark", in errors
	secret    string
	publicURL string
}

var _ notify.Notifier = (*Notifier)(nil)

// New builds the notifier.
func New(c Config) *Notifier {
	kind, vendor := cmp.Or(c.Kind, "feishu"), "Feishu"
	if kind == "lark" {
		vendor = "Lark"
	}
	return &Notifier{ep: notify.NewEndpoint(kind+" "+c.Name, c.WebhookURL, c.Timeout, c.Clock),
		vendor: vendor, secret: c.Secret, publicURL: c.PublicURL}
}

// Sign is the custom bot signature: base64(HMAC-SHA256) keyed with timestamp + "\n" + secret
// over an empty message (the key, not the message, carries the string; Feishu's documented
// quirk). timestamp is in seconds, and Feishu rejects one more than an hour off.
func Sign(timestamp, secret string) string {
	mac := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

type message struct {
	Timestamp string `json:"timestamp,omitempty"`
	Sign      string `json:"sign,omitempty"`
	MsgType   string `json:"msg_type"`
	Card      Card   `json:"card"`
}

// answer is the bot's reply: HTTP 200 with code 0 on success, another code on refusal.
// Older deployments answer StatusCode/StatusMessage instead.
type answer struct {
	Code          *int   `json:"code"`
	Msg           string `json:"msg"`
	StatusCode    *int   `json:"StatusCode"`
	StatusMessage string `json:"StatusMessage"`
}

// retryableCodes are refusals that pass: rate limits (9499 "too many request" for custom
// bots, 11232 for the tenant's message service). Everything else (19021 sign mismatch or
// stale timestamp, 19022 IP not allowed, 19024 keyword missing, 19001 bad webhook token,
// 9499-class parameter errors) repeats on every attempt.
var retryableCodes = map[int]bool{9499: true, 11232: true}

// Notify makes one delivery attempt.
func (n *Notifier) Notify(ctx context.Context, e notify.Event) error {
	m := message{MsgType: "interactive", Card: Render(e, n.publicURL)}
	if n.secret != "" {
		m.Timestamp = strconv.FormatInt(n.ep.Clock().Unix(), 10)
		m.Sign = Sign(m.Timestamp, n.secret)
	}
	resp, err := n.ep.Post(ctx, m, nil)
	if err != nil {
		return err
	}
	if !resp.OK() {
		return n.ep.Refused(resp)
	}
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil || (a.Code == nil && a.StatusCode == nil) {
		return &notify.Error{Status: resp.Status,
			Err: fmt.Errorf("%s: %s answered %s without a result code", n.ep.Prefix, n.ep.Origin, resp.StatusText)}
	}
	code, msg := 0, a.Msg
	if a.Code != nil {
		code = *a.Code
	} else {
		code, msg = *a.StatusCode, a.StatusMessage
	}
	if code == 0 {
		return nil
	}
	return &notify.Error{Status: resp.Status, Permanent: !retryableCodes[code],
		Err: fmt.Errorf("%s: %s refused the message: code %d: %s", n.ep.Prefix, n.vendor, code, msg)}
}

// Card is a message card (the "card" of msg_type interactive).
type Card struct {
	Config   map[string]bool `json:"config"`
	Header   Header          `json:"header"`
	Elements []any           `json:"elements"`
}

// Header is the card's coloured title bar.
type Header struct {
	Title    Text   `json:"title"`
	Template string `json:"template"`
}

// Text is a plain_text or lark_md text element.
type Text struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

type div struct {
	Tag    string  `json:"tag"`
	Text   *Text   `json:"text,omitempty"`
	Fields []field `json:"fields,omitempty"`
}

type field struct {
	IsShort bool `json:"is_short"`
	Text    Text `json:"text"`
}

type note struct {
	Tag      string `json:"tag"`
	Elements []Text `json:"elements"`
}

type action struct {
	Tag     string   `json:"tag"`
	Actions []button `json:"actions"`
}

type button struct {
	Tag  string `json:"tag"`
	Text Text   `json:"text"`
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Templates colour the header: red critical, orange warning, green resolved.
var Templates = map[string]string{"critical": "red", "warning": "orange", "resolved": "green", "test": "blue", "info": "blue"}

// Render builds the card of e. The message is plain text, so an app name cannot inject
// markdown; only our own labels use lark_md.
func Render(e notify.Event, publicURL string) Card {
	c := Card{
		Config: map[string]bool{"wide_screen_mode": true},
		Header: Header{Title: Text{"plain_text", notify.Title(e)}, Template: Templates[notify.Tone(e)]},
	}
	c.Elements = append(c.Elements, div{Tag: "div", Text: &Text{"plain_text", notify.Text(e)}})
	if fs := notify.Fields(e); len(fs) > 0 {
		d := div{Tag: "div"}
		for _, f := range fs {
			d.Fields = append(d.Fields, field{IsShort: true, Text: Text{"lark_md", "**" + f.Label + "**\n" + f.Value}})
		}
		c.Elements = append(c.Elements, d)
	}
	if line := notify.Context(e); line != "" {
		c.Elements = append(c.Elements, note{Tag: "note", Elements: []Text{{"plain_text", line}}})
	}
	if link := notify.DashboardURL(publicURL, e.App); link != "" {
		c.Elements = append(c.Elements, action{Tag: "action", Actions: []button{{
			Tag: "button", Text: Text{"plain_text", "Open dashboard"}, Type: "primary", URL: link}}})
	}
	return c
}
