package email

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// smtpServer is a small SMTP server on 127.0.0.1 speaking EHLO, STARTTLS, AUTH PLAIN, MAIL,
// RCPT, DATA, RSET, NOOP and QUIT, enough for a real conversation with go-mail. Replies to
// MAIL, RCPT, DATA and AUTH can be set to test refusals.
type smtpServer struct {
	t        *testing.T
	ln       net.Listener
	tls      *tls.Config // nil: no STARTTLS offered
	user     string      // AUTH PLAIN accepted for user and pass; "" offers no AUTH
	pass     string
	replies  map[string]string // "MAIL", "RCPT", "DATA" (after the dot), "AUTH": a reply such as "451 4.7.1 try later"
	mu       sync.Mutex
	sessions []session
	open     atomic.Int32 // conversations not yet recorded
	wg       sync.WaitGroup
}

// session is what one connection did.
type session struct {
	TLS      bool // STARTTLS completed
	AuthUser string
	AuthPass string
	From     string
	To       []string
	Data     string
}

func newSMTPServer(t *testing.T, withTLS bool, user, pass string) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{t: t, ln: ln, user: user, pass: pass, replies: map[string]string{}}
	if withTLS {
		s.tls = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *smtpServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// clientTLS trusts the server's certificate for 127.0.0.1.
func (s *smtpServer) clientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.tls.Certificates[0].Leaf)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// got returns the finished sessions, after waiting for those still open: the client may
// return (after QUIT's 221) before the server has recorded the conversation.
func (s *smtpServer) got() []session {
	deadline := time.Now().Add(5 * time.Second)
	for s.open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]session(nil), s.sessions...)
}

func (s *smtpServer) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		s.open.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.open.Add(-1)
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			s.converse(conn)
		}()
	}
}

func (s *smtpServer) converse(conn net.Conn) {
	var sess session
	defer func() {
		s.mu.Lock()
		s.sessions = append(s.sessions, sess)
		s.mu.Unlock()
	}()
	tp := textproto.NewConn(conn)
	reply := func(lines ...string) bool {
		for _, l := range lines {
			if err := tp.PrintfLine("%s", l); err != nil {
				return false
			}
		}
		return true
	}
	reply("220 127.0.0.1 ESMTP test server")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			lines := []string{"250-127.0.0.1 greets you"}
			if s.tls != nil && !sess.TLS {
				lines = append(lines, "250-STARTTLS")
			}
			if s.user != "" {
				lines = append(lines, "250-AUTH PLAIN")
			}
			reply(append(lines, "250 8BITMIME")...)
		case "STARTTLS":
			if s.tls == nil {
				reply("502 5.5.1 no STARTTLS here")
				continue
			}
			reply("220 2.0.0 ready to start TLS")
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn = tc
			tp = textproto.NewConn(tc)
			sess.TLS = true
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				reply("504 5.5.4 unrecognized authentication type")
				continue
			}
			if initial == "" {
				reply("334 ")
				if initial, err = tp.ReadLine(); err != nil {
					return
				}
			}
			raw, err := base64.StdEncoding.DecodeString(initial)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 {
				reply("501 5.5.2 cannot decode the response")
				continue
			}
			sess.AuthUser, sess.AuthPass = parts[1], parts[2]
			if r := s.replies["AUTH"]; r != "" {
				reply(r)
			} else if parts[1] == s.user && parts[2] == s.pass {
				reply("235 2.7.0 authentication successful")
			} else {
				reply("535 5.7.8 authentication credentials invalid")
			}
		case "MAIL":
			sess.From = arg
			reply(cmpOr(s.replies["MAIL"], "250 2.1.0 ok"))
		case "RCPT":
			sess.To = append(sess.To, arg)
			reply(cmpOr(s.replies["RCPT"], "250 2.1.5 ok"))
		case "DATA":
			reply("354 end data with <CR><LF>.<CR><LF>")
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			sess.Data = string(data)
			reply(cmpOr(s.replies["DATA"], "250 2.0.0 queued as 1"))
		case "RSET", "NOOP":
			reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("500 5.5.2 unknown command")
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// selfSigned makes a certificate for 127.0.0.1, valid for an hour.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test smtp"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
