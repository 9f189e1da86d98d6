package engagelab_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab"
)

// smsClient is a client whose SMS base is url and whose OTP base must never be asked.
func smsClient(t *testing.T, url string) *engagelab.Client {
	t.Helper()
	otp, n := serve(t, answer{500, `{"code":1000,"message":"not this API"}`})
	t.Cleanup(func() {
		if n.Load() != 0 {
			t.Errorf("the OTP API got %d requests for an SMS balance", n.Load())
		}
	})
	return engagelab.New(otp.URL, engagelab.WithSMSBaseURL(url))
}

func TestSMSBalanceSuccess(t *testing.T) {
	tests := []struct {
		name           string
		body           string
		bal, gift, tot string
	}{
		{
			name: "vendor example shape",
			body: `{"balance10000":1234500,"gift_balance10000":10000,"total_balance10000":1244500,"balance":123.45,"gift_balance":1,"total_balance":124.45}`,
			bal:  "123.4500", gift: "1.0000", tot: "124.4500",
		},
		{
			name: "negative overdraft",
			body: `{"balance10000":-123400,"gift_balance10000":0,"total_balance10000":-123400}`,
			bal:  "-12.3400", gift: "0.0000", tot: "-12.3400",
		},
		{
			name: "one unit is 0.0001",
			body: `{"balance10000":1,"gift_balance10000":0,"total_balance10000":1}`,
			bal:  "0.0001", gift: "0.0000", tot: "0.0001",
		},
		{
			name: "minus one unit",
			body: `{"balance10000":-1,"gift_balance10000":0,"total_balance10000":-1}`,
			bal:  "-0.0001", gift: "0.0000", tot: "-0.0001",
		},
		{
			// The floats disagree with the integers: only the integers count.
			name: "float fields never used",
			body: `{"balance":0.30000000000000004,"gift_balance":"x","total_balance":null,"balance10000":3000,"gift_balance10000":0,"total_balance10000":3000}`,
			bal:  "0.3000", gift: "0.0000", tot: "0.3000",
		},
		{
			// Beyond float64's 2^53: a float would round it.
			name: "largest int64, exact",
			body: `{"balance10000":9223372036854775807,"gift_balance10000":0,"total_balance10000":9223372036854775807}`,
			bal:  "922337203685477.5807", gift: "0.0000", tot: "922337203685477.5807",
		},
		{
			name: "just past 2^53, exact",
			body: `{"balance10000":9007199254740993,"gift_balance10000":-9007199254740993,"total_balance10000":0}`,
			bal:  "900719925474.0993", gift: "-900719925474.0993", tot: "0.0000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, n := serve(t, answer{200, tt.body})
			b, err := smsClient(t, srv.URL).Balance(ctxWithTimeout(t, 5*time.Second), balance.ProductSMS, testKey, testSecret)
			if err != nil {
				t.Fatalf("Balance: %v", err)
			}
			got := fmt.Sprintf("%s %s %s %s", b.Currency, b.Balance.StringFixed(4), b.GiftBalance.StringFixed(4), b.TotalBalance.StringFixed(4))
			if want := fmt.Sprintf("USD %s %s %s", tt.bal, tt.gift, tt.tot); got != want {
				t.Errorf("Balance = %s, want %s", got, want)
			}
			for _, d := range []decimal.Decimal{b.Balance, b.GiftBalance, b.TotalBalance} {
				if err := balance.CheckAmount(d); err != nil {
					t.Errorf("amount %s does not fit NUMERIC(20,4): %v", d, err)
				}
			}
			if n.Load() != 1 {
				t.Errorf("requests = %d, want 1", n.Load())
			}
		})
	}
}

func TestSMSBalanceErrors(t *testing.T) {
	valid := func(field, value string) string {
		fields := map[string]string{"balance10000": "10000", "gift_balance10000": "0", "total_balance10000": "10000"}
		fields[field] = value
		return fmt.Sprintf(`{"balance10000":%s,"gift_balance10000":%s,"total_balance10000":%s,"balance":1,"gift_balance":0,"total_balance":1}`,
			fields["balance10000"], fields["gift_balance10000"], fields["total_balance10000"])
	}
	invalid := "HTTP 200 with an invalid balance: "
	tests := []struct {
		name    string
		answer  answer
		kind    balance.FailureKind
		code    int
		message string
	}{
		{"OTP shape", answer{200, `{"currency":"USD","balance":"1.0000","gift_balance":"0.0000","total_balance":"1.0000"}`}, balance.InvalidResponse, 0,
			invalid + `"balance10000" missing, "gift_balance10000" missing, "total_balance10000" missing`},
		{"floats only", answer{200, `{"balance":1.5,"gift_balance":0,"total_balance":1.5}`}, balance.InvalidResponse, 0,
			invalid + `"balance10000" missing, "gift_balance10000" missing, "total_balance10000" missing`},
		{"null", answer{200, valid("gift_balance10000", "null")}, balance.InvalidResponse, 0, invalid + `"gift_balance10000" missing`},
		{"string", answer{200, valid("balance10000", `"10000"`)}, balance.InvalidResponse, 0,
			invalid + `"balance10000" is a string, not an integer ("\"10000\"")`},
		{"fraction", answer{200, valid("total_balance10000", "1.5")}, balance.InvalidResponse, 0,
			invalid + `"total_balance10000" is not an integer ("1.5")`},
		{"integral float", answer{200, valid("total_balance10000", "10000.0")}, balance.InvalidResponse, 0,
			invalid + `"total_balance10000" is not an integer ("10000.0")`},
		{"exponent", answer{200, valid("balance10000", "1e4")}, balance.InvalidResponse, 0,
			invalid + `"balance10000" is not an integer ("1e4")`},
		{"above int64", answer{200, valid("balance10000", "9223372036854775808")}, balance.InvalidResponse, 0,
			invalid + `"balance10000" is out of range ("9223372036854775808")`},
		{"below int64", answer{200, valid("gift_balance10000", "-99999999999999999999999")}, balance.InvalidResponse, 0,
			invalid + `"gift_balance10000" is out of range ("-99999999999999999999999")`},
		{"boolean", answer{200, valid("balance10000", "true")}, balance.InvalidResponse, 0,
			invalid + `"balance10000" is not an integer ("true")`},
		{"object", answer{200, valid("balance10000", `{"v":1}`)}, balance.InvalidResponse, 0,
			invalid + `"balance10000" is not an integer ("{\"v\":1}")`},
		{"all wrong at once", answer{200, `{"balance10000":"1","gift_balance10000":0.5}`}, balance.InvalidResponse, 0,
			invalid + `"balance10000" is a string, not an integer ("\"1\""), "gift_balance10000" is not an integer ("0.5"), "total_balance10000" missing`},
		{"not an object", answer{200, `[1,2,3]`}, balance.InvalidResponse, 0, `HTTP 200 with an unexpected JSON body ("[1,2,3]")`},
		{"HTML", answer{200, `<html>login</html>`}, balance.InvalidResponse, 0, `HTTP 200 with a non-JSON body ("<html>login</html>")`},
		// Failures are classified by HTTP status as for OTP, code and message kept.
		{"401", answer{401, `{"code":2001,"message":"invalid token"}`}, balance.AuthFailed, 2001, "invalid token"},
		{"403", answer{403, `{"code":2002,"message":"application unavailable"}`}, balance.AppUnavailable, 2002, "application unavailable"},
		{"500", answer{500, `{"code":1000,"message":"internal error"}`}, balance.ServerError, 1000, "internal error"},
		{"404 with an unknown code", answer{404, `{"code":3003,"message":"no such route"}`}, balance.UnexpectedStatus, 3003, "no such route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := serve(t, tt.answer)
			_, err := smsClient(t, srv.URL).Balance(ctxWithTimeout(t, 5*time.Second), balance.ProductSMS, testKey, testSecret)
			var e *engagelab.Error
			if !errors.As(err, &e) {
				t.Fatalf("Balance error = %v (%T), want *engagelab.Error", err, err)
			}
			got := fmt.Sprintf("kind=%s status=%d code=%d message=%q", e.Kind, e.HTTPStatus, e.Code, e.Message)
			want := fmt.Sprintf("kind=%s status=%d code=%d message=%q", tt.kind, tt.answer.status, tt.code, tt.message)
			if got != want {
				t.Errorf("error fields:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestProductsUseTheirBase: each product's request goes to its own base URL.
func TestProductsUseTheirBase(t *testing.T) {
	otp, otpN := serve(t, answer{200, `{"currency":"USD","balance":"1.0000","gift_balance":"0.0000","total_balance":"1.0000"}`})
	sms, smsN := serve(t, answer{200, `{"balance10000":20000,"gift_balance10000":0,"total_balance10000":20000}`})
	c := engagelab.New(otp.URL+"/", engagelab.WithSMSBaseURL(sms.URL+"/"))
	for _, tt := range []struct {
		product balance.Product
		want    string
	}{{balance.ProductOTP, "1.0000"}, {"", "1.0000"}, {balance.ProductSMS, "2.0000"}} {
		b, err := c.Balance(ctxWithTimeout(t, 5*time.Second), tt.product, testKey, testSecret)
		if err != nil || b.TotalBalance.StringFixed(4) != tt.want {
			t.Errorf("Balance(%q) = %s, %v; want %s", tt.product, b.TotalBalance.StringFixed(4), err, tt.want)
		}
	}
	if otpN.Load() != 2 || smsN.Load() != 1 {
		t.Errorf("requests: OTP %d, SMS %d; want 2 and 1", otpN.Load(), smsN.Load())
	}
	_, err := c.Balance(ctxWithTimeout(t, 5*time.Second), "whatsapp", testKey, testSecret)
	if err == nil || err.Error() != `engagelab: unknown product "whatsapp"` {
		t.Errorf("unknown product: error = %v", err)
	}
}
