package notifytest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// Target is an HTTP notifier under the conformance test.
type Target struct {
	// Prefix starts every error the notifier returns: "<type> <name>", like "telegram ops".
	Prefix string
	// New builds the notifier so that it posts to the fake receiver at base (scheme://host,
	// no trailing slash), giving up after timeout.
	New func(t *testing.T, base string, timeout time.Duration) notify.Notifier
	// Accept is the vendor's answer to a message it took ("ok": true, "code": 0, 202 ...).
	Accept http.HandlerFunc
	// Secrets must never appear in an error or a log line; the configured URL is added to them.
	Secrets []string
}

// ConformanceCase is one receiver answer and how every notifier must classify it.
type ConformanceCase struct {
	Name    string
	Respond http.HandlerFunc
	Want    Classification // Message unused: only its prefix is common
}

// ConformanceCases are the answers whose meaning HTTP itself fixes, whatever the vendor.
var ConformanceCases = []ConformanceCase{
	{"500 is retryable", Status(http.StatusInternalServerError), Classification{Status: 500}},
	{"502 is retryable", Status(http.StatusBadGateway), Classification{Status: 502}},
	{"503 honours Retry-After", Status(http.StatusServiceUnavailable, "Retry-After", "7"), Classification{Status: 503, RetryAfter: 7 * time.Second}},
	{"429 honours Retry-After", Status(http.StatusTooManyRequests, "Retry-After", "3"), Classification{Status: 429, RetryAfter: 3 * time.Second}},
	{"408 is retryable", Status(http.StatusRequestTimeout), Classification{Status: 408}},
	{"400 is permanent", Status(http.StatusBadRequest), Classification{Permanent: true, Status: 400}},
	{"401 is permanent", Status(http.StatusUnauthorized), Classification{Permanent: true, Status: 401}},
	{"403 is permanent", Status(http.StatusForbidden), Classification{Permanent: true, Status: 403}},
	{"404 is permanent, Retry-After ignored", Status(http.StatusNotFound, "Retry-After", "60"), Classification{Permanent: true, Status: 404}},
	{"410 is permanent", Status(http.StatusGone), Classification{Permanent: true, Status: 410}},
	{"a redirect is not followed and is permanent", Status(http.StatusFound, "Location", "/elsewhere"), Classification{Permanent: true, Status: 302}},
}

// Conformance runs ConformanceCases, an accepted message, a timeout and an unreachable
// receiver against the notifier: one request per attempt, the classification the outbox
// worker needs, every error starting with the notifier's prefix, and no secret anywhere.
func Conformance(t *testing.T, target Target) {
	t.Helper()
	event := Escalation()
	check := func(t *testing.T, rc *Receiver, err error, want Classification) {
		t.Helper()
		got := Classify(t, err)
		if !strings.HasPrefix(got.Message, target.Prefix+": ") {
			t.Errorf("error %q does not start with %q", got.Message, target.Prefix+": ")
		}
		got.Message = ""
		if got != want {
			t.Errorf("classification = %+v, want %+v", got, want)
		}
		AssertNotifyLeaksNoSecret(t, err, target.Secrets...)
		if rc != nil {
			if n := len(rc.Requests()); n != 1 {
				t.Errorf("receiver got %d requests, want exactly 1 (no retries, no redirects)", n)
			}
		}
	}

	t.Run("accepted", func(t *testing.T) {
		rc := NewReceiver(t, target.Accept)
		if err := target.New(t, rc.URL, 0).Notify(context.Background(), event); err != nil {
			t.Fatalf("Notify: %v", err)
		}
		if n := len(rc.Requests()); n != 1 {
			t.Errorf("receiver got %d requests, want 1", n)
		}
	})
	for _, tc := range ConformanceCases {
		t.Run(tc.Name, func(t *testing.T) {
			rc := NewReceiver(t, tc.Respond)
			err := target.New(t, rc.URL, 0).Notify(context.Background(), event)
			check(t, rc, err, tc.Want)
		})
	}
	t.Run("timeout is retryable", func(t *testing.T) {
		rc := NewReceiver(t, Hang)
		err := target.New(t, rc.URL, 50*time.Millisecond).Notify(context.Background(), event)
		check(t, rc, err, Classification{})
		var timeout interface{ Timeout() bool }
		if !errors.As(err, &timeout) || !timeout.Timeout() {
			t.Errorf("error %q is not a timeout", err)
		}
	})
	t.Run("unreachable is retryable", func(t *testing.T) {
		rc := NewReceiver(t, target.Accept)
		base := rc.URL
		rc.Close()
		err := target.New(t, base, 0).Notify(context.Background(), event)
		check(t, nil, err, Classification{})
		if msg := err.Error(); !strings.Contains(msg, "connect: connection refused") {
			t.Errorf("error %q does not say the connection was refused", msg)
		}
	})
}

// Answer is one vendor-specific answer and the classification it must get. ORIGIN in
// Want.Message stands for the receiver's scheme://host.
type Answer struct {
	Name    string
	Respond http.HandlerFunc
	Want    Classification
}

// Answers runs each answer against a fresh receiver, with the notifier newNotifier builds for
// its base URL: the exact classification and message, and no secret anywhere.
func Answers(t *testing.T, answers []Answer, newNotifier func(base string) notify.Notifier, secrets ...string) {
	t.Helper()
	for _, a := range answers {
		t.Run(a.Name, func(t *testing.T) {
			rc := NewReceiver(t, a.Respond)
			err := newNotifier(rc.URL).Notify(context.Background(), Escalation())
			want := a.Want
			want.Message = strings.ReplaceAll(want.Message, "ORIGIN", rc.URL)
			if got := Classify(t, err); got != want {
				t.Errorf("classification:\n got %+v\nwant %+v", got, want)
			}
			AssertNotifyLeaksNoSecret(t, err, secrets...)
		})
	}
}
