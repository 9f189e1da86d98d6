package engagelab

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
)

// FuzzParseBalance feeds arbitrary answers to the OTP and SMS parsers (and, for other
// statuses, to the error classification): they must never panic, never return a snapshot
// that NUMERIC(20,4) would round or refuse, and never return an error showing the secret,
// in any form the scrubber knows, however the answer hides it.
//
//	go test -run '^$' -fuzz FuzzParseBalance -fuzztime 10s ./internal/engagelab
func FuzzParseBalance(f *testing.F) {
	const key, secret = "fuzz-key", "Fz9-Secret-Kq"
	credentials := base64.StdEncoding.EncodeToString([]byte(key + ":" + secret))
	secretB64 := base64.StdEncoding.EncodeToString([]byte(secret))
	f.Add(false, 200, []byte(`{"currency":"USD","balance":"-12.3400","gift_balance":"1","total_balance":"-11.34"}`))
	f.Add(true, 200, []byte(`{"balance10000":-123400,"gift_balance10000":1,"total_balance10000":-123399,"balance":-12.34}`))
	f.Add(true, 401, []byte(`{"code":2001,"message":"bad `+secret+`"}`))
	sc := newScrubber(key, secret)
	f.Fuzz(func(t *testing.T, sms bool, status int, body []byte) {
		var b balance.Snapshot
		var e *Error
		switch {
		case status != http.StatusOK:
			e = statusError(status, body, sc)
		case sms:
			b, e = parseSMSBalance(body, sc)
		default:
			b, e = parseBalance(body, sc)
		}
		if e != nil {
			if e.Kind == "" {
				t.Fatalf("error without a kind: %v", e)
			}
			for _, s := range []string{e.Error(), e.Message, fmt.Sprintf("%+v", *e)} {
				for _, leak := range []string{secret, credentials, secretB64} {
					if strings.Contains(s, leak) {
						t.Fatalf("error shows %q: %s", leak, s)
					}
				}
			}
			return
		}
		for _, d := range []struct {
			name string
			err  error
		}{{"balance", balance.CheckAmount(b.Balance)}, {"gift_balance", balance.CheckAmount(b.GiftBalance)}, {"total_balance", balance.CheckAmount(b.TotalBalance)}} {
			if d.err != nil {
				t.Fatalf("snapshot %s: %v", d.name, d.err)
			}
		}
		if b.Currency == "" || strings.Contains(b.Currency, secret) || (sms && b.Currency != balance.Currency) {
			t.Fatalf("snapshot currency %q", b.Currency)
		}
	})
}
