package engagelab_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab"
)

const (
	testKey    = "key-checkout"
	testSecret = "s3cret-Checkout-#42"
)

// answer is one scripted reply of a test server.
type answer struct {
	status int
	body   string
}

// serve starts a server that checks each request is what EngageLab expects and
// replies with answers in turn (the last one repeats). It returns the server
// and a count of requests received.
func serve(t *testing.T, answers ...answer) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if r.Method != http.MethodGet || r.URL.Path != "/v1/balance" {
			t.Errorf("request = %s %s, want GET /v1/balance", r.Method, r.URL.Path)
		}
		wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(testKey+":"+testSecret))
		if got := r.Header.Get("Authorization"); got != wantAuth {
			t.Errorf("Authorization = %q, want %q", got, wantAuth)
		}
		a := answers[min(i, len(answers)-1)]
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func ctxWithTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestBalanceSuccess(t *testing.T) {
	tests := []struct {
		name                       string
		body                       string
		currency, bal, gift, total string
	}{
		{
			name:     "positive",
			body:     `{"currency":"USD","balance":"123.4500","gift_balance":"1.0000","total_balance":"124.4500"}`,
			currency: "USD", bal: "123.4500", gift: "1.0000", total: "124.4500",
		},
		{
			name:     "zero",
			body:     `{"currency":"USD","balance":"0.0000","gift_balance":"0.0000","total_balance":"0.0000"}`,
			currency: "USD", bal: "0.0000", gift: "0.0000", total: "0.0000",
		},
		{
			name:     "negative overdraft",
			body:     `{"currency":"USD","balance":"-12.3400","gift_balance":"0.0000","total_balance":"-12.3400"}`,
			currency: "USD", bal: "-12.3400", gift: "0.0000", total: "-12.3400",
		},
		{
			name:     "JSON numbers instead of strings",
			body:     `{"currency":"USD","balance":99999999.9999,"gift_balance":0,"total_balance":99999999.9999}`,
			currency: "USD", bal: "99999999.9999", gift: "0.0000", total: "99999999.9999",
		},
		{
			name:     "unknown fields ignored",
			body:     `{"currency":"USD","balance":"1.5","gift_balance":"2","total_balance":"3.5","region":"eu"}`,
			currency: "USD", bal: "1.5000", gift: "2.0000", total: "3.5000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, n := serve(t, answer{200, tt.body})
			b, err := engagelab.New(srv.URL).Balance(ctxWithTimeout(t, 5*time.Second), balance.ProductOTP, testKey, testSecret)
			if err != nil {
				t.Fatalf("Balance: %v", err)
			}
			got := fmt.Sprintf("%s %s %s %s", b.Currency, b.Balance.StringFixed(4), b.GiftBalance.StringFixed(4), b.TotalBalance.StringFixed(4))
			want := fmt.Sprintf("%s %s %s %s", tt.currency, tt.bal, tt.gift, tt.total)
			if got != want {
				t.Errorf("Balance = %s, want %s", got, want)
			}
			if !b.Consistent() {
				t.Errorf("Consistent() = false, want true")
			}
			if n.Load() != 1 {
				t.Errorf("requests = %d, want 1", n.Load())
			}
		})
	}
}

const nginx502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"

func TestBalanceErrors(t *testing.T) {
	valid := func(field, value string) string {
		fields := map[string]string{"currency": `"USD"`, "balance": `"1.0000"`, "gift_balance": `"0.0000"`, "total_balance": `"1.0000"`}
		fields[field] = value
		return fmt.Sprintf(`{"currency":%s,"balance":%s,"gift_balance":%s,"total_balance":%s}`,
			fields["currency"], fields["balance"], fields["gift_balance"], fields["total_balance"])
	}
	tests := []struct {
		name         string
		answer       answer
		kind         balance.FailureKind
		code         int
		message      string
		err          string
		transient    bool
		wantRequests int32
	}{
		{
			name:   "500 code 1000",
			answer: answer{500, `{"code":1000,"message":"internal error"}`},
			kind:   balance.ServerError, code: 1000, message: "internal error", transient: true, wantRequests: 2,
			err: "engagelab: server error (HTTP 500, code 1000: internal error)",
		},
		{
			name:   "401 code 2001",
			answer: answer{401, `{"code":2001,"message":"invalid token"}`},
			kind:   balance.AuthFailed, code: 2001, message: "invalid token", wantRequests: 1,
			err: "engagelab: authentication failed (HTTP 401, code 2001: invalid token)",
		},
		{
			name:   "401 code 2002",
			answer: answer{401, `{"code":2002,"message":"token expired or disabled"}`},
			kind:   balance.AuthFailed, code: 2002, message: "token expired or disabled", wantRequests: 1,
			err: "engagelab: authentication failed (HTTP 401, code 2002: token expired or disabled)",
		},
		{
			name:   "403 code 2002",
			answer: answer{403, `{"code":2002,"message":"application unavailable"}`},
			kind:   balance.AppUnavailable, code: 2002, message: "application unavailable", wantRequests: 1,
			err: "engagelab: application unavailable (HTTP 403, code 2002: application unavailable)",
		},
		{
			name:   "multi-line upstream message becomes one line",
			answer: answer{401, `{"code":2001,"message":"invalid\n\ttoken\u0007"}`},
			kind:   balance.AuthFailed, code: 2001, message: "invalid token", wantRequests: 1,
			err: "engagelab: authentication failed (HTTP 401, code 2001: invalid token)",
		},
		{
			name:   "404 plain text",
			answer: answer{404, "404 page not found\n"},
			kind:   balance.UnexpectedStatus, message: `HTTP 404 with a non-JSON body ("404 page not found")`, wantRequests: 1,
			err: `engagelab: HTTP 404 with a non-JSON body ("404 page not found")`,
		},
		{
			name:   "429 empty body",
			answer: answer{429, ""},
			kind:   balance.UnexpectedStatus, message: "HTTP 429 with an empty body", transient: true, wantRequests: 2,
			err: "engagelab: HTTP 429 with an empty body",
		},
		{
			name:   "400 JSON without code",
			answer: answer{400, `{"error":"bad request"}`},
			kind:   balance.UnexpectedStatus, message: `HTTP 400 with an unexpected JSON body ("{\"error\":\"bad request\"}")`, wantRequests: 1,
			err: `engagelab: HTTP 400 with an unexpected JSON body ("{\"error\":\"bad request\"}")`,
		},
		{
			name:   "302 is not followed",
			answer: answer{302, ""},
			kind:   balance.UnexpectedStatus, message: "HTTP 302 with an empty body", wantRequests: 1,
			err: "engagelab: HTTP 302 with an empty body",
		},
		{
			name:   "502 HTML page",
			answer: answer{502, nginx502},
			kind:   balance.ServerError, transient: true, wantRequests: 2,
			message: `HTTP 502 with a non-JSON body ("<html> <head><title>502 Bad Gateway</tit...")`,
			err:     `engagelab: HTTP 502 with a non-JSON body ("<html> <head><title>502 Bad Gateway</tit...")`,
		},
		{
			name:   "200 HTML page",
			answer: answer{200, "<!DOCTYPE html><html><body>Please log in to the Wi-Fi</body></html>"},
			kind:   balance.InvalidResponse, wantRequests: 1,
			message: `HTTP 200 with a non-JSON body ("<!DOCTYPE html><html><body>Please log in...")`,
			err:     `engagelab: HTTP 200 with a non-JSON body ("<!DOCTYPE html><html><body>Please log in...")`,
		},
		{
			name:   "200 empty object",
			answer: answer{200, `{}`},
			kind:   balance.InvalidResponse, wantRequests: 1,
			message: `HTTP 200 with an invalid balance: "currency" missing, "balance" missing, "gift_balance" missing, "total_balance" missing`,
			err:     `engagelab: HTTP 200 with an invalid balance: "currency" missing, "balance" missing, "gift_balance" missing, "total_balance" missing`,
		},
		{
			name:   "200 balance not a decimal",
			answer: answer{200, valid("balance", `"abc"`)},
			kind:   balance.InvalidResponse, wantRequests: 1,
			message: `HTTP 200 with an invalid balance: "balance" is not a decimal ("abc")`,
			err:     `engagelab: HTTP 200 with an invalid balance: "balance" is not a decimal ("abc")`,
		},
		{
			name:   "200 amount null",
			answer: answer{200, valid("gift_balance", `null`)},
			kind:   balance.InvalidResponse, wantRequests: 1,
			message: `HTTP 200 with an invalid balance: "gift_balance" missing`,
			err:     `engagelab: HTTP 200 with an invalid balance: "gift_balance" missing`,
		},
		{
			name:   "200 amount with exponent",
			answer: answer{200, valid("total_balance", `"1e999999999"`)},
			kind:   balance.InvalidResponse, wantRequests: 1,
			message: `HTTP 200 with an invalid balance: "total_balance" is not a decimal ("1e999999999")`,
			err:     `engagelab: HTTP 200 with an invalid balance: "total_balance" is not a decimal ("1e999999999")`,
		},
		{
			name:   "200 amount with 5 decimal places",
			answer: answer{200, valid("balance", `"1.00001"`)},
			kind:   balance.InvalidResponse, wantRequests: 1,
			message: `HTTP 200 with an invalid balance: "balance" has more than 4 decimal places ("1.00001")`,
			err:     `engagelab: HTTP 200 with an invalid balance: "balance" has more than 4 decimal places ("1.00001")`,
		},
		{
			name:   "200 amount too large for NUMERIC(20,4)",
			answer: answer{200, valid("balance", `"10000000000000000"`)},
			kind:   balance.InvalidResponse, wantRequests: 1,
			message: `HTTP 200 with an invalid balance: "balance" is out of range ("10000000000000000")`,
			err:     `engagelab: HTTP 200 with an invalid balance: "balance" is out of range ("10000000000000000")`,
		},
		{
			name:   "200 empty currency",
			answer: answer{200, valid("currency", `""`)},
			kind:   balance.InvalidResponse, wantRequests: 1,
			message: `HTTP 200 with an invalid balance: "currency" is empty`,
			err:     `engagelab: HTTP 200 with an invalid balance: "currency" is empty`,
		},
		{
			name:   "200 body over the limit",
			answer: answer{200, `{"currency":"USD","padding":"` + strings.Repeat("x", 70_000) + `"}`},
			kind:   balance.InvalidResponse, wantRequests: 1,
			message: "HTTP 200 with a body larger than 64 KiB",
			err:     "engagelab: HTTP 200 with a body larger than 64 KiB",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, n := serve(t, tt.answer)
			_, err := engagelab.New(srv.URL).Balance(ctxWithTimeout(t, 5*time.Second), balance.ProductOTP, testKey, testSecret)
			var e *engagelab.Error
			if !errors.As(err, &e) {
				t.Fatalf("Balance error = %v (%T), want *engagelab.Error", err, err)
			}
			if got := err.Error(); got != tt.err {
				t.Errorf("Error() =\n%s\nwant\n%s", got, tt.err)
			}
			got := fmt.Sprintf("kind=%s status=%d code=%d message=%q transient=%t",
				e.Kind, e.HTTPStatus, e.Code, e.Message, e.Transient())
			want := fmt.Sprintf("kind=%s status=%d code=%d message=%q transient=%t",
				tt.kind, tt.answer.status, tt.code, tt.message, tt.transient)
			if got != want {
				t.Errorf("error fields:\n got %s\nwant %s", got, want)
			}
			if n.Load() != tt.wantRequests {
				t.Errorf("requests = %d, want %d", n.Load(), tt.wantRequests)
			}
		})
	}
}

func TestBalanceTimeout(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		select { // outlive the client's deadline, but let srv.Close end the handler
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()

	const deadline = 300 * time.Millisecond
	start := time.Now()
	_, err := engagelab.New(srv.URL).Balance(ctxWithTimeout(t, deadline), balance.ProductOTP, testKey, testSecret)
	took := time.Since(start)

	want := fmt.Sprintf(`engagelab: request timed out: Get "%s/v1/balance": context deadline exceeded`, srv.URL)
	if err == nil || err.Error() != want {
		t.Fatalf("Balance error = %v, want %s", err, want)
	}
	var e *engagelab.Error
	if !errors.As(err, &e) || e.Kind != balance.Timeout || !e.Transient() || e.HTTPStatus != 0 {
		t.Errorf("error = %#v, want a transient timeout without status", e)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, context.DeadlineExceeded) = false")
	}
	// The server holds the request for 10s: a client that ignored the deadline would take that
	// long. The slack is for a loaded CI machine, not for the client.
	if took > deadline+2*time.Second {
		t.Errorf("Balance took %v, want at most the deadline %v plus a little", took, deadline)
	}
	if n.Load() != 1 {
		t.Errorf("requests = %d, want 1 (no time left to retry)", n.Load())
	}
}

func TestBalanceConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	_, err = engagelab.New("http://"+addr).Balance(ctxWithTimeout(t, 5*time.Second), balance.ProductOTP, testKey, testSecret)
	want := fmt.Sprintf(`engagelab: request failed: Get "http://%s/v1/balance": dial tcp %s: connect: connection refused`, addr, addr)
	if err == nil || err.Error() != want {
		t.Fatalf("Balance error = %v, want %s", err, want)
	}
	var e *engagelab.Error
	if !errors.As(err, &e) || e.Kind != balance.Network || !e.Transient() {
		t.Errorf("error = %#v, want a transient network error", e)
	}
}

func TestBalanceRetry(t *testing.T) {
	const (
		ok    = `{"currency":"USD","balance":"5.0000","gift_balance":"0.0000","total_balance":"5.0000"}`
		e1000 = `{"code":1000,"message":"internal error"}`
		e2001 = `{"code":2001,"message":"invalid token"}`
	)
	tests := []struct {
		name         string
		answers      []answer
		deadline     time.Duration
		wantErr      string
		wantRequests int32
	}{
		{name: "500 then 200 succeeds", answers: []answer{{500, e1000}, {200, ok}}, deadline: 5 * time.Second, wantRequests: 2},
		{name: "500 twice fails after one retry", answers: []answer{{500, e1000}, {500, e1000}, {200, ok}}, deadline: 5 * time.Second, wantRequests: 2,
			wantErr: "engagelab: server error (HTTP 500, code 1000: internal error)"},
		{name: "401 is never retried", answers: []answer{{401, e2001}, {200, ok}}, deadline: 5 * time.Second, wantRequests: 1,
			wantErr: "engagelab: authentication failed (HTTP 401, code 2001: invalid token)"},
		{name: "no retry without time for it", answers: []answer{{500, e1000}, {200, ok}}, deadline: 150 * time.Millisecond, wantRequests: 1,
			wantErr: "engagelab: server error (HTTP 500, code 1000: internal error)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, n := serve(t, tt.answers...)
			b, err := engagelab.New(srv.URL).Balance(ctxWithTimeout(t, tt.deadline), balance.ProductOTP, testKey, testSecret)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Balance error = %v, want success", err)
			case tt.wantErr == "" && b.TotalBalance.StringFixed(4) != "5.0000":
				t.Errorf("total = %s, want 5.0000", b.TotalBalance.StringFixed(4))
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("Balance error = %v, want %s", err, tt.wantErr)
			}
			if n.Load() != tt.wantRequests {
				t.Errorf("requests = %d, want %d", n.Load(), tt.wantRequests)
			}
		})
	}
}

func TestBalanceInconsistentTotal(t *testing.T) {
	srv, _ := serve(t, answer{200, `{"currency":"USD","balance":"10.0000","gift_balance":"1.0000","total_balance":"12.0000"}`})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))

	b, err := engagelab.New(srv.URL, engagelab.WithLogger(logger)).Balance(ctxWithTimeout(t, 5*time.Second), balance.ProductOTP, testKey, testSecret)
	if err != nil {
		t.Fatalf("Balance: %v", err)
	}
	if got := b.TotalBalance.StringFixed(4); got != "12.0000" {
		t.Errorf("total = %s, want 12.0000 as sent", got)
	}
	if b.Consistent() {
		t.Errorf("Consistent() = true, want false")
	}
	// The poller, which knows the app, flags it in the log (internal/monitor tests that).
	if logs.String() != "" {
		t.Errorf("the client logged %q; reporting is the caller's", logs.String())
	}
}

// TestErrorsNeverContainSecret forces every error kind against a server that
// echoes the credentials back, and checks neither the secret nor the
// Authorization header survives into the error.
func TestErrorsNeverContainSecret(t *testing.T) {
	echo := func(status int, format string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, secret, _ := r.BasicAuth()
			w.WriteHeader(status)
			fmt.Fprintf(w, format, secret, r.Header.Get("Authorization"))
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		kind    balance.FailureKind
	}{
		{"auth_failed", echo(401, `{"code":2001,"message":"bad secret %s in %s"}`), balance.AuthFailed},
		{"app_unavailable", echo(403, `{"code":2002,"message":"%s %s"}`), balance.AppUnavailable},
		{"server_error", echo(500, `<pre>%s %s</pre>`), balance.ServerError},
		{"unexpected_status", echo(418, `%s%s`), balance.UnexpectedStatus},
		{"invalid_response", echo(200, `{"currency":"%s","balance":"%s"}`), balance.InvalidResponse},
		{"timeout", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, balance.Timeout},
		{"network", func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, balance.Network},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			_, err := engagelab.New(srv.URL).Balance(ctxWithTimeout(t, 400*time.Millisecond), balance.ProductOTP, testKey, testSecret)
			var e *engagelab.Error
			if !errors.As(err, &e) || e.Kind != tt.kind {
				t.Fatalf("Balance error = %v, want kind %s", err, tt.kind)
			}
			credentials := base64.StdEncoding.EncodeToString([]byte(testKey + ":" + testSecret))
			for _, s := range []string{err.Error(), e.Message, fmt.Sprintf("%+v", e)} {
				if strings.Contains(s, testSecret) || strings.Contains(s, credentials) {
					t.Errorf("error leaks the credentials: %s", s)
				}
			}
		})
	}
}

func TestConsistent(t *testing.T) {
	d := func(s string) balance.Snapshot {
		var b balance.Snapshot
		parts := strings.Fields(s)
		b.Balance, b.GiftBalance, b.TotalBalance = decimal.RequireFromString(parts[0]), decimal.RequireFromString(parts[1]), decimal.RequireFromString(parts[2])
		return b
	}
	tests := []struct {
		name    string
		amounts string
		want    bool
	}{
		{"equal with different scales", "1.5 2.50 4.0000", true},
		{"negative", "-12.3400 2 -10.34", true},
		{"off by a ten-thousandth", "1 1 2.0001", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d(tt.amounts).Consistent(); got != tt.want {
				t.Errorf("Consistent(%s) = %t, want %t", tt.amounts, got, tt.want)
			}
		})
	}
}

// TestScrubberNormalisesFirst: an upstream that echoes the credentials with a stray
// unprintable byte inside them must not get them past the scrubber. The text is made one
// printable line first (which drops that byte) and scrubbed after, so the secret that the
// normalising puts back together is caught.
func TestScrubberNormalisesFirst(t *testing.T) {
	credentials := base64.StdEncoding.EncodeToString([]byte(testKey + ":" + testSecret))
	secretB64 := base64.StdEncoding.EncodeToString([]byte(testSecret))
	split := func(s, with string) string { return s[:5] + with + s[5:] }
	tests := []struct {
		name   string
		status int
		body   string
		kind   balance.FailureKind
	}{
		{"NUL in a JSON message", 401, `{"code":2001,"message":"bad secret ` + split(testSecret, `\u0000`) + `"}`, balance.AuthFailed},
		{"BEL in a JSON message", 403, `{"code":2002,"message":"` + split(testSecret, `\u0007`) + `"}`, balance.AppUnavailable},
		{"zero-width space in a JSON message", 500, `{"code":1000,"message":"` + split(testSecret, "\u200b") + `"}`, balance.ServerError},
		{"NUL in an HTML page", 502, "<html><body><pre>" + split(testSecret, "\x00") + "</pre></body></html>", balance.ServerError},
		{"Authorization header in an HTML page", 502, "<html><body>Authorization: Basic " + split(credentials, "\x00\x01") + "</body></html>", balance.ServerError},
		{"secret in base64 in an HTML page", 400, "<html><body>" + split(secretB64, "\x7f") + "</body></html>", balance.UnexpectedStatus},
		{"secret in base64 in an HTML page, no control byte", 400, "<html>" + secretB64 + "</html>", balance.UnexpectedStatus},
		{"secret with a control byte in a 200 amount", 200, `{"currency":"USD","balance":"` + split(testSecret, `\u0000`) + `","gift_balance":"0","total_balance":"0"}`, balance.InvalidResponse},
		{"invalid UTF-8 inside the secret", 418, split(testSecret, "\xff\xfe"), balance.UnexpectedStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := serve(t, answer{tt.status, tt.body})
			_, err := engagelab.New(srv.URL).Balance(ctxWithTimeout(t, 5*time.Second), balance.ProductOTP, testKey, testSecret)
			var e *engagelab.Error
			if !errors.As(err, &e) || e.Kind != tt.kind {
				t.Fatalf("Balance error = %v, want kind %s", err, tt.kind)
			}
			for _, s := range []string{err.Error(), e.Message, fmt.Sprintf("%+v", e)} {
				for _, secret := range []string{testSecret, credentials, secretB64} {
					if strings.Contains(s, secret) {
						t.Errorf("error leaks %q: %s", secret, s)
					}
				}
			}
			if !strings.Contains(e.Message, "***") {
				t.Errorf("Message = %q, want the secret shown as ***", e.Message)
			}
		})
	}
}
