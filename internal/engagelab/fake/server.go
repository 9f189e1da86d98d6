// Package fake is a fake EngageLab balance API, OTP and SMS, for tests, demos and
// benchmarks: scripted applications whose balances drain, get recharged, go
// into overdraft, fail, and lose their keys over time, on an injectable clock.
//
// It serves only GET /v1/balance, with the real APIs' answers and error codes;
// it is not a model of anything else EngageLab does. Both products share the
// path: an app scripted with product sms gets the SMS answer shape (integer
// amounts × 10000, floats beside them, no currency), so one fake serves as both
// engagelab.base_url and engagelab.sms_base_url.
package fake

import (
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// Server is the fake API, an http.Handler. Its methods are safe for
// concurrent use. The control methods (SetBalance...) panic on an unknown
// dev_key or a bad decimal: in a test, that is a mistake to stop at.
type Server struct {
	clock func() time.Time
	mux   *http.ServeMux

	mu       sync.Mutex
	apps     map[string]*app
	requests map[string]int // by the dev_key presented, known or not
}

// app is the live state of one scripted application.
type app struct {
	secret         string
	sms            bool // answers in the SMS API's shape
	currency       string
	origin         time.Time // offsets count from here
	drain          decimal.Decimal
	rechargeEvery  time.Duration
	rechargeAmount decimal.Decimal
	pending        []Step // scripted steps not applied yet

	paid   decimal.Decimal
	paidAt time.Duration // draining and recharges count from when paid was last set
	gift   decimal.Decimal
	total  *decimal.Decimal // SetTotal's override, until balance or gift changes

	fail              *Failure
	failLeft          int // requests left to fail when fail.Times > 0
	revoked, disabled bool
}

// New returns a fake serving s. clock nil means time.Now; scripted offsets count
// from clock() at New. It panics if s is invalid (Parse reports why).
func New(s Scenario, clock func() time.Time) *Server {
	if clock == nil {
		clock = time.Now
	}
	if err := s.validate(); err != nil {
		panic("fake: invalid scenario: " + err.Error())
	}
	srv := &Server{clock: clock, apps: map[string]*app{}, requests: map[string]int{}}
	start := clock()
	for _, a := range s.Apps {
		srv.apps[a.DevKey] = newApp(a, start)
	}
	srv.mux = http.NewServeMux()
	srv.mux.HandleFunc("GET /v1/balance", srv.balance)
	return srv
}

// AddApp adds an app whose offsets count from now.
func (s *Server) AddApp(a App) error {
	if errs := a.validate("app"); len(errs) > 0 {
		return fmt.Errorf("add app %s: %w", a.Name, errors.Join(errs...))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.apps[a.DevKey]; dup {
		return fmt.Errorf("add app %s: dev_key %q is taken", a.Name, a.DevKey)
	}
	s.apps[a.DevKey] = newApp(a, s.clock())
	return nil
}

func newApp(a App, origin time.Time) *app {
	orZero := func(s string) decimal.Decimal {
		if s == "" {
			return decimal.Zero
		}
		return decimal.RequireFromString(s) // validated already
	}
	return &app{
		secret:         a.DevSecret,
		sms:            a.Product == "sms",
		currency:       cmp.Or(a.Currency, "USD"),
		origin:         origin,
		drain:          orZero(a.DrainPerMinute),
		rechargeEvery:  time.Duration(a.RechargeEvery),
		rechargeAmount: orZero(a.RechargeAmount),
		pending:        a.Steps, // validated to be in order
		paid:           orZero(a.Balance),
		gift:           orZero(a.Gift),
	}
}

// ServeHTTP serves GET /v1/balance.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// SetBalance sets an app's paid and gift balance now; draining continues from there.
func (s *Server) SetBalance(devKey, balance, gift string) {
	s.control(devKey, func(a *app, at time.Duration) {
		a.apply(Step{Balance: &balance, Gift: &gift}, at)
	})
}

// SetTotal is SetBalance with a total_balance that need not be their sum.
func (s *Server) SetTotal(devKey, balance, gift, total string) {
	t := decimal.RequireFromString(total)
	s.control(devKey, func(a *app, at time.Duration) {
		a.apply(Step{Balance: &balance, Gift: &gift}, at)
		a.total = &t
	})
}

// Fail makes an app answer with f from now on (f.Times > 0: the next f.Times requests only).
func (s *Server) Fail(devKey string, f Failure) {
	s.control(devKey, func(a *app, at time.Duration) { a.apply(Step{Fail: &f}, at) })
}

// Recover ends an app's failure, revoke and disable.
func (s *Server) Recover(devKey string) {
	s.control(devKey, func(a *app, at time.Duration) { a.apply(Step{Recover: true}, at) })
}

// Requests reports how many requests presented devKey, authenticated or not.
func (s *Server) Requests(devKey string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[devKey]
}

func (s *Server) control(devKey string, change func(a *app, at time.Duration)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[devKey]
	if !ok {
		panic(fmt.Sprintf("fake: unknown dev_key %q", devKey))
	}
	at := a.advance(s.clock())
	change(a, at)
}

// advance applies the scripted steps due by now and returns the offset of now.
func (a *app) advance(now time.Time) time.Duration {
	at := now.Sub(a.origin)
	for len(a.pending) > 0 && time.Duration(a.pending[0].After) <= at {
		a.apply(a.pending[0], time.Duration(a.pending[0].After))
		a.pending = a.pending[1:]
	}
	return at
}

func (a *app) apply(st Step, at time.Duration) {
	if st.Drain != nil {
		// What the old rate drained (and any recharge) is settled; the new rate counts from now.
		a.paid, a.paidAt = a.paidNow(at), at
		a.drain = decimal.RequireFromString(*st.Drain)
	}
	if st.Balance != nil {
		a.paid, a.paidAt, a.total = decimal.RequireFromString(*st.Balance), at, nil
	}
	if st.Gift != nil {
		a.gift, a.total = decimal.RequireFromString(*st.Gift), nil
	}
	if st.Recover {
		a.fail, a.revoked, a.disabled = nil, false, false
	}
	if st.Fail != nil {
		f := *st.Fail
		a.fail, a.failLeft = &f, f.Times
	}
	a.revoked = a.revoked || st.Revoke
	a.disabled = a.disabled || st.Disable
}

// paidNow is the paid balance at offset at: drained linearly and recharged
// on every multiple of rechargeEvery since it was last set.
func (a *app) paidNow(at time.Duration) decimal.Decimal {
	elapsed := at - a.paidAt
	drained := a.drain.Mul(decimal.NewFromInt(int64(elapsed))).DivRound(decimal.NewFromInt(int64(time.Minute)), 8)
	paid := a.paid.Sub(drained)
	if a.rechargeEvery > 0 {
		recharges := int64(at/a.rechargeEvery) - int64(a.paidAt/a.rechargeEvery)
		paid = paid.Add(a.rechargeAmount.Mul(decimal.NewFromInt(recharges)))
	}
	return paid
}

// answer is what one request gets, decided under the lock and written after it.
type answer struct {
	status      int
	contentType string
	body        []byte
	delay       time.Duration
}

func (s *Server) balance(w http.ResponseWriter, r *http.Request) {
	ans := s.decide(r)
	if ans.delay > 0 {
		t := time.NewTimer(ans.delay)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
	w.Header().Set("Content-Type", ans.contentType)
	w.WriteHeader(ans.status)
	_, _ = w.Write(ans.body)
}

func (s *Server) decide(r *http.Request) answer {
	key, secret, ok := r.BasicAuth()
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok && key != "" {
		s.requests[key]++
	}
	a, known := s.apps[key]
	if !ok || !known || subtle.ConstantTimeCompare([]byte(secret), []byte(a.secret)) != 1 {
		return apiError(http.StatusUnauthorized, 2001, "invalid token")
	}
	at := a.advance(s.clock())
	switch {
	case a.revoked:
		return apiError(http.StatusUnauthorized, 2002, "token expired or disabled")
	case a.disabled:
		return apiError(http.StatusForbidden, 2002, "application unavailable")
	case a.fail != nil:
		f := *a.fail
		if f.Times > 0 {
			if a.failLeft--; a.failLeft == 0 {
				a.fail = nil
			}
		}
		var ans answer
		switch {
		case f.Status == 0: // only slow
			ans = a.balanceAnswer(at)
		case f.Body != "":
			ans = answer{status: f.Status, contentType: http.DetectContentType([]byte(f.Body)), body: []byte(f.Body)}
		default:
			ans = apiError(f.Status, f.Code, f.Message)
		}
		ans.delay = time.Duration(f.Delay)
		return ans
	}
	return a.balanceAnswer(at)
}

func (a *app) balanceAnswer(at time.Duration) answer {
	// Rounded before adding, so the total is exactly the sum of what is shown.
	paid, gift := a.paidNow(at).Round(4), a.gift.Round(4)
	total := paid.Add(gift)
	if a.total != nil {
		total = a.total.Round(4)
	}
	if a.sms {
		units := func(d decimal.Decimal) int64 { return d.Shift(4).IntPart() }
		// The floats are there because the real answer has them; clients must not use them.
		return jsonAnswer(http.StatusOK, struct {
			Balance           int64   `json:"balance10000"`
			GiftBalance       int64   `json:"gift_balance10000"`
			TotalBalance      int64   `json:"total_balance10000"`
			BalanceFloat      float64 `json:"balance"`
			GiftBalanceFloat  float64 `json:"gift_balance"`
			TotalBalanceFloat float64 `json:"total_balance"`
		}{units(paid), units(gift), units(total), paid.InexactFloat64(), gift.InexactFloat64(), total.InexactFloat64()})
	}
	return jsonAnswer(http.StatusOK, struct {
		Currency     string `json:"currency"`
		Balance      string `json:"balance"`
		GiftBalance  string `json:"gift_balance"`
		TotalBalance string `json:"total_balance"`
	}{a.currency, paid.StringFixed(4), gift.StringFixed(4), total.StringFixed(4)})
}

func apiError(status, code int, message string) answer {
	return jsonAnswer(status, struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, message})
}

func jsonAnswer(status int, v any) answer {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings and ints always marshal
	}
	return answer{status: status, contentType: "application/json", body: body}
}
