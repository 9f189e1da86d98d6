// Package telegram sends events with the Telegram Bot API's sendMessage, formatted as HTML.
package telegram

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// Config configures one chat. It is trusted: internal/config has validated it.
type Config struct {
	Name      string
	BotToken  string // from BotFather: "123456789:AA..."
	ChatID    string // numeric id ("-1001234567890") or "@channelname"
	APIURL    string // default https://api.telegram.org
	PublicURL string // dashboard base, for a link under the message
	Timeout   time.Duration
	Clock     func() time.Time
}

// Notifier posts one message per event to one chat.
type Notifier struct {
	ep        notify.Endpoint // URL: {api}/bot{token}/sendMessage, never shown
	token     string
	chatID    string
	publicURL string
}

var _ notify.Notifier = (*Notifier)(nil)

// New builds the notifier.
func New(c Config) *Notifier {
	api := strings.TrimRight(cmp.Or(c.APIURL, "https://api.telegram.org"), "/")
	return &Notifier{ep: notify.NewEndpoint("telegram "+c.Name, api+"/bot"+c.BotToken+"/sendMessage", c.Timeout, c.Clock),
		token: c.BotToken, chatID: c.ChatID, publicURL: c.PublicURL}
}

// message is sendMessage's body.
type message struct {
	ChatID                string `json:"chat_id"`
	Text                  string `json:"text"`
	ParseMode             string `json:"parse_mode"`
	DisableWebPagePreview bool   `json:"disable_web_page_preview"`
}

// answer is the Bot API's reply envelope.
type answer struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// Notify makes one delivery attempt.
func (n *Notifier) Notify(ctx context.Context, e notify.Event) error {
	resp, err := n.ep.Post(ctx, message{ChatID: n.chatID, Text: Render(e, n.publicURL), ParseMode: "HTML", DisableWebPagePreview: true}, nil)
	if err != nil {
		return err
	}
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil || (!a.OK && a.ErrorCode == 0 && a.Description == "") {
		// Not a Bot API answer (a proxy's error page, an empty body): the status decides.
		if resp.OK() {
			return nil
		}
		return n.ep.Refused(resp)
	}
	if a.OK {
		return nil
	}
	return n.classify(resp, a)
}

// classify reads a refusal: 429 (flood control) waits parameters.retry_after; 5xx is
// Telegram's trouble; 400 (chat not found, bad HTML, a group upgraded to a supergroup),
// 401 (token revoked) and 403 (bot blocked or kicked) repeat on every attempt.
func (n *Notifier) classify(resp *notify.Response, a answer) *notify.Error {
	code := cmp.Or(a.ErrorCode, resp.Status)
	// Telegram does not echo the token, but nothing promises it never will.
	desc := strings.ReplaceAll(a.Description, n.token, "***")
	msg := fmt.Sprintf("%s: Telegram refused the message: %s (HTTP %d)", n.ep.Prefix, desc, code)
	if id := a.Parameters.MigrateToChatID; id != 0 {
		msg += fmt.Sprintf("; the group is now the supergroup %d: set chat_id to it", id)
	}
	e := &notify.Error{Status: resp.Status, Permanent: !notify.RetryableStatus(code), Err: errors.New(msg)}
	if !e.Permanent {
		e.RetryAfter = time.Duration(a.Parameters.RetryAfter) * time.Second
		if e.RetryAfter == 0 {
			e.RetryAfter = notify.ParseRetryAfter(resp.Header.Get("Retry-After"), n.ep.Clock())
		}
	}
	return e
}

// Render is the HTML text of e: a bold title, the message, the amounts, what changed, and a
// dashboard link. Only <b>, <i> and <a> are used; everything else is escaped.
func Render(e notify.Event, publicURL string) string {
	var b strings.Builder
	b.WriteString("<b>" + html.EscapeString(icons[notify.Tone(e)]+" "+notify.Title(e)) + "</b>\n")
	b.WriteString(html.EscapeString(notify.Text(e)))
	if fields := notify.Fields(e); len(fields) > 0 {
		b.WriteString("\n")
		for _, f := range fields {
			b.WriteString("\n" + html.EscapeString(f.Label) + ": <b>" + html.EscapeString(f.Value) + "</b>")
		}
	}
	if line := notify.Context(e); line != "" {
		b.WriteString("\n\n<i>" + html.EscapeString(line) + "</i>")
	}
	if link := notify.DashboardURL(publicURL, e.App); link != "" {
		b.WriteString("\n<a href=\"" + html.EscapeString(link) + "\">Open dashboard</a>")
	}
	return b.String()
}

var icons = map[string]string{"critical": "🚨", "warning": "⚠️", "resolved": "✅", "test": "🧪", "info": "ℹ️"}
