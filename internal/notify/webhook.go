package notify

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WebhookConfig configures a generic HTTP webhook.
type WebhookConfig struct {
	Name    string
	URL     string
	Secret  string        // optional "whsec_<base64>": sign per Standard Webhooks
	Timeout time.Duration // default 15s
	Clock   func() time.Time
}

// Webhook POSTs the event as JSON, one event per request.
type Webhook struct {
	name   string
	url    string
	origin string // scheme://host, the only part of the URL errors may show
	key    []byte
	client *http.Client
	clock  func() time.Time
}

var _ Notifier = (*Webhook)(nil)

// NewWebhook validates c and builds the notifier. Its errors never echo the URL or secret.
func NewWebhook(c WebhookConfig) (*Webhook, error) {
	var errs []error
	if err := checkHTTPURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("webhook %s: url %w", c.Name, err))
	}
	var key []byte
	if c.Secret != "" {
		var err error
		key, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(c.Secret, "whsec_"))
		if err != nil || len(key) == 0 {
			errs = append(errs, fmt.Errorf("webhook %s: secret must be \"whsec_\" followed by base64", c.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	clock := c.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Webhook{
		name:   c.Name,
		url:    c.URL,
		origin: redactURL(c.URL),
		key:    key,
		client: &http.Client{
			Timeout: cmp.Or(c.Timeout, 15*time.Second),
			// Standard Webhooks: a redirect is a failed delivery, and following one could
			// carry a signed body somewhere the operator never configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		clock: clock,
	}, nil
}

// Notify makes one delivery attempt. Any 2xx is success; 408, 429 and 5xx are retryable
// (with Retry-After if given); 3xx, 410 and other 4xx are permanent.
func (w *Webhook) Notify(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return &Error{Permanent: true, Err: fmt.Errorf("webhook %s: encode event: %w", w.name, err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &Error{Permanent: true, Err: fmt.Errorf("webhook %s: %w", w.name, redactErr(err))}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "engagelab-monitor")
	// The id goes out even unsigned: it is the receiver's key for dropping duplicates.
	req.Header.Set("webhook-id", e.ID)
	if w.key != nil {
		ts := strconv.FormatInt(w.clock().Unix(), 10)
		req.Header.Set("webhook-timestamp", ts)
		req.Header.Set("webhook-signature", "v1,"+w.sign(e.ID, ts, body))
	}

	resp, err := w.client.Do(req)
	if err != nil {
		return &Error{Err: fmt.Errorf("webhook %s: %w", w.name, redactErr(err))}
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; the receiver's text is not shown
	// because nothing promises it is free of what we sent.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	msg := fmt.Sprintf("webhook %s: %s answered %s", w.name, w.origin, resp.Status)
	if code >= 300 && code < 400 {
		msg += " (redirects are not followed)"
	}
	failure := &Error{Status: code, Permanent: !retryableStatus(code), Err: errors.New(msg)}
	if !failure.Permanent {
		failure.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), w.clock())
	}
	return failure
}

// sign is the Standard Webhooks v1 signature: base64(HMAC-SHA256(key, "id.timestamp.body")).
func (w *Webhook) sign(id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, w.key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
