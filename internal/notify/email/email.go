// Package email sends each event as one email over SMTP (STARTTLS by default), with a
// plain-text and an HTML part, through github.com/wneessen/go-mail.
package email

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// Config configures one mailing. It is trusted: internal/config has validated it.
type Config struct {
	Name      string
	Host      string
	Port      int
	Username  string // empty: no SMTP AUTH
	Password  string
	From      string
	To        []string
	StartTLS  string // "required" (default), "opportunistic" or "off"
	PublicURL string
	Timeout   time.Duration // default 15s, the whole conversation
	TLSConfig *tls.Config   // nil: the system's roots, verifying Host; tests trust their own server
}

// Notifier sends one message per event.
type Notifier struct {
	prefix  string
	c       Config
	secrets []string // what no error may show: the password and its AUTH PLAIN encodings
}

var _ notify.Notifier = (*Notifier)(nil)

// New builds the notifier.
func New(c Config) *Notifier {
	n := &Notifier{prefix: "email " + c.Name, c: c}
	if c.Password != "" {
		n.secrets = []string{c.Password,
			base64.StdEncoding.EncodeToString([]byte("\x00" + c.Username + "\x00" + c.Password)),
			base64.StdEncoding.EncodeToString([]byte(c.Password))}
	}
	return n
}

// Notify makes one delivery attempt: one SMTP conversation.
func (n *Notifier) Notify(ctx context.Context, e notify.Event) error {
	msg, err := n.message(e)
	if err != nil {
		return &notify.Error{Permanent: true, Err: fmt.Errorf("%s: %s", n.prefix, n.redact(err.Error()))}
	}
	timeout := n.c.Timeout
	if timeout <= 0 {
		timeout = notify.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	policy := mail.TLSMandatory
	switch n.c.StartTLS {
	case "opportunistic":
		policy = mail.TLSOpportunistic
	case "off":
		policy = mail.NoTLS
	}
	opts := []mail.Option{mail.WithPort(n.c.Port), mail.WithTLSPolicy(policy), mail.WithTimeout(timeout)}
	if n.c.TLSConfig != nil {
		opts = append(opts, mail.WithTLSConfig(n.c.TLSConfig))
	}
	if n.c.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(n.c.Username), mail.WithPassword(n.c.Password))
	}
	// go-mail leaves the connection open when the conversation fails before sending (no
	// STARTTLS, a refused AUTH): every connection it dials is closed here, whatever happened.
	var conns []net.Conn
	var mu sync.Mutex
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	dialer := &net.Dialer{}
	opts = append(opts, mail.WithDialContextFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if c != nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	}))
	client, err := mail.NewClient(n.c.Host, opts...)
	if err != nil {
		return &notify.Error{Permanent: true, Err: fmt.Errorf("%s: %s", n.prefix, n.redact(err.Error()))}
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return n.classify(err)
	}
	return nil
}

// classify reads an SMTP reply code where go-mail exposes one: 4xx is a temporary refusal
// (greylisting, a full mailbox, a rate limit), 5xx a permanent one (unknown recipient,
// authentication failed, relaying denied). An address the message cannot even be built for
// is permanent; a network or TLS failure has no code and is retryable.
func (n *Notifier) classify(err error) *notify.Error {
	code, permanent := 0, false
	var se *mail.SendError
	var te *textproto.Error
	switch {
	case errors.As(err, &se) && se.ErrorCode() != 0:
		code = se.ErrorCode()
	case errors.As(err, &te):
		code = te.Code
	case se != nil:
		permanent = se.Reason == mail.ErrGetSender || se.Reason == mail.ErrGetRcpts || se.Reason == mail.ErrNoUnencoded
	}
	if code >= 500 {
		permanent = true
	}
	msg := n.redact(err.Error())
	if code != 0 && !strings.Contains(msg, fmt.Sprint(code)) {
		msg = fmt.Sprintf("SMTP %d: %s", code, msg)
	}
	return &notify.Error{Permanent: permanent, Err: fmt.Errorf("%s: %s:%d: %s", n.prefix, n.c.Host, n.c.Port, msg)}
}

func (n *Notifier) redact(s string) string {
	for _, secret := range n.secrets {
		s = strings.ReplaceAll(s, secret, "***")
	}
	return s
}

func (n *Notifier) message(e notify.Event) (*mail.Msg, error) {
	m := mail.NewMsg()
	if err := m.From(n.c.From); err != nil {
		return nil, err
	}
	if err := m.To(n.c.To...); err != nil {
		return nil, err
	}
	m.Subject(notify.Title(e))
	m.SetDate()
	m.SetMessageID()
	m.SetGenHeader(mail.HeaderXMailer, "engagelab-monitor")
	text, body := Render(e, n.c.PublicURL)
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, body)
	return m, nil
}

// Render returns the plain-text and HTML bodies of e.
func Render(e notify.Event, publicURL string) (text, htmlBody string) {
	var t, h strings.Builder
	t.WriteString(notify.Title(e) + "\n\n" + notify.Text(e) + "\n")
	fmt.Fprintf(&h, "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n<h2 style=\"color: %s\">%s</h2>\n<p>%s</p>\n",
		colours[notify.Tone(e)], html.EscapeString(notify.Title(e)), html.EscapeString(notify.Text(e)))
	if fs := notify.Fields(e); len(fs) > 0 {
		t.WriteString("\n")
		h.WriteString("<table>\n")
		for _, f := range fs {
			fmt.Fprintf(&t, "%s: %s\n", f.Label, f.Value)
			fmt.Fprintf(&h, "<tr><th align=\"left\">%s</th><td>%s</td></tr>\n", html.EscapeString(f.Label), html.EscapeString(f.Value))
		}
		h.WriteString("</table>\n")
	}
	if line := notify.Context(e); line != "" {
		t.WriteString("\n" + line + "\n")
		fmt.Fprintf(&h, "<p style=\"color: #666666\">%s</p>\n", html.EscapeString(line))
	}
	if link := notify.DashboardURL(publicURL, e.App); link != "" {
		t.WriteString("\nOpen dashboard: " + link + "\n")
		fmt.Fprintf(&h, "<p><a href=\"%s\">Open dashboard</a></p>\n", html.EscapeString(link))
	}
	h.WriteString("</body></html>\n")
	return t.String(), h.String()
}

var colours = map[string]string{"critical": "#c62828", "warning": "#ef6c00", "resolved": "#2e7d32", "test": "#1565c0", "info": "#1565c0"}
