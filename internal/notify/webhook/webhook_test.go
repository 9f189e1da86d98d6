package webhook

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
)

// Secrets planted in the notifiers under test.
const (
	secretPath  = "/hooks/T000/B000/SECRETSECRET"
	secretQuery = "sig=QUERYSECRET"
	signingKey  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // Standard Webhooks' example secret
)

func newTestWebhook(t *testing.T, c Config) *Notifier {
	t.Helper()
	return New(c)
}

func TestWebhookBody(t *testing.T) {
	tests := []struct {
		name  string
		event notify.Event
		want  string
	}{
		{
			name:  "escalation",
			event: notifytest.Escalation(),
			want: `{"id":"evt_01JDQ7Z8M3K5V9W2X4Y6Z8A0BC","type":"alert.escalated","app":"checkout","alert":"money",` +
				`"rule":"low_balance","severity":"critical","previous_rule":"low_balance","previous_severity":"warning",` +
				`"currency":"USD","balance":"80.0000","gift_balance":"0.0000","total_balance":"80.0000","threshold":"100.0000",` +
				`"observed_at":"2026-11-26T10:00:00Z","since":"2026-11-26T09:58:00Z",` +
				`"message":"checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD"}`,
		},
		{
			name:  "access alert without amounts",
			event: notifytest.Access(),
			want: `{"id":"evt_01JDQ80000AAAABBBBCCCCDDDD","type":"alert.firing","app":"checkout","alert":"access",` +
				`"rule":"auth_failed","severity":"critical","observed_at":"2026-11-26T10:00:00Z","since":"2026-11-26T10:00:00Z",` +
				`"message":"checkout: EngageLab rejected the API key (HTTP 401, code 2001: invalid token)",` +
				`"error":{"http_status":401,"code":2001,"message":"invalid token"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := notifytest.NewReceiver(t, notifytest.Status(http.StatusNoContent))
			w := newTestWebhook(t, Config{Name: "pager", URL: rc.URL + secretPath + "?" + secretQuery})

			if err := w.Notify(context.Background(), tt.event); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := rc.Only(t)
			if got.Method != http.MethodPost || got.Path != secretPath || got.RawQuery != secretQuery {
				t.Errorf("request = %s %s?%s, want POST %s?%s", got.Method, got.Path, got.RawQuery, secretPath, secretQuery)
			}
			if ct, ua := got.Header.Get("Content-Type"), got.Header.Get("User-Agent"); ct != "application/json" || ua != "engagelab-monitor" {
				t.Errorf("Content-Type, User-Agent = %q, %q; want application/json, engagelab-monitor", ct, ua)
			}
			if sig := got.Header.Get("webhook-signature"); sig != "" {
				t.Errorf("webhook-signature = %q without a secret, want none", sig)
			}
			if string(got.Body) != tt.want {
				t.Errorf("body:\n%s\nwant:\n%s", got.Body, tt.want)
			}
		})
	}
}

func TestWebhookSignature(t *testing.T) {
	rc := notifytest.NewReceiver(t, notifytest.Status(http.StatusOK))
	// Near the real time, because the verifying library checks its 5 minute tolerance.
	now := time.Now().Truncate(time.Second)
	w := newTestWebhook(t, Config{Name: "pager", URL: rc.URL + secretPath, Secret: signingKey,
		Clock: func() time.Time { return now }})

	e := notifytest.Escalation()
	first := now
	if err := w.Notify(context.Background(), e); err != nil {
		t.Fatalf("first attempt: %v", err)
	}
	now = now.Add(30 * time.Second)
	if err := w.Notify(context.Background(), e); err != nil {
		t.Fatalf("second attempt: %v", err)
	}

	verifier, err := standardwebhooks.NewWebhook(signingKey)
	if err != nil {
		t.Fatal(err)
	}
	got := rc.Requests()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(got))
	}
	for i, req := range got {
		wantTS := strconv.FormatInt(first.Add(time.Duration(i)*30*time.Second).Unix(), 10)
		if id, ts := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"); id != e.ID || ts != wantTS {
			t.Errorf("attempt %d: webhook-id, webhook-timestamp = %q, %q; want %q, %q", i+1, id, ts, e.ID, wantTS)
		}
		if err := verifier.Verify(req.Body, req.Header); err != nil {
			t.Errorf("attempt %d: signature %q does not verify: %v", i+1, req.Header.Get("webhook-signature"), err)
		}
	}
	if got[0].Header.Get("webhook-signature") == got[1].Header.Get("webhook-signature") {
		t.Error("both attempts carry the same signature although their timestamps differ")
	}
}

// The wording of failures a person reads in `monitor alerts --all`; the classification of
// every status is TestConformance's.
func TestWebhookFailureWording(t *testing.T) {
	clock := func() time.Time { return notifytest.ObservedAt }
	tests := []struct {
		name    string
		respond http.HandlerFunc
		want    notifytest.Classification // Message with ORIGIN for the receiver's scheme://host
	}{
		{
			name:    "503 honours Retry-After as an HTTP date",
			respond: notifytest.Status(http.StatusServiceUnavailable, "Retry-After", notifytest.ObservedAt.Add(90*time.Second).Format(http.TimeFormat)),
			want:    notifytest.Classification{Status: 503, RetryAfter: 90 * time.Second, Message: "webhook pager: ORIGIN answered 503 Service Unavailable"},
		},
		{
			name:    "404 is permanent",
			respond: notifytest.Status(http.StatusNotFound),
			want:    notifytest.Classification{Permanent: true, Status: 404, Message: "webhook pager: ORIGIN answered 404 Not Found"},
		},
		{
			name:    "redirect is a failure, not followed",
			respond: notifytest.Status(http.StatusFound, "Location", "/elsewhere"+secretPath),
			want: notifytest.Classification{Permanent: true, Status: 302,
				Message: "webhook pager: ORIGIN answered 302 Found (redirects are not followed)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := notifytest.NewReceiver(t, tt.respond)
			w := New(Config{Name: "pager", URL: rc.URL + secretPath + "?" + secretQuery, Secret: signingKey, Clock: clock})

			err := w.Notify(context.Background(), notifytest.Escalation())

			want := tt.want
			want.Message = strings.ReplaceAll(want.Message, "ORIGIN", rc.URL)
			if diff := cmp.Diff(want, notifytest.Classify(t, err)); diff != "" {
				t.Errorf("classification (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConformance(t *testing.T) {
	notifytest.Conformance(t, notifytest.Target{
		Prefix: "webhook pager",
		New: func(t *testing.T, base string, timeout time.Duration) notify.Notifier {
			return New(Config{Name: "pager", URL: base + secretPath + "?" + secretQuery, Secret: signingKey, Timeout: timeout})
		},
		Accept:  notifytest.Status(http.StatusNoContent),
		Secrets: []string{"SECRET", secretPath, secretQuery, signingKey},
	})
}
