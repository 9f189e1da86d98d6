// Package wecom posts events to a WeCom (企业微信) group through a group robot webhook, as
// a markdown message.
package wecom

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// Config configures one group robot. It is trusted: internal/config has validated it.
type Config struct {
	Name       string
	WebhookURL string // https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...: a secret
	PublicURL  string
	Timeout    time.Duration
	Clock      func() time.Time
}

// Notifier posts one markdown message per event.
type Notifier struct {
	prefix      string
	url, origin string
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
	return &Notifier{prefix: "wecom " + c.Name, url: c.WebhookURL, origin: notify.RedactURL(c.WebhookURL),
		publicURL: c.PublicURL, client: notify.NewHTTPClient(c.Timeout), clock: clock}
}

type message struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Content string `json:"content"`
	} `json:"markdown"`
}

type answer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// retryableCodes: 45009 (api freq out of limit: 20 messages a minute per robot) and -1
// (system busy). Others repeat: 93000 (invalid webhook URL), 40008 (invalid message type),
// 40058 (bad parameter), 93004 (robot disabled) ...
var retryableCodes = map[int]bool{45009: true, -1: true}

// Notify makes one delivery attempt.
func (n *Notifier) Notify(ctx context.Context, e notify.Event) error {
	var m message
	m.MsgType = "markdown"
	m.Markdown.Content = Render(e, n.publicURL)
	body, err := json.Marshal(m)
	if err != nil {
		return &notify.Error{Permanent: true, Err: fmt.Errorf("%s: encode message: %w", n.prefix, err)}
	}
	resp, err := notify.PostJSON(ctx, n.client, n.prefix, n.url, body, nil)
	if err != nil {
		return err
	}
	if !resp.OK() {
		return notify.StatusError(n.prefix, n.origin, resp, n.clock())
	}
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil || a.ErrCode == nil {
		return &notify.Error{Status: resp.Status,
			Err: fmt.Errorf("%s: %s answered %s without an errcode", n.prefix, n.origin, resp.StatusText)}
	}
	if *a.ErrCode == 0 {
		return nil
	}
	// WeCom's errmsg ends with a "hint" and a help link, never with the key.
	return &notify.Error{Status: resp.Status, Permanent: !retryableCodes[*a.ErrCode],
		Err: fmt.Errorf("%s: WeCom refused the message: errcode %d: %s", n.prefix, *a.ErrCode, a.ErrMsg)}
}

// colours are WeCom markdown's three font colours: warning is orange-red, info green,
// comment grey.
var colours = map[string]string{"critical": "warning", "warning": "warning", "resolved": "info", "test": "comment", "info": "comment"}

var mdEscaper = strings.NewReplacer("*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "#", `\#`, "<", "&lt;", ">", "&gt;")

// Render builds the markdown content of e (at most 4096 bytes reach the group).
func Render(e notify.Event, publicURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## <font color=\"%s\">%s</font>\n", colours[notify.Tone(e)], mdEscaper.Replace(notify.Title(e)))
	b.WriteString(mdEscaper.Replace(notify.Text(e)) + "\n")
	for _, f := range notify.Fields(e) {
		b.WriteString("> " + f.Label + ": **" + mdEscaper.Replace(f.Value) + "**\n")
	}
	if line := notify.Context(e); line != "" {
		b.WriteString("<font color=\"comment\">" + mdEscaper.Replace(line) + "</font>\n")
	}
	if link := notify.DashboardURL(publicURL, e.App); link != "" {
		b.WriteString("[Open dashboard](" + link + ")\n")
	}
	return b.String()
}
