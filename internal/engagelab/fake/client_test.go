package fake_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
)

// TestRealClient runs the real client against the fake: the two must agree on
// the wire format, the auth header and the error codes.
func TestRealClient(t *testing.T) {
	srv, f, c := serve(t, `
apps:
  - {name: shop, dev_key: k, dev_secret: "s3cret:with:colons", balance: "-12.34", gift_balance: "2", drain_per_minute: "1",
     steps: [{after: 10m, revoke: true}]}
  - {name: gone, dev_key: gone, dev_secret: s, steps: [{after: 0s, disable: true}]}
`)
	client := engagelab.New(srv.URL)
	ctx := func(d time.Duration) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		t.Cleanup(cancel)
		return ctx
	}

	c.At(time.Minute)
	b, err := client.Balance(ctx(5*time.Second), balance.ProductOTP, "k", "s3cret:with:colons")
	if err != nil {
		t.Fatalf("Balance: %v", err)
	}
	got := fmt.Sprintf("%s %s %s %s", b.Currency, b.Balance.StringFixed(4), b.GiftBalance.StringFixed(4), b.TotalBalance.StringFixed(4))
	if want := "USD -13.3400 2.0000 -11.3400"; got != want {
		t.Errorf("Balance = %s, want %s", got, want)
	}

	f.Fail("k", fake.Failure{Status: 500, Code: 1000, Message: "internal error", Times: 1})
	before := f.Requests("k")
	if _, err := client.Balance(ctx(5*time.Second), balance.ProductOTP, "k", "s3cret:with:colons"); err != nil {
		t.Errorf("Balance after one 500: %v, want the retry to succeed", err)
	}
	if n := f.Requests("k") - before; n != 2 {
		t.Errorf("requests = %d, want 2 (one retry)", n)
	}

	f.Fail("k", fake.Failure{Delay: fake.Duration(10 * time.Second), Times: 1})
	_, err = client.Balance(ctx(200*time.Millisecond), balance.ProductOTP, "k", "s3cret:with:colons")
	wantKind(t, "slow answer", err, balance.Timeout, "")

	f.Fail("k", fake.Failure{Status: 502, Body: "<html>Bad Gateway</html>", Times: 2})
	_, err = client.Balance(ctx(5*time.Second), balance.ProductOTP, "k", "s3cret:with:colons")
	wantKind(t, "HTML error page", err, balance.ServerError, `engagelab: HTTP 502 with a non-JSON body ("<html>Bad Gateway</html>")`)

	_, err = client.Balance(ctx(5*time.Second), balance.ProductOTP, "k", "wrong")
	wantKind(t, "wrong secret", err, balance.AuthFailed, "engagelab: authentication failed (HTTP 401, code 2001: invalid token)")

	_, err = client.Balance(ctx(5*time.Second), balance.ProductOTP, "gone", "s")
	wantKind(t, "disabled app", err, balance.AppUnavailable, "engagelab: application unavailable (HTTP 403, code 2002: application unavailable)")

	c.At(10 * time.Minute)
	_, err = client.Balance(ctx(5*time.Second), balance.ProductOTP, "k", "s3cret:with:colons")
	wantKind(t, "revoked key", err, balance.AuthFailed, "engagelab: authentication failed (HTTP 401, code 2002: token expired or disabled)")
}

// TestRealClientSMS: the real client reads the fake's SMS answers exactly, through the one
// fake serving as both base URLs.
func TestRealClientSMS(t *testing.T) {
	srv, f, _ := serve(t, `
apps:
  - {name: sms, dev_key: k, dev_secret: "s3cret", product: sms, balance: "-12.34", gift_balance: "0.0001"}
`)
	client := engagelab.New(srv.URL, engagelab.WithSMSBaseURL(srv.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := client.Balance(ctx, balance.ProductSMS, "k", "s3cret")
	if err != nil {
		t.Fatalf("Balance: %v", err)
	}
	got := fmt.Sprintf("%s %s %s %s", b.Currency, b.Balance.StringFixed(4), b.GiftBalance.StringFixed(4), b.TotalBalance.StringFixed(4))
	if want := "USD -12.3400 0.0001 -12.3399"; got != want {
		t.Errorf("Balance = %s, want %s", got, want)
	}
	// Asked as OTP, the SMS shape is not a balance.
	_, err = client.Balance(ctx, balance.ProductOTP, "k", "s3cret")
	wantKind(t, "SMS answer read as OTP", err, balance.InvalidResponse, "")
	f.Fail("k", fake.Failure{Status: 401, Code: 2002, Message: "token expired or disabled"})
	_, err = client.Balance(ctx, balance.ProductSMS, "k", "s3cret")
	wantKind(t, "revoked SMS key", err, balance.AuthFailed, "engagelab: authentication failed (HTTP 401, code 2002: token expired or disabled)")
}

func wantKind(t *testing.T, what string, err error, kind balance.FailureKind, msg string) {
	t.Helper()
	var e *engagelab.Error
	if !errors.As(err, &e) || e.Kind != kind {
		t.Errorf("%s: error = %v, want kind %s", what, err, kind)
		return
	}
	if msg != "" && err.Error() != msg {
		t.Errorf("%s: error = %s, want %s", what, err, msg)
	}
}
