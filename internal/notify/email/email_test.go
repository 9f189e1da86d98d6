package email

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
)

const (
	user     = "alerts@example.com"
	password = "PASSWORDSECRET-7q"
)

var secrets = []string{password, "PASSWORDSECRET"}

func newTest(s *smtpServer, c Config) *Notifier {
	c.Name, c.Host, c.Port = "mail", "127.0.0.1", s.port()
	c.From = cmpOr(c.From, "Balance monitor <alerts@example.com>")
	if c.To == nil {
		c.To = []string{"ops@example.com", "finance@example.com"}
	}
	c.StartTLS = cmpOr(c.StartTLS, "required")
	if s.tls != nil {
		c.TLSConfig = s.clientTLS()
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	return New(c)
}

// message is a received email, read back with the standard library.
type message struct {
	From, To, Subject, ContentType string
	Parts                          map[string]string // media type → decoded body
}

func readMessage(t *testing.T, data string) message {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	got := message{From: m.Header.Get("From"), To: m.Header.Get("To"), Subject: subject, ContentType: mediaType, Parts: map[string]string{}}
	if !strings.HasPrefix(mediaType, "multipart/") {
		t.Fatalf("Content-Type %s, want multipart/alternative", mediaType)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(p) // quoted-printable is decoded by NextPart
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		got.Parts[pt] = strings.ReplaceAll(string(body), "\r\n", "\n")
	}
	return got
}

func TestSendsTextAndHTMLOverStartTLS(t *testing.T) {
	s := newSMTPServer(t, true, user, password)
	n := newTest(s, Config{Username: user, Password: password, PublicURL: "https://balance.example.com"})

	if err := n.Notify(context.Background(), notifytest.Escalation()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := s.got()
	if len(got) != 1 {
		t.Fatalf("server saw %d sessions, want 1", len(got))
	}
	sess := got[0]
	if !sess.TLS || sess.AuthUser != user || sess.AuthPass != password {
		t.Errorf("TLS %v, AUTH %q/%q; want STARTTLS, then AUTH PLAIN as %s with the password", sess.TLS, sess.AuthUser, sess.AuthPass, user)
	}
	if !strings.HasPrefix(sess.From, "FROM:<alerts@example.com>") {
		t.Errorf("MAIL %q, want FROM:<alerts@example.com>", sess.From)
	}
	if diff := cmp.Diff([]string{"TO:<ops@example.com>", "TO:<finance@example.com>"}, sess.To); diff != "" {
		t.Errorf("RCPT (-want +got):\n%s", diff)
	}
	want := message{
		From:        `"Balance monitor" <alerts@example.com>`,
		To:          "<ops@example.com>, <finance@example.com>",
		Subject:     "CRITICAL checkout: low balance (critical)",
		ContentType: "multipart/alternative",
		Parts: map[string]string{
			"text/plain": "CRITICAL checkout: low balance (critical)\n\n" +
				"checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD\n\n" +
				"Balance: 80.0000 USD\nGift balance: 0.0000 USD\nTotal balance: 80.0000 USD\nThreshold: 100.0000 USD\nFiring for: 2m\n\n" +
				"Escalated from low balance (warning) · Observed 2026-11-26T10:00:00Z\n\n" +
				"Open dashboard: https://balance.example.com/#app=checkout\n",
			"text/html": "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n" +
				"<h2 style=\"color: #c62828\">CRITICAL checkout: low balance (critical)</h2>\n" +
				"<p>checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD</p>\n<table>\n" +
				"<tr><th align=\"left\">Balance</th><td>80.0000 USD</td></tr>\n" +
				"<tr><th align=\"left\">Gift balance</th><td>0.0000 USD</td></tr>\n" +
				"<tr><th align=\"left\">Total balance</th><td>80.0000 USD</td></tr>\n" +
				"<tr><th align=\"left\">Threshold</th><td>100.0000 USD</td></tr>\n" +
				"<tr><th align=\"left\">Firing for</th><td>2m</td></tr>\n</table>\n" +
				"<p style=\"color: #666666\">Escalated from low balance (warning) · Observed 2026-11-26T10:00:00Z</p>\n" +
				"<p><a href=\"https://balance.example.com/#app=checkout\">Open dashboard</a></p>\n</body></html>\n",
		},
	}
	if diff := cmp.Diff(want, readMessage(t, sess.Data)); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	if strings.Contains(sess.Data, password) {
		t.Error("the message carries the password")
	}
}

func TestHTMLIsEscaped(t *testing.T) {
	e := notifytest.Topup()
	e.Message = `<script>alert("x")</script>`
	text, body := Render(e, "")
	if !strings.Contains(body, "<p>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</p>") || !strings.Contains(text, `<script>alert("x")</script>`) {
		t.Errorf("HTML %q must escape the message, text %q keep it", body, text)
	}
}

func TestOpportunisticWithoutTLSAndWithoutAuth(t *testing.T) {
	s := newSMTPServer(t, false, "", "")
	n := newTest(s, Config{StartTLS: "opportunistic", To: []string{"ops@example.com"}})
	if err := n.Notify(context.Background(), notify.TestEvent("mail", notifytest.ObservedAt)); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := s.got()
	if len(got) != 1 || got[0].TLS || got[0].AuthUser != "" {
		t.Fatalf("sessions = %+v, want one plain session without AUTH", got)
	}
	if m := readMessage(t, got[0].Data); m.Subject != "Test message" || !strings.Contains(m.Parts["text/plain"], "notifier mail works") {
		t.Errorf("message = %+v, want the test message", m)
	}
}

// SMTP's own answers: 4xx retryable, 5xx permanent, and never the password in an error.
func TestSMTPRefusals(t *testing.T) {
	tests := []struct {
		name    string
		replies map[string]string
		want    notifytest.Classification
		says    string
	}{
		{"unknown recipient is permanent", map[string]string{"RCPT": "550 5.1.1 mailbox unavailable"},
			notifytest.Classification{Permanent: true}, `550 "5.1.1 mailbox unavailable"`},
		{"greylisting is retryable", map[string]string{"RCPT": "451 4.7.1 greylisted, try again later"},
			notifytest.Classification{}, `451 "4.7.1 greylisted, try again later"`},
		{"a full queue at MAIL is retryable", map[string]string{"MAIL": "452 4.3.1 insufficient system storage"},
			notifytest.Classification{}, `452 "4.3.1 insufficient system storage"`},
		{"a message rejected after DATA is permanent", map[string]string{"DATA": "554 5.7.1 message rejected as spam"},
			notifytest.Classification{Permanent: true}, `554 "5.7.1 message rejected as spam"`},
		{"a wrong password is permanent", map[string]string{"AUTH": "535 5.7.8 authentication credentials invalid"},
			notifytest.Classification{Permanent: true}, `535 "5.7.8 authentication credentials invalid"`},
		{"a temporary auth failure is retryable", map[string]string{"AUTH": "454 4.7.0 temporary authentication failure"},
			notifytest.Classification{}, `454 "4.7.0 temporary authentication failure"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSMTPServer(t, true, user, password)
			s.replies = tt.replies
			err := newTest(s, Config{Username: user, Password: password}).Notify(context.Background(), notifytest.Escalation())
			got := notifytest.Classify(t, err)
			if !strings.HasPrefix(got.Message, "email mail: 127.0.0.1:") || !strings.Contains(got.Message, tt.says) {
				t.Errorf("error %q does not name the server and say %q", got.Message, tt.says)
			}
			got.Message = ""
			if got != tt.want {
				t.Errorf("classification = %+v, want %+v", got, tt.want)
			}
			notifytest.AssertNotifyLeaksNoSecret(t, err, secrets...)
		})
	}
}

func TestStartTLSRequiredButNotOffered(t *testing.T) {
	s := newSMTPServer(t, false, user, password)
	err := newTest(s, Config{Username: user, Password: password}).Notify(context.Background(), notifytest.Escalation())
	got := notifytest.Classify(t, err)
	if got.Permanent || !strings.Contains(got.Message, "does not support STARTTLS") {
		t.Errorf("classification = %+v, want a retryable refusal to go on without STARTTLS", got)
	}
	var sess []session
	for deadline := time.Now().Add(2 * time.Second); len(sess) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		sess = s.got() // recorded when the client hangs up
	}
	if len(sess) != 1 || sess[0].AuthPass != "" || sess[0].Data != "" {
		t.Errorf("sessions = %+v: the password or the message went out in clear", sess)
	}
	notifytest.AssertNotifyLeaksNoSecret(t, err, secrets...)
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	n := New(Config{Name: "mail", Host: "127.0.0.1", Port: port, Username: user, Password: password,
		From: user, To: []string{"ops@example.com"}, StartTLS: "required", Timeout: time.Second})
	err = n.Notify(context.Background(), notifytest.Escalation())
	got := notifytest.Classify(t, err)
	if got.Permanent || !strings.Contains(got.Message, "connection refused") {
		t.Errorf("classification = %+v, want a retryable refused connection", got)
	}
	notifytest.AssertNotifyLeaksNoSecret(t, err, secrets...)
}

// A server that accepts and never greets: the attempt ends at the timeout, retryable.
func TestSilentServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	n := New(Config{Name: "mail", Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Username: user, Password: password,
		From: user, To: []string{"ops@example.com"}, StartTLS: "required", Timeout: 200 * time.Millisecond})
	start := time.Now()
	err = n.Notify(context.Background(), notifytest.Escalation())
	got := notifytest.Classify(t, err)
	if got.Permanent || time.Since(start) > 5*time.Second {
		t.Errorf("classification = %+v after %s, want retryable soon after the 200ms timeout", got, time.Since(start))
	}
	notifytest.AssertNotifyLeaksNoSecret(t, err, secrets...)
}
