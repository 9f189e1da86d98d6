// Package engagelab is a client for the EngageLab "query balance" endpoints of OTP and SMS.
//
// It knows HTTP, Basic auth, both products' answer shapes and the upstream's error codes, and turns every
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
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/shopspring/decimal"
)

// DefaultBaseURL is EngageLab's public OTP API.
const DefaultBaseURL = "https://otp.api.engagelab.cc"

// DefaultSMSBaseURL is EngageLab's public SMS API.
const DefaultSMSBaseURL = "https://smsapi.engagelab.com"

// DefaultMaxConcurrency is how many polls are expected in flight at once when the caller does
// not say (engagelab.max_concurrency's default).
const DefaultMaxConcurrency = 16

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
	otpURL, smsURL string // {base}/v1/balance of each product
	http           *http.Client
	ownTransport   bool // false when the caller gave its own *http.Client
	maxConcurrency int
	logger         *slog.Logger
	pause          func() time.Duration // before the one retry
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send through hc (its transport and timeout;
// redirects are never followed whatever hc says, so credentials are never resent elsewhere).
// The caller's transport is used as it is (WithMaxConcurrency does not change it).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http, c.ownTransport = hc, false }
}

// WithSMSBaseURL sets the SMS API base ("" means DefaultSMSBaseURL).
func WithSMSBaseURL(baseURL string) Option {
	return func(c *Client) { c.smsURL = balanceURL(baseURL, DefaultSMSBaseURL) }
}

// WithMaxConcurrency says how many requests the caller sends at once (n < 1 means
// DefaultMaxConcurrency). The transport keeps that many connections per host, open and idle
// between polls, so that polls reuse them: Go's default keeps 2 idle, and every poll beyond
// those would open a new TCP connection (and, against the real API, a new TLS handshake).
func WithMaxConcurrency(n int) Option {
	return func(c *Client) { c.maxConcurrency = n }
}

// WithLogger sets where warnings (retries, an inconsistent total) go. The
// logger gets no app name: callers add theirs with logger.With.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) { c.logger = l }
}

// New returns a Client whose OTP API is at baseURL ("" means DefaultBaseURL); the SMS API
// is at DefaultSMSBaseURL unless WithSMSBaseURL says otherwise.
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		otpURL: balanceURL(baseURL, DefaultBaseURL),
		smsURL: balanceURL("", DefaultSMSBaseURL),
		// The caller's context normally bounds a poll; this only stops a
		// context without deadline from hanging forever.
		http:         &http.Client{Timeout: 30 * time.Second},
		ownTransport: true,
		logger:       slog.New(slog.DiscardHandler),
		pause:        func() time.Duration { return 200*time.Millisecond + rand.N(300*time.Millisecond) },
	}
	for _, opt := range opts {
		opt(c)
	}
	hc := *c.http
	if c.ownTransport {
		hc.Transport = transport(cmp.Or(max(c.maxConcurrency, 0), DefaultMaxConcurrency))
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &hc
	return c
}

func balanceURL(baseURL, def string) string {
	return strings.TrimRight(cmp.Or(baseURL, def), "/") + "/v1/balance"
}

// transport is Go's default transport keeping n idle connections per host, n being the
// requests in flight at once, so a burst of polls (every app due at the same instant) finds
// its connections from the last burst still open; and opening at most n per host: Go puts a
// connection back in the idle pool a moment after its answer was read, and a request sent in
// that moment (the poller's next, at once) would otherwise dial one more. A caller running
// more requests than it said waits for a connection.
func transport(n int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = n
	t.MaxConnsPerHost = n
	t.MaxIdleConns = 2 * n // two hosts: the OTP API and the SMS API
	return t
}

// Balance does GET {base}/v1/balance of product's API with HTTP Basic auth devKey:devSecret
// ("" means ProductOTP). An OTP answer carries its currency; an SMS answer has none and is
// in USD.
//
// A transient failure is retried at most once, after a short jittered pause,
// and only if ctx leaves time for it; 401 and 403 are never retried. Every
// error is an *Error. A total that differs from balance + gift is returned
// as is: the caller, who knows which app it is, reports it (see Consistent).
func (c *Client) Balance(ctx context.Context, product balance.Product, devKey, devSecret string) (balance.Snapshot, error) {
	var endpoint string
	parse := parseBalance
	switch product {
	case balance.ProductOTP, "":
		endpoint = c.otpURL
	case balance.ProductSMS:
		endpoint, parse = c.smsURL, parseSMSBalance
	default:
		return balance.Snapshot{}, &Error{Kind: balance.Unclassified, Message: fmt.Sprintf("unknown product %q", product)}
	}
	b, err := c.fetch(ctx, endpoint, parse, devKey, devSecret)
	if err != nil && err.Transient() {
		pause := c.pause()
		if sleep(ctx, pause) {
			c.logger.Debug("retrying balance request", "error", err, "pause", pause)
			b, err = c.fetch(ctx, endpoint, parse, devKey, devSecret)
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

// parser reads a 200 answer of one product.
type parser func(body []byte, sc scrubber) (balance.Snapshot, *Error)

func (c *Client) fetch(ctx context.Context, endpoint string, parse parser, devKey, devSecret string) (balance.Snapshot, *Error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
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
	return parse(body, sc)
}

// scrubber is the only way upstream text gets into an Error: a misbehaving
// proxy may echo request headers back, so it blanks the credentials out.
//
// The text is normalised to one printable line first and the credentials are
// replaced in that line afterwards, in their normalised forms too: replacing
// first would let a stray control byte inside an echoed secret ("sec\x00ret")
// dodge the replacement and then be dropped by the normalising, leaving the
// secret whole. The cut to a maximum length comes last, so no part of a
// credential survives a cut either.
type scrubber []string

func newScrubber(devKey, devSecret string) scrubber {
	if devSecret == "" {
		return nil
	}
	pair := []byte(devKey + ":" + devSecret)
	forms := []string{
		base64.StdEncoding.EncodeToString(pair), // the Authorization header
		base64.RawStdEncoding.EncodeToString(pair),
		base64.URLEncoding.EncodeToString(pair),
		base64.RawURLEncoding.EncodeToString(pair),
		base64.StdEncoding.EncodeToString([]byte(devSecret)),
		base64.RawStdEncoding.EncodeToString([]byte(devSecret)),
		base64.URLEncoding.EncodeToString([]byte(devSecret)),
		base64.RawURLEncoding.EncodeToString([]byte(devSecret)),
		devSecret,
		url.QueryEscape(devSecret),
		url.PathEscape(devSecret),
	}
	var sc scrubber
	for _, f := range forms {
		// A secret with spaces or control characters is matched as the text's normalising leaves it.
		for _, v := range []string{f, normalise(f)} {
			if v != "" && !slices.Contains(sc, v) {
				sc = append(sc, v)
			}
		}
	}
	// Longest first, so a form that contains another is replaced whole.
	slices.SortStableFunc(sc, func(a, b string) int { return len(b) - len(a) })
	return sc
}

// line is s on one printable line, scrubbed, at most max runes.
func (sc scrubber) line(s string, max int) string {
	s = normalise(s)
	for _, secret := range sc {
		s = strings.ReplaceAll(s, secret, "***")
	}
	return cut(s, max)
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
	case !currencyRE.MatchString(s) || sc.line(s, len(s)) != s:
		// The second case is an echoed credential: it would be stored, and shown in messages.
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

// parseSMSBalance reads the SMS answer. Only its integer fields are used, each an amount in
// 1/10000 USD read exactly from its JSON text; the float fields beside them (balance,
// gift_balance, total_balance) are never read, since a float cannot hold every amount. The
// answer has no currency: SMS is settled in USD.
func parseSMSBalance(body []byte, sc scrubber) (balance.Snapshot, *Error) {
	var raw struct {
		Balance      json.RawMessage `json:"balance10000"`
		GiftBalance  json.RawMessage `json:"gift_balance10000"`
		TotalBalance json.RawMessage `json:"total_balance10000"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return balance.Snapshot{}, &Error{Kind: balance.InvalidResponse, HTTPStatus: http.StatusOK,
			Message: "HTTP 200 " + describe(body, sc), Err: err}
	}
	var problems []string
	note := func(problem string) { problems = append(problems, problem) }
	b := balance.Snapshot{
		Currency:     balance.Currency,
		Balance:      parseUnits10000("balance10000", raw.Balance, note, sc),
		GiftBalance:  parseUnits10000("gift_balance10000", raw.GiftBalance, note, sc),
		TotalBalance: parseUnits10000("total_balance10000", raw.TotalBalance, note, sc),
	}
	if len(problems) > 0 {
		return balance.Snapshot{}, &Error{Kind: balance.InvalidResponse, HTTPStatus: http.StatusOK,
			Message: "HTTP 200 with an invalid balance: " + strings.Join(problems, ", ")}
	}
	return b, nil
}

// parseUnits10000 reads a JSON integer counting 1/10000 USD. Strings, fractions and
// exponents are refused rather than guessed at: the vendor documents an integer.
func parseUnits10000(field string, raw json.RawMessage, note func(string), sc scrubber) decimal.Decimal {
	text := string(raw)
	switch {
	case len(raw) == 0 || text == "null":
		note(fmt.Sprintf("%q missing", field))
	case raw[0] == '"':
		note(fmt.Sprintf("%q is a string, not an integer (%s)", field, sc.quote(text)))
	case raw[0] != '-' && (raw[0] < '0' || raw[0] > '9'):
		note(fmt.Sprintf("%q is not an integer (%s)", field, sc.quote(text)))
	default:
		// raw is a valid JSON number here (json.Unmarshal checked the whole body), read from
		// its text as json.Number: never through a float.
		units, err := json.Number(text).Int64()
		var ne *strconv.NumError
		switch {
		case err == nil:
			d := balance.FromUnits10000(units)
			if balance.CheckAmount(d) != nil { // cannot happen for an int64; kept as the store's rule
				note(fmt.Sprintf("%q is out of range (%s)", field, sc.quote(text)))
				break
			}
			return d
		case strings.ContainsAny(text, ".eE"):
			note(fmt.Sprintf("%q is not an integer (%s)", field, sc.quote(text)))
		case errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange):
			note(fmt.Sprintf("%q is out of range (%s)", field, sc.quote(text)))
		default:
			note(fmt.Sprintf("%q is not an integer (%s)", field, sc.quote(text)))
		}
	}
	return decimal.Zero
}
