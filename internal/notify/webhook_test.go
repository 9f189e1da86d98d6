package notify

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func escalation() Event {
	return Event{
		ID: "evt_01JDQ7Z8M3K5V9W2X4Y6Z8A0BC", Type: TypeEscalated, App: "checkout", Alert: "money",
		Rule: "low_balance", Severity: "critical", PreviousRule: "low_balance", PreviousSeverity: "warning",
		Currency: "USD", Balance: "80.0000", GiftBalance: "0.0000", TotalBalance: "80.0000", Threshold: "100.0000",
		// Non-UTC on purpose: the body must still say Z.
		ObservedAt: time.Date(2026, 11, 26, 11, 0, 0, 0, cet),
		Since:      time.Date(2026, 11, 26, 9, 58, 0, 0, time.UTC),
		Message:    "checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD",
	}
}

func accessEvent() Event {
	return Event{
		ID: "evt_01JDQ80000AAAABBBBCCCCDDDD", Type: TypeFiring, App: "checkout", Alert: "access",
		Rule: "auth_failed", Severity: "critical",
		ObservedAt: observedAt, Since: observedAt,
		Message: "checkout: EngageLab rejected the API key (HTTP 401, code 2001: invalid token)",
		Error:   &EventError{HTTPStatus: 401, Code: 2001, Message: "invalid token"},
	}
}

func newTestWebhook(t *testing.T, c WebhookConfig) *Webhook {
	t.Helper()
	w, err := NewWebhook(c)
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	return w
}

func TestWebhookBody(t *testing.T) {
	tests := []struct {
		name  string
		event Event
		want  string
	}{
		{
			name:  "escalation",
			event: escalation(),
			want: `{"id":"evt_01JDQ7Z8M3K5V9W2X4Y6Z8A0BC","type":"alert.escalated","app":"checkout","alert":"money",` +
				`"rule":"low_balance","severity":"critical","previous_rule":"low_balance","previous_severity":"warning",` +
				`"currency":"USD","balance":"80.0000","gift_balance":"0.0000","total_balance":"80.0000","threshold":"100.0000",` +
				`"observed_at":"2026-11-26T10:00:00Z","since":"2026-11-26T09:58:00Z",` +
				`"message":"checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD"}`,
		},
		{
			name:  "access alert without amounts",
			event: accessEvent(),
			want: `{"id":"evt_01JDQ80000AAAABBBBCCCCDDDD","type":"alert.firing","app":"checkout","alert":"access",` +
				`"rule":"auth_failed","severity":"critical","observed_at":"2026-11-26T10:00:00Z","since":"2026-11-26T10:00:00Z",` +
				`"message":"checkout: EngageLab rejected the API key (HTTP 401, code 2001: invalid token)",` +
				`"error":{"http_status":401,"code":2001,"message":"invalid token"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, status(http.StatusNoContent))
			w := newTestWebhook(t, WebhookConfig{Name: "pager", URL: rc.URL + secretPath + "?" + secretQuery})

			if err := w.Notify(context.Background(), tt.event); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := rc.only(t)
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
	rc := newReceiver(t, status(http.StatusOK))
	// Near the real time, because the verifying library checks its 5 minute tolerance.
	now := time.Now().Truncate(time.Second)
	w := newTestWebhook(t, WebhookConfig{Name: "pager", URL: rc.URL + secretPath, Secret: signingKey,
		Clock: func() time.Time { return now }})

	e := escalation()
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
	got := rc.requests()
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

func TestWebhookFailures(t *testing.T) {
	clock := func() time.Time { return observedAt }
	tests := []struct {
		name    string
		respond http.HandlerFunc
		timeout time.Duration
		want    classification // Message with ORIGIN for the receiver's scheme://host
	}{
		{
			name:    "server error is retryable",
			respond: status(http.StatusInternalServerError),
			want:    classification{Status: 500, Message: "webhook pager: ORIGIN answered 500 Internal Server Error"},
		},
		{
			name:    "429 honours Retry-After seconds",
			respond: status(http.StatusTooManyRequests, "Retry-After", "2"),
			want:    classification{Status: 429, RetryAfter: 2 * time.Second, Message: "webhook pager: ORIGIN answered 429 Too Many Requests"},
		},
		{
			name:    "503 honours Retry-After as an HTTP date",
			respond: status(http.StatusServiceUnavailable, "Retry-After", observedAt.Add(90*time.Second).Format(http.TimeFormat)),
			want:    classification{Status: 503, RetryAfter: 90 * time.Second, Message: "webhook pager: ORIGIN answered 503 Service Unavailable"},
		},
		{
			name:    "request timeout status is retryable",
			respond: status(http.StatusRequestTimeout),
			want:    classification{Status: 408, Message: "webhook pager: ORIGIN answered 408 Request Timeout"},
		},
		{
			name:    "404 is permanent, Retry-After ignored",
			respond: status(http.StatusNotFound, "Retry-After", "60"),
			want:    classification{Permanent: true, Status: 404, Message: "webhook pager: ORIGIN answered 404 Not Found"},
		},
		{
			name:    "410 gone is permanent",
			respond: status(http.StatusGone),
			want:    classification{Permanent: true, Status: 410, Message: "webhook pager: ORIGIN answered 410 Gone"},
		},
		{
			name:    "redirect is a failure, not followed",
			respond: status(http.StatusFound, "Location", "/elsewhere"+secretPath),
			want: classification{Permanent: true, Status: 302,
				Message: "webhook pager: ORIGIN answered 302 Found (redirects are not followed)"},
		},
		{
			name:    "timeout is retryable",
			respond: hang,
			timeout: 50 * time.Millisecond,
			want: classification{Message: `webhook pager: Post "ORIGIN": ` +
				`context deadline exceeded (Client.Timeout exceeded while awaiting headers)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.respond)
			rawURL := rc.URL + secretPath + "?" + secretQuery
			w := newTestWebhook(t, WebhookConfig{Name: "pager", URL: rawURL, Secret: signingKey,
				Timeout: tt.timeout, Clock: clock})

			err := w.Notify(context.Background(), escalation())

			want := tt.want
			want.Message = strings.ReplaceAll(want.Message, "ORIGIN", rc.URL)
			if diff := cmp.Diff(want, classify(t, err)); diff != "" {
				t.Errorf("classification (-want +got):\n%s", diff)
			}
			assertNoLeak(t, err, rawURL)
			if n := len(rc.requests()); n != 1 {
				t.Errorf("receiver got %d requests, want exactly 1 (no retries, no redirects)", n)
			}
		})
	}
}

func TestWebhookUnreachable(t *testing.T) {
	rc := newReceiver(t, status(http.StatusOK))
	rawURL := rc.URL + secretPath + "?" + secretQuery
	rc.Close()
	w := newTestWebhook(t, WebhookConfig{Name: "pager", URL: rawURL, Secret: signingKey})

	err := w.Notify(context.Background(), escalation())

	got := classify(t, err)
	if got.Permanent || !strings.HasPrefix(got.Message, `webhook pager: Post "`+rc.URL+`": dial tcp `) {
		t.Errorf("classification = %+v, want retryable and a dial error naming only the origin", got)
	}
	assertNoLeak(t, err, rawURL)
}

func TestNewWebhookRejects(t *testing.T) {
	tests := []struct {
		name string
		c    WebhookConfig
		want string
	}{
		{
			name: "relative URL",
			c:    WebhookConfig{Name: "pager", URL: secretPath},
			want: "webhook pager: url must be an absolute http or https URL",
		},
		{
			name: "secret that is not base64, and a bad scheme",
			c:    WebhookConfig{Name: "pager", URL: "ftp://example.com" + secretPath, Secret: "whsec_not base64 SECRET!"},
			want: "webhook pager: url must be an absolute http or https URL\n" +
				`webhook pager: secret must be "whsec_" followed by base64`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewWebhook(tt.c)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("NewWebhook() error = %v, want %q", err, tt.want)
			}
			assertNoLeak(t, err, tt.c.URL)
		})
	}
}
