package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// RetryableStatus reports the HTTP statuses worth another attempt; other 4xx mean the request
// itself is refused and will be refused again.
func RetryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// ParseRetryAfter reads Retry-After as delay-seconds or an HTTP date; 0 if absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// RedactURL keeps scheme and host: webhook URLs carry their credential in the path or query
// (Slack, Feishu, DingTalk's access_token, WeCom's key, Teams' sig), and so does Telegram's
// /bot<token>/ path.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "[redacted URL]"
	}
	return u.Scheme + "://" + u.Host
}

// RedactErr strips the URL from a transport error (net/http puts the full request URL into
// *url.Error, and slack-go passes it on). Other errors are returned unchanged.
func RedactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: RedactURL(ue.URL), Err: ue.Err}
	}
	return err
}

// DefaultTimeout bounds one delivery attempt over HTTP.
const DefaultTimeout = 15 * time.Second

// NewHTTPClient returns a client for one receiver: bounded in time (the default client waits
// forever), and never following a redirect, which would be a failed delivery carrying a
// message, and maybe a signature, somewhere the operator never configured.
func NewHTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Response is a receiver's answer, its body cut at 64 KiB.
type Response struct {
	Status     int
	StatusText string // "404 Not Found"
	Header     http.Header
	Body       []byte
}

// PostJSON makes one POST of body to rawURL. A transport failure comes back as a retryable
// *Error whose text shows only the URL's origin, prefixed with prefix ("telegram ops").
func PostJSON(ctx context.Context, client *http.Client, prefix, rawURL string, body []byte, header http.Header) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Permanent: true, Err: fmt.Errorf("%s: %w", prefix, RedactErr(err))}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "engagelab-monitor")
	resp, err := client.Do(req)
	if err != nil {
		return nil, &Error{Err: fmt.Errorf("%s: %w", prefix, RedactErr(err))}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return &Response{Status: resp.StatusCode, StatusText: resp.Status, Header: resp.Header, Body: data}, nil
}

// StatusError classifies a non-2xx answer by its status alone: 408, 429 and 5xx are
// retryable (with Retry-After if given), redirects and other 4xx permanent. The receiver's
// text is not shown: nothing promises it is free of what we sent.
func StatusError(prefix, origin string, r *Response, now time.Time) *Error {
	msg := fmt.Sprintf("%s: %s answered %s", prefix, origin, r.StatusText)
	if r.Status >= 300 && r.Status < 400 {
		msg += " (redirects are not followed)"
	}
	e := &Error{Status: r.Status, Permanent: !RetryableStatus(r.Status), Err: errors.New(msg)}
	if !e.Permanent {
		e.RetryAfter = ParseRetryAfter(r.Header.Get("Retry-After"), now)
	}
	return e
}

// OK reports a 2xx status.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Endpoint is one receiver as every HTTP notifier holds it: the URL (often itself the
// credential), the origin that errors may show instead, a client that never follows
// redirects, and a clock for Retry-After dates and signatures.
type Endpoint struct {
	Prefix string // "<type> <name>": the start of every error
	URL    string
	Origin string // scheme://host of URL
	Client *http.Client
	Clock  func() time.Time
}

// NewEndpoint builds an Endpoint; timeout 0 means DefaultTimeout, clock nil time.Now.
func NewEndpoint(prefix, rawURL string, timeout time.Duration, clock func() time.Time) Endpoint {
	if clock == nil {
		clock = time.Now
	}
	return Endpoint{Prefix: prefix, URL: rawURL, Origin: RedactURL(rawURL), Client: NewHTTPClient(timeout), Clock: clock}
}

// Post makes one JSON POST of v to the endpoint's URL.
func (ep Endpoint) Post(ctx context.Context, v any, header http.Header) (*Response, error) {
	return ep.PostTo(ctx, ep.URL, v, header)
}

// PostTo makes one JSON POST of v to rawURL, a URL derived from the endpoint's (signed, or
// with a path added), shown in errors by its origin only.
func (ep Endpoint) PostTo(ctx context.Context, rawURL string, v any, header http.Header) (*Response, error) {
	body, ok := v.([]byte)
	if !ok {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return nil, &Error{Permanent: true, Err: fmt.Errorf("%s: encode the message: %w", ep.Prefix, err)}
		}
	}
	return PostJSON(ctx, ep.Client, ep.Prefix, rawURL, body, header)
}

// Refused classifies a non-2xx answer by its status (see StatusError).
func (ep Endpoint) Refused(r *Response) *Error {
	return StatusError(ep.Prefix, ep.Origin, r, ep.Clock())
}

// ErrCode reads the answer of the Chinese chat robots (DingTalk, WeCom): HTTP 200 with
// {"errcode": 0, "errmsg": "ok"} on success, another errcode on refusal. Only the codes in
// retryable are worth another attempt; an answer without an errcode is retryable too.
func (ep Endpoint) ErrCode(r *Response, vendor string, retryable map[int]bool) error {
	if !r.OK() {
		return ep.Refused(r)
	}
	var a struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(r.Body, &a); err != nil || a.ErrCode == nil {
		return &Error{Status: r.Status, Err: fmt.Errorf("%s: %s answered %s without an errcode", ep.Prefix, ep.Origin, r.StatusText)}
	}
	if *a.ErrCode == 0 {
		return nil
	}
	return &Error{Status: r.Status, Permanent: !retryable[*a.ErrCode],
		Err: fmt.Errorf("%s: %s refused the message: errcode %d: %s", ep.Prefix, vendor, *a.ErrCode, a.ErrMsg)}
}
