// Package wecom posts events to a WeCom (企业微信) group through a group robot webhook, as
// a markdown message.
package wecom

import (
	"context"
	"fmt"
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
	ep        notify.Endpoint
	publicURL string
}

var _ notify.Notifier = (*Notifier)(nil)

// New builds the notifier.
func New(c Config) *Notifier {
	return &Notifier{ep: notify.NewEndpoint("wecom "+c.Name, c.WebhookURL, c.Timeout, c.Clock), publicURL: c.PublicURL}
}

type message struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Content string `json:"content"`
	} `json:"markdown"`
}

// retryableCodes: 45009 (api freq out of limit: 20 messages a minute per robot) and -1
// (system busy). Others repeat: 93000 (invalid webhook URL), 40008 (invalid message type),
// 40058 (bad parameter), 93004 (robot disabled) ...
var retryableCodes = map[int]bool{45009: true, -1: true}

// Notify makes one delivery attempt. WeCom's errmsg ends with a "hint" and a help link,
// never with the key.
func (n *Notifier) Notify(ctx context.Context, e notify.Event) error {
	var m message
	m.MsgType = "markdown"
	m.Markdown.Content = Render(e, n.publicURL)
	resp, err := n.ep.Post(ctx, m, nil)
	if err != nil {
		return err
	}
	return n.ep.ErrCode(resp, "WeCom", retryableCodes)
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
