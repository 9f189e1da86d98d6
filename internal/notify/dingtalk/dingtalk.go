// Package dingtalk posts events to a DingTalk group through a custom robot webhook, as a
// markdown message, signed with the robot's "加签" secret when one is set.
package dingtalk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// Config configures one robot. It is trusted: internal/config has validated it.
type Config struct {
	Name       string
	WebhookURL string // https://oapi.dingtalk.com/robot/send?access_token=...: a secret
	Secret     string // optional signing secret, "SEC..."
	PublicURL  string
	Timeout    time.Duration
	Clock      func() time.Time
}

// Notifier posts one markdown message per event.
type Notifier struct {
	prefix      string
	url, origin string
	secret      string
	publicURL   string
	client      *http.Client
	clock       func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

// New builds the notifier.
func New(c Config) *Notifier {
	clock := c.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Notifier{
		prefix: "dingtalk " + c.Name, url: c.WebhookURL, origin: notify.RedactURL(c.WebhookURL),
		secret: c.Secret, publicURL: c.PublicURL, client: notify.NewHTTPClient(c.Timeout), clock: clock,
	}
}

// Sign is the robot signature: base64(HMAC-SHA256 keyed with the secret over
// timestamp + "\n" + secret); timestamp is in milliseconds and must be within an hour.
// The caller URL-encodes it as the sign query parameter.
func Sign(timestamp, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

type message struct {
	MsgType  string   `json:"msgtype"`
	Markdown Markdown `json:"markdown"`
}

// Markdown is the markdown message: title shows in the conversation list, text in the chat.
type Markdown struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

type answer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// retryableCodes: 130101 and 410100 (sending too fast: 20 messages a minute per robot) and
// -1 (system busy). Others repeat: 310000 (sign mismatch, keyword missing, IP not allowed),
// 300001 (token does not exist), 300005 (robot disabled), 400013 (group dissolved) ...
var retryableCodes = map[int]bool{130101: true, 410100: true, -1: true}

// Notify makes one delivery attempt.
func (n *Notifier) Notify(ctx context.Context, e notify.Event) error {
	now := n.clock()
	target := n.url
	if n.secret != "" {
		u, err := url.Parse(n.url)
		if err != nil {
			return &notify.Error{Permanent: true, Err: fmt.Errorf("%s: webhook_url does not parse", n.prefix)}
		}
		q := u.Query()
		ts := strconv.FormatInt(now.UnixMilli(), 10)
		q.Set("timestamp", ts)
		q.Set("sign", Sign(ts, n.secret))
		u.RawQuery = q.Encode()
		target = u.String()
	}
	body, err := json.Marshal(message{MsgType: "markdown", Markdown: Render(e, n.publicURL)})
	if err != nil {
		return &notify.Error{Permanent: true, Err: fmt.Errorf("%s: encode message: %w", n.prefix, err)}
	}
	resp, err := notify.PostJSON(ctx, n.client, n.prefix, target, body, nil)
	if err != nil {
		return err
	}
	if !resp.OK() {
		return notify.StatusError(n.prefix, n.origin, resp, now)
	}
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil || a.ErrCode == nil {
		return &notify.Error{Status: resp.Status,
			Err: fmt.Errorf("%s: %s answered %s without an errcode", n.prefix, n.origin, resp.StatusText)}
	}
	if *a.ErrCode == 0 {
		return nil
	}
	return &notify.Error{Status: resp.Status, Permanent: !retryableCodes[*a.ErrCode],
		Err: fmt.Errorf("%s: DingTalk refused the message: errcode %d: %s", n.prefix, *a.ErrCode, a.ErrMsg)}
}

// mdEscaper keeps app names and messages from turning into markdown.
var mdEscaper = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "#", `\#`, "<", "&lt;", ">", "&gt;")

// Render builds the markdown of e.
func Render(e notify.Event, publicURL string) Markdown {
	title := notify.Title(e)
	var b strings.Builder
	b.WriteString("### " + mdEscaper.Replace(title) + "\n\n")
	b.WriteString(mdEscaper.Replace(notify.Text(e)) + "\n")
	if fs := notify.Fields(e); len(fs) > 0 {
		b.WriteString("\n")
		for _, f := range fs {
			b.WriteString("- **" + f.Label + "**: " + mdEscaper.Replace(f.Value) + "\n")
		}
	}
	if line := notify.Context(e); line != "" {
		b.WriteString("\n" + mdEscaper.Replace(line) + "\n")
	}
	if link := notify.DashboardURL(publicURL, e.App); link != "" {
		b.WriteString("\n[Open dashboard](" + link + ")\n")
	}
	return Markdown{Title: title, Text: b.String()}
}
