// Package balance holds the domain words every step of the data path shares: a Snapshot of an
// app's balance, a classified Failure of a poll, and the rules for amounts (exact decimals that
// fit NUMERIC(20,4)). It imports nothing of this module, so the EngageLab client, the alert
// rules, the store and the config can all speak it without converting field by field.
package balance

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/shopspring/decimal"
)

// Snapshot is one successful poll of an app's balance, amounts exact as EngageLab sent them.
type Snapshot struct {
	PolledAt     time.Time
	Currency     string
	Balance      decimal.Decimal // paid balance, from recharges
	GiftBalance  decimal.Decimal // promotional credit; it can expire
	TotalBalance decimal.Decimal // as computed by EngageLab; never "fixed" here
}

// Consistent reports whether TotalBalance == Balance + GiftBalance.
func (s Snapshot) Consistent() bool {
	return s.TotalBalance.Equal(s.Balance.Add(s.GiftBalance))
}

// Amount kinds an app may alert on (config key `amount`).
const (
	AmountTotalBalance = "total_balance"
	AmountBalance      = "balance"
)

// Amount is the amount kind names: Balance for AmountBalance, else TotalBalance.
func (s Snapshot) Amount(kind string) decimal.Decimal {
	if kind == AmountBalance {
		return s.Balance
	}
	return s.TotalBalance
}

// FailureKind classifies a failed poll by what a monitor should do about it.
type FailureKind string

const (
	// AuthFailed is HTTP 401 (code 2001: wrong token; code 2002: token expired or disabled).
	AuthFailed FailureKind = "auth_failed"
	// AppUnavailable is HTTP 403 with code 2002: the application is deleted or disabled.
	AppUnavailable FailureKind = "app_unavailable"
	// ServerError is code 1000 or any 5xx.
	ServerError FailureKind = "server_error"
	// UnexpectedStatus is any other status that is not 200 (404, 429, 400, 3xx...).
	UnexpectedStatus FailureKind = "unexpected_status"
	// InvalidResponse is a 200 whose body is not the documented balance JSON.
	InvalidResponse FailureKind = "invalid_response"
	// Timeout is a request that ran out of time (or was cancelled) before an answer.
	Timeout FailureKind = "timeout"
	// Network is a connection that failed: refused, reset, DNS.
	Network FailureKind = "network"
	// Unclassified is an error that did not come from the EngageLab client.
	Unclassified FailureKind = "error"
)

// Failure is one failed poll, already classified. It never holds a secret.
type Failure struct {
	At         time.Time   `json:"at"`
	Kind       FailureKind `json:"kind"`
	HTTPStatus int         `json:"http_status"`
	Code       int         `json:"code"`
	Message    string      `json:"message"`
}

// MaxAmount is the first magnitude NUMERIC(20,4) cannot hold: 16 integer digits.
var MaxAmount = decimal.New(1, 16)

// The ways an amount can be unfit for NUMERIC(20,4); callers word them for their audience.
var (
	ErrNotDecimal = errors.New("not a decimal")
	ErrTooPrecise = errors.New("more than 4 decimal places")
	ErrOutOfRange = errors.New("out of range")
)

// CheckAmount refuses a value Postgres would round or reject: NUMERIC(20,4) silently rounds
// extra fraction digits, and money must be stored exactly as received.
func CheckAmount(d decimal.Decimal) error {
	if !d.Equal(d.Truncate(4)) {
		return fmt.Errorf("amount %s: %w", d.String(), ErrTooPrecise)
	}
	if d.Abs().Cmp(MaxAmount) >= 0 {
		return fmt.Errorf("amount %s: %w", d.String(), ErrOutOfRange)
	}
	return nil
}

// plainDecimal is a decimal as people and EngageLab write it: no exponent, so a hostile
// "1e999999999" cannot make us build a billion-digit number.
var plainDecimal = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)

// ParseAmount reads an amount from its exact text (never through a float) and checks that
// NUMERIC(20,4) holds it without rounding. It returns one of ErrNotDecimal, ErrTooPrecise or
// ErrOutOfRange, quoting nothing, so callers decide how much of the text may be shown.
func ParseAmount(text string) (decimal.Decimal, error) {
	if !plainDecimal.MatchString(text) {
		return decimal.Zero, ErrNotDecimal
	}
	d, err := decimal.NewFromString(text)
	if err != nil {
		return decimal.Zero, ErrNotDecimal
	}
	if !d.Equal(d.Truncate(4)) {
		return decimal.Zero, ErrTooPrecise
	}
	if d.Abs().Cmp(MaxAmount) >= 0 {
		return decimal.Zero, ErrOutOfRange
	}
	return d, nil
}

// FromUnits10000 is the exact amount of an integer count of 1/10000 USD, the unit of the SMS
// balance API (`balance10000`): -123400 is -12.3400.
func FromUnits10000(units int64) decimal.Decimal {
	return decimal.New(units, -4)
}

// Product is the EngageLab product whose balance API an app is read from (config key `product`).
type Product string

const (
	// ProductOTP is EngageLab OTP: amounts as decimal strings, with a currency.
	ProductOTP Product = "otp"
	// ProductSMS is EngageLab SMS: amounts as integers in 1/10000 USD, no currency field.
	ProductSMS Product = "sms"
)

// Currency is the currency of EngageLab balances and of every threshold in the config.
const Currency = "USD"

// Comparable reports whether s can be compared with the thresholds, which are in Currency.
func (s Snapshot) Comparable() bool { return s.Currency == Currency }

// CurrencyFailure is how alerts must see a snapshot in another currency than Currency: it is
// stored as history exactly as received, but comparing it with USD thresholds would be
// meaningless, so for the alert rules it is a failed poll (an upstream contract change, like
// any other invalid answer), never a balance. It is nil when s is Comparable.
func (s Snapshot) CurrencyFailure(at time.Time) *Failure {
	if s.Comparable() {
		return nil
	}
	return &Failure{At: at, Kind: InvalidResponse, HTTPStatus: 200, Message: fmt.Sprintf(
		"HTTP 200 in %s, not %s: the balance is stored but not compared with the %s thresholds",
		s.Currency, Currency, Currency)}
}
