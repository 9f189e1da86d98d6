package notify

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Secrets planted in every notifier under test; no error may show any of them.
const (
	secretPath   = "/hooks/T000/B000/SECRETSECRET"
	secretQuery  = "sig=QUERYSECRET"
	slackToken   = "xoxb-1111-TOKENSECRET"
	signingKey   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // Standard Webhooks' example secret
	secretMarker = "SECRET"
)

// assertNoLeak fails if err, or anything it wraps, shows a secret or a URL path.
func assertNoLeak(t *testing.T, err error, rawURL string) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		for _, s := range []string{secretPath, "QUERYSECRET", "TOKENSECRET", signingKey, rawURL, secretMarker} {
			if s != "" && strings.Contains(msg, s) {
				t.Errorf("error %q (in chain of %q) contains %q", msg, err, s)
			}
		}
	}
}

// request is what a fake receiver saw.
type request struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// receiver is a fake endpoint that records each request and answers with respond.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	seen []request
}

func newReceiver(t *testing.T, respond http.HandlerFunc) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read request body: %v", err)
		}
		rc.mu.Lock()
		rc.seen = append(rc.seen, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		rc.mu.Unlock()
		respond(w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.seen...)
}

// only returns the single request the receiver got, failing otherwise.
func (rc *receiver) only(t *testing.T) request {
	t.Helper()
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	return got[0]
}

// status answers with code and optional headers (name, value pairs).
func status(code int, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
	}
}

// hang answers only once the client has given up.
func hang(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// classification is what the outbox worker reads from a failed delivery.
type classification struct {
	Permanent  bool
	RetryAfter time.Duration
	Status     int
	Message    string
}

func classify(t *testing.T, err error) classification {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *notify.Error", err, err)
	}
	retryAfter, ok := RetryAfter(err)
	if ok != (retryAfter > 0) {
		t.Errorf("RetryAfter() = %v, %v: inconsistent", retryAfter, ok)
	}
	return classification{IsPermanent(err), retryAfter, e.Status, err.Error()}
}

func TestClassificationSurvivesWrapping(t *testing.T) {
	err := fmt.Errorf("deliver row 7: %w", &Error{Permanent: true, RetryAfter: time.Second, Err: errors.New("x")})
	if d, ok := RetryAfter(err); !IsPermanent(err) || !ok || d != time.Second {
		t.Errorf("IsPermanent, RetryAfter of a wrapped *Error = %v, %v, %v; want true, 1s, true", IsPermanent(err), d, ok)
	}
	plain := errors.New("plain")
	if _, ok := RetryAfter(plain); IsPermanent(plain) || ok {
		t.Errorf("a plain error must count as retryable without a wait")
	}
}
