// Package dingtalk posts events to a DingTalk group through a custom robot webhook, as a
// markdown message, signed with the robot's "加签" secret when one is set.
package dingtalk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
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
	ep        notify.Endpoint
	secret    string
	publicURL string
}

var _ notify.Notifier = (*Notifier)(nil)

// New builds the notifier.
func New(c Config) *Notifier {
	return &Notifier{ep: notify.NewEndpoint("dingtalk "+c.Name, c.WebhookURL, c.Timeout, c.Clock), secret: c.Secret, publicURL: c.PublicURL}
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

// retryableCodes: 130101 and 410100 (sending too fast: 20 messages a minute per robot) and
// -1 (system busy). Others repeat: 310000 (sign mismatch, keyword missing, IP not allowed),
// 300001 (token does not exist), 300005 (robot disabled), 400013 (group dissolved) ...
var retryableCodes = map[int]bool{130101: true, 410100: true, -1: true}

// Notify makes one delivery attempt.
func (n *Notifier) Notify(ctx context.Context, e notify.Event) error {
	target := n.ep.URL
	if n.secret != "" {
		u, err := url.Parse(target)
		if err != nil {
			return &notify.Error{Permanent: true, Err: fmt.Errorf("%s: webhook_url does not parse", n.ep.Prefix)}
		}
		q := u.Query()
		ts := strconv.FormatInt(n.ep.Clock().UnixMilli(), 10)
		q.Set("timestamp", ts)
		q.Set("sign", Sign(ts, n.secret))
		u.RawQuery = q.Encode()
		target = u.String()
	}
	resp, err := n.ep.PostTo(ctx, target, message{MsgType: "markdown", Markdown: Render(e, n.publicURL)}, nil)
	if err != nil {
		return err
	}
	return n.ep.ErrCode(resp, "DingTalk", retryableCodes)
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
