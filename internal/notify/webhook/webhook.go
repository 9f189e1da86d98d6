// Package webhook POSTs each event as JSON (the ★ webhook body) to an HTTP endpoint, signed
// per Standard Webhooks when a secret is set.
package webhook

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// Config configures a generic HTTP webhook. It is trusted: internal/config has validated it.
type Config struct {
	Name    string
	URL     string
	Secret  string        // optional "whsec_<base64>": sign per Standard Webhooks
	Timeout time.Duration // default 15s
	Clock   func() time.Time
}

// Notifier POSTs the event as JSON, one event per request.
type Notifier struct {
	name   string
	prefix string
	url    string
	origin string // scheme://host, the only part of the URL errors may show
	key    []byte
	client *http.Client
	clock  func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

// New builds the notifier.
func New(c Config) *Notifier {
	var key []byte
	if c.Secret != "" {
		key, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(c.Secret, "whsec_"))
	}
	clock := c.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Notifier{
		name:   c.Name,
		prefix: "webhook " + c.Name,
		url:    c.URL,
		origin: notify.RedactURL(c.URL),
		key:    key,
		client: notify.NewHTTPClient(cmp.Or(c.Timeout, 15*time.Second)),
		clock:  clock,
	}
}

// Notify makes one delivery attempt. Any 2xx is success; 408, 429 and 5xx are retryable
// (with Retry-After if given); 3xx, 410 and other 4xx are permanent.
func (w *Notifier) Notify(ctx context.Context, e notify.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return &notify.Error{Permanent: true, Err: fmt.Errorf("%s: encode event: %w", w.prefix, err)}
	}
	header := http.Header{}
	// The id goes out even unsigned: it is the receiver's key for dropping duplicates.
	header.Set("webhook-id", e.ID)
	if w.key != nil {
		ts := strconv.FormatInt(w.clock().Unix(), 10)
		header.Set("webhook-timestamp", ts)
		header.Set("webhook-signature", "v1,"+w.sign(e.ID, ts, body))
	}
	resp, err := notify.PostJSON(ctx, w.client, w.prefix, w.url, body, header)
	if err != nil {
		return err
	}
	if resp.OK() {
		return nil
	}
	return notify.StatusError(w.prefix, w.origin, resp, w.clock())
}

// sign is the Standard Webhooks v1 signature: base64(HMAC-SHA256(key, "id.timestamp.body")).
func (w *Notifier) sign(id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, w.key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
