// Package notifytest is what every notifier's tests share, as alertmanager's notify/test: a
// fake receiver over real HTTP, sample events, the classification a failed delivery carries,
// AssertNotifyLeaksNoSecret, and Conformance, the table of receiver answers every HTTP
// notifier must classify the same way. It is imported by tests only.
package notifytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// Times the sample events use; CET is there to prove renderers write UTC.
var (
	CET        = time.FixedZone("CET", 3600)
	ObservedAt = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
)

// Escalation is a money alert escalated from warning to critical, observed in CET.
func Escalation() notify.Event {
	return notify.Event{
		ID: "evt_01JDQ7Z8M3K5V9W2X4Y6Z8A0BC", Type: notify.TypeEscalated, App: "checkout", Alert: "money",
		Rule: "low_balance", Severity: "critical", PreviousRule: "low_balance", PreviousSeverity: "warning",
		Currency: "USD", Balance: "80.0000", GiftBalance: "0.0000", TotalBalance: "80.0000", Threshold: "100.0000",
		// Non-UTC on purpose: bodies must still say Z.
		ObservedAt: time.Date(2026, 11, 26, 11, 0, 0, 0, CET),
		Since:      time.Date(2026, 11, 26, 9, 58, 0, 0, time.UTC),
		Message:    "checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD",
	}
}

// Access is an auth_failed alert firing, without amounts.
func Access() notify.Event {
	return notify.Event{
		ID: "evt_01JDQ80000AAAABBBBCCCCDDDD", Type: notify.TypeFiring, App: "checkout", Alert: "access",
		Rule: "auth_failed", Severity: "critical",
		ObservedAt: ObservedAt, Since: ObservedAt,
		Message: "checkout: EngageLab rejected the API key (HTTP 401, code 2001: invalid token)",
		Error:   &notify.EventError{HTTPStatus: 401, Code: 2001, Message: "invalid token"},
	}
}

// Resolved is the money alert resolved after 26 hours.
func Resolved() notify.Event {
	return notify.Event{
		ID: "evt_01JDQ9RESOLVED000000000000", Type: notify.TypeResolved, App: "checkout", Alert: "money",
		Rule: "low_balance", Severity: "critical",
		Currency: "USD", Balance: "250.0000", GiftBalance: "0.0000", TotalBalance: "250.0000",
		ObservedAt: ObservedAt, Since: ObservedAt.Add(-26 * time.Hour),
		Message: "checkout: low balance resolved; total balance is now 250.0000 USD",
	}
}

// Topup is a non-alert event, balance.topup.
func Topup() notify.Event {
	return notify.Event{
		ID: "evt_01JDQATOPUP000000000000000", Type: notify.TypeTopup, App: "checkout",
		Currency: "USD", Balance: "600.0000", GiftBalance: "12.3400", TotalBalance: "612.3400",
		Amount: "500.0000", Paid: "500.0000", Gift: "0.0000", ObservedAt: ObservedAt,
		Message: "checkout: recharged +500.0000 USD (paid +500.0000, gift +0.0000), total now 612.3400 USD",
	}
}

// Unknown is an event of a type this version does not know: renderers must fall back to its
// message.
func Unknown() notify.Event {
	return notify.Event{
		ID: "evt_01JDQBUNKNOWN0000000000000", Type: "balance.refund", App: "checkout",
		ObservedAt: ObservedAt, Message: "checkout: refunded 3.0000 USD",
	}
}

// Request is what a fake receiver saw, and how it answered.
type Request struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
	At                     time.Time // when it arrived
	WebhookID              string    // the webhook-id header
	Status                 int       // the status the receiver answered
}

// Event decodes the request's body as a webhook event, failing the test otherwise.
func (r Request) Event(t testing.TB) notify.Event {
	t.Helper()
	var e notify.Event
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("receiver got a body that is not an event: %v: %s", err, r.Body)
	}
	return e
}

// Receiver is a fake endpoint over real HTTP that records each request and answers with a
// handler. It is the one fake receiver of the notifier, delivery, CLI and service tests.
type Receiver struct {
	*httptest.Server
	mu   sync.Mutex
	seen []Request
}

// NewReceiver starts a receiver answering with respond; it stops when the test ends.
func NewReceiver(t testing.TB, respond http.HandlerFunc) *Receiver {
	t.Helper()
	return newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int, _ Request) { respond(w, r) })
}

// newReceiver is NewReceiver whose respond also gets the request's number (from 0) and record.
func newReceiver(t testing.TB, respond func(w http.ResponseWriter, r *http.Request, n int, rec Request)) *Receiver {
	t.Helper()
	rc := &Receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read request body: %v", err)
		}
		rec := Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(),
			Body: body, At: time.Now(), WebhookID: r.Header.Get("webhook-id")}
		rc.mu.Lock()
		i := len(rc.seen)
		rc.seen = append(rc.seen, rec)
		rc.mu.Unlock()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		respond(sw, r, i, rec)
		rc.mu.Lock()
		rc.seen[i].Status = sw.status
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// Script says how a scripted receiver answers its n-th request (counted from 0).
type Script func(n int, r Request) (status int, header http.Header, body string)

// NewScripted starts a receiver that answers each request as answer says.
func NewScripted(t testing.TB, answer Script) *Receiver {
	t.Helper()
	return newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int, rec Request) {
		status, header, body := answer(n, rec)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// Events decodes the events the receiver accepted (answered below 300) at path, or at any
// path when path is "", in arrival order.
func (rc *Receiver) Events(t testing.TB, path string) []notify.Event {
	t.Helper()
	var out []notify.Event
	for _, r := range rc.Requests() {
		if (path == "" || r.Path == path) && r.Status < 300 {
			out = append(out, r.Event(t))
		}
	}
	return out
}

// Eventually waits, up to 15 s, until cond holds, failing the test with what otherwise: the one
// waiter of the tests that watch background work (deliveries, polls) happen.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Requests returns what the receiver got so far.
func (rc *Receiver) Requests() []Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Request(nil), rc.seen...)
}

// Only returns the single request the receiver got, failing otherwise.
func (rc *Receiver) Only(t testing.TB) Request {
	t.Helper()
	got := rc.Requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	return got[0]
}

// Status answers with code, optional headers (name, value pairs) and no body.
func Status(code int, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
	}
}

// JSON answers with code and a JSON body.
func JSON(code int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

// Hang answers only once the client has given up.
func Hang(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// Classification is what the outbox worker reads from a failed delivery.
type Classification struct {
	Permanent  bool
	RetryAfter time.Duration
	Status     int
	Message    string
}

// Classify reads err as the outbox worker does; err must be a *notify.Error.
func Classify(t testing.TB, err error) Classification {
	t.Helper()
	var e *notify.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *notify.Error", err, err)
	}
	retryAfter, ok := notify.RetryAfter(err)
	if ok != (retryAfter > 0) {
		t.Errorf("RetryAfter() = %v, %v: inconsistent", retryAfter, ok)
	}
	return Classification{notify.IsPermanent(err), retryAfter, e.Status, err.Error()}
}

// AssertNotifyLeaksNoSecret fails if err, anything it wraps, or the log line the delivery
// worker would write for it (slog, text and JSON) shows any of secrets.
func AssertNotifyLeaksNoSecret(t testing.TB, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	var shown []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		shown = append(shown, e.Error())
	}
	shown = append(shown, fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%q", err))
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Error("delivery failed", "error", err)
	slog.New(slog.NewJSONHandler(&logs, nil)).Error("delivery failed", "error", err)
	shown = append(shown, logs.String())
	for _, s := range shown {
		for _, secret := range secrets {
			if secret != "" && strings.Contains(s, secret) {
				t.Errorf("%q shows the secret %q", s, secret)
			}
		}
	}
}
