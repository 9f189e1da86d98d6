// Package webhook POSTs each event as JSON (the ★ webhook body) to an HTTP endpoint, signed
// per Standard Webhooks when a secret is set.
package webhook

import (
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
	ep  notify.Endpoint
	key []byte
}

var _ notify.Notifier = (*Notifier)(nil)

// New builds the notifier.
func New(c Config) *Notifier {
	var key []byte
	if c.Secret != "" {
		key, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(c.Secret, "whsec_"))
	}
	return &Notifier{ep: notify.NewEndpoint("webhook "+c.Name, c.URL, c.Timeout, c.Clock), key: key}
}

// Notify makes one delivery attempt. Any 2xx is success; 408, 429 and 5xx are retryable
// (with Retry-After if given); 3xx, 410 and other 4xx are permanent.
func (w *Notifier) Notify(ctx context.Context, e notify.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return &notify.Error{Permanent: true, Err: fmt.Errorf("%s: encode event: %w", w.ep.Prefix, err)}
	}
	header := http.Header{}
	// The id goes out even unsigned: it is the receiver's key for dropping duplicates.
	header.Set("webhook-id", e.ID)
	if w.key != nil {
		ts := strconv.FormatInt(w.ep.Clock().Unix(), 10)
		header.Set("webhook-timestamp", ts)
		header.Set("webhook-signature", "v1,"+w.sign(e.ID, ts, body))
	}
	resp, err := w.ep.Post(ctx, body, header)
	if err != nil {
		return err
	}
	if resp.OK() {
		return nil
	}
	return w.ep.Refused(resp)
}

// sign is the Standard Webhooks v1 signature: base64(HMAC-SHA256(key, "id.timestamp.body")).
func (w *Notifier) sign(id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, w.key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
