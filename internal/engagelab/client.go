// Package engagelab is a client for the EngageLab OTP "query balance" endpoint.
//
// It knows HTTP, Basic auth and the upstream's error codes, and turns every
// failure into an *Error with a Kind the caller can act on. It knows nothing
// about storage, schedules or alerts: one call, one balance or one error.
package engagelab

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/shopspring/decimal"
)

// DefaultBaseURL is EngageLab's public OTP API.
const DefaultBaseURL = "https://otp.api.engagelab.cc"

const (
	// maxBody bounds what we read: a balance answer is under 200 bytes, so
	// anything near this is a misdirected request (a proxy page, a wrong host).
	maxBody    = 64 << 10
	maxMessage = 200 // runes of an upstream message kept in Error.Message
	maxSnippet = 40  // runes of an unexpected body quoted in Error.Message
	// minAttempt is the least time worth leaving a retry: less and it can only time out.
	minAttempt = 100 * time.Millisecond
)

// Client asks EngageLab for balances. It is safe for concurrent use; the
// credentials are per call because one monitor watches many applications.
type Client struct {
	url    string
	http   *http.Client
	logger *slog.Logger
	pause  func() time.Duration // before the one retry
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send through hc (its transport and timeout;
// redirects are never followed whatever hc says, so credentials are never resent elsewhere).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithLogger sets where warnings (retries, an inconsistent total) go. The
// logger gets no app name: callers add theirs with logger.With.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) { c.logger = l }
}

// New returns a Client for baseURL ("" means DefaultBaseURL).
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		url: strings.TrimRight(cmp.Or(baseURL, DefaultBaseURL), "/") + "/v1/balance",
		// The caller's context normally bounds a poll; this only stops a
		// context without deadline from hanging forever.
		http:   &http.Client{Timeout: 30 * time.Second},
		logger: slog.New(slog.DiscardHandler),
		pause:  func() time.Duration { return 200*time.Millisecond + rand.N(300*time.Millisecond) },
	}
	for _, opt := range opts {
		opt(c)
	}
	hc := *c.http
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &hc
	return c
}

// Balance does GET {base}/v1/balance with HTTP Basic auth devKey:devSecret.
//
// A transient failure is retried at most once, after a short jittered pause,
// and only if ctx leaves time for it; 401 and 403 are never retried. Every
// error is an *Error. A total that differs from balance + gift is returned
// as is: the caller, who knows which app it is, reports it (see Consistent).
func (c *Client) Balance(ctx context.Context, devKey, devSecret string) (balance.Snapshot, error) {
	b, err := c.fetch(ctx, devKey, devSecret)
	if err != nil && err.Transient() {
		pause := c.pause()
		if sleep(ctx, pause) {
			c.logger.Debug("retrying balance request", "error", err, "pause", pause)
			b, err = c.fetch(ctx, devKey, devSecret)
		}
	}
	if err != nil {
		return balance.Snapshot{}, err
	}
	return b, nil
}

// sleep waits for d unless ctx would not leave a retry enough time afterwards.
func sleep(ctx context.Context, d time.Duration) bool {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d+minAttempt {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (c *Client) fetch(ctx context.Context, devKey, devSecret string) (balance.Snapshot, *Error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return balance.Snapshot{}, &Error{Kind: balance.Network, Message: "cannot build the request", Err: err}
	}
	req.SetBasicAuth(devKey, devSecret)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return balance.Snapshot{}, transportError(ctx, "request", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		e := transportError(ctx, fmt.Sprintf("reading the HTTP %d answer", resp.StatusCode), err)
		e.HTTPStatus = resp.StatusCode
		return balance.Snapshot{}, e
	}
	sc := newScrubber(devKey, devSecret)
	if resp.StatusCode != http.StatusOK {
		return balance.Snapshot{}, statusError(resp.StatusCode, body, sc)
	}
	if len(body) > maxBody {
		return balance.Snapshot{}, &Error{Kind: balance.InvalidResponse, HTTPStatus: http.StatusOK,
			Message: fmt.Sprintf("HTTP 200 with a body larger than %d KiB", maxBody>>10)}
	}
	return parseBalance(body, sc)
}

// scrubber is the only way upstream text gets into an Error: a misbehaving
// proxy may echo request headers back, so it blanks the credentials out
// (before cutting the text short, so no part of them survives a cut).
type scrubber []string

func newScrubber(devKey, devSecret string) scrubber {
	if devSecret == "" {
		return nil
	}
	return scrubber{base64.StdEncoding.EncodeToString([]byte(devKey + ":" + devSecret)), devSecret}
}

// line is s scrubbed, on one line, at most max runes.
func (sc scrubber) line(s string, max int) string {
	for _, secret := range sc {
		s = strings.ReplaceAll(s, secret, "***")
	}
	return oneLine(s, max)
}

// quote is the start of s, scrubbed and quoted, for an error message.
func (sc scrubber) quote(s string) string {
	return strconv.Quote(sc.line(s, maxSnippet))
}

func transportError(ctx context.Context, what string, err error) *Error {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return &Error{Kind: balance.Timeout, Message: what + " timed out", Err: err}
	case ctx.Err() != nil:
		// The caller gave up (shutdown): errors.Is(err, context.Canceled) tells it apart.
		return &Error{Kind: balance.Timeout, Message: what + " was cancelled", Err: err}
	default:
		return &Error{Kind: balance.Network, Message: what + " failed", Err: err}
	}
}

func statusError(status int, body []byte, sc scrubber) *Error {
	var envelope struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	e := &Error{HTTPStatus: status}
	if json.Unmarshal(body, &envelope) == nil && envelope.Code != 0 {
		e.Code = envelope.Code
		e.Message = sc.line(envelope.Message, maxMessage)
	} else {
		e.Message = fmt.Sprintf("HTTP %d %s", status, describe(body, sc))
	}
	switch {
	case status == http.StatusUnauthorized:
		e.Kind = balance.AuthFailed
	case status == http.StatusForbidden && e.Code == 2002:
		e.Kind = balance.AppUnavailable
	case status >= 500 || e.Code == 1000:
		e.Kind = balance.ServerError
	default:
		e.Kind = balance.UnexpectedStatus
	}
	return e
}

// describe names a body that is not what we expected, quoting its start.
func describe(body []byte, sc scrubber) string {
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return "with an empty body"
	case json.Valid(body):
		return fmt.Sprintf("with an unexpected JSON body (%s)", sc.quote(string(body)))
	default:
		return fmt.Sprintf("with a non-JSON body (%s)", sc.quote(string(body)))
	}
}

func parseBalance(body []byte, sc scrubber) (balance.Snapshot, *Error) {
	var raw struct {
		Currency     json.RawMessage `json:"currency"`
		Balance      json.RawMessage `json:"balance"`
		GiftBalance  json.RawMessage `json:"gift_balance"`
		TotalBalance json.RawMessage `json:"total_balance"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return balance.Snapshot{}, &Error{Kind: balance.InvalidResponse, HTTPStatus: http.StatusOK,
			Message: "HTTP 200 " + describe(body, sc), Err: err}
	}
	var b balance.Snapshot
	var problems []string
	note := func(problem string) { problems = append(problems, problem) }
	b.Currency = parseCurrency(raw.Currency, note, sc)
	b.Balance = parseAmount("balance", raw.Balance, note, sc)
	b.GiftBalance = parseAmount("gift_balance", raw.GiftBalance, note, sc)
	b.TotalBalance = parseAmount("total_balance", raw.TotalBalance, note, sc)
	if len(problems) > 0 {
		return balance.Snapshot{}, &Error{Kind: balance.InvalidResponse, HTTPStatus: http.StatusOK,
			Message: "HTTP 200 with an invalid balance: " + strings.Join(problems, ", ")}
	}
	return b, nil
}

var currencyRE = regexp.MustCompile(`^[A-Za-z]{1,16}$`)

func parseCurrency(raw json.RawMessage, note func(string), sc scrubber) string {
	var s string
	switch {
	case len(raw) == 0 || string(raw) == "null":
		note(`"currency" missing`)
	case json.Unmarshal(raw, &s) != nil:
		note(fmt.Sprintf(`"currency" is not a string (%s)`, sc.quote(string(raw))))
	case s == "":
		note(`"currency" is empty`)
	case !currencyRE.MatchString(s):
		note(fmt.Sprintf(`"currency" is not a currency code (%s)`, sc.quote(s)))
	default:
		return s
	}
	return ""
}

// parseAmount reads a JSON string holding a decimal; a bare JSON number is
// accepted too, from its exact text.
func parseAmount(field string, raw json.RawMessage, note func(string), sc scrubber) decimal.Decimal {
	text := string(raw)
	switch {
	case len(raw) == 0 || text == "null":
		note(fmt.Sprintf("%q missing", field))
		return decimal.Zero
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &text); err != nil {
			note(fmt.Sprintf("%q is not a decimal (%s)", field, sc.quote(string(raw))))
			return decimal.Zero
		}
	}
	d, err := balance.ParseAmount(text)
	switch {
	case errors.Is(err, balance.ErrTooPrecise):
		note(fmt.Sprintf("%q has more than 4 decimal places (%s)", field, sc.quote(text)))
	case errors.Is(err, balance.ErrOutOfRange):
		note(fmt.Sprintf("%q is out of range (%s)", field, sc.quote(text)))
	case err != nil:
		note(fmt.Sprintf("%q is not a decimal (%s)", field, sc.quote(text)))
	}
	return d
}
