package fake_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/clocktest"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
)

// clock is a settable clock for the fake, moved relative to start.
type clock struct{ *clocktest.Clock }

var start = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func newClock() *clock { return &clock{clocktest.New(start)} }

// At sets the clock to start + d.
func (c *clock) At(d time.Duration) { c.Set(start.Add(d)) }

// serve starts the fake for a YAML scenario on a settable clock.
func serve(t *testing.T, scenario string) (*httptest.Server, *fake.Server, *clock) {
	t.Helper()
	s, err := fake.Parse([]byte(scenario))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	c := newClock()
	f := fake.New(s, c.Now)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv, f, c
}

// get asks for a balance as a client would; key "" sends no Authorization.
func get(t *testing.T, srv *httptest.Server, key, secret string) (status int, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/balance", nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.SetBasicAuth(key, secret)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET /v1/balance: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func balanceJSON(bal, gift, total string) string {
	return fmt.Sprintf(`{"currency":"USD","balance":"%s","gift_balance":"%s","total_balance":"%s"}`, bal, gift, total)
}

type instant struct {
	at     time.Duration
	status int
	body   string
}

// check walks the clock through instants (in order) and checks each answer.
func check(t *testing.T, srv *httptest.Server, c *clock, key, secret string, instants []instant) {
	t.Helper()
	for _, in := range instants {
		c.At(in.at)
		status, body := get(t, srv, key, secret)
		if status != in.status || body != in.body {
			t.Errorf("at %v: got %d %s\nwant %d %s", in.at, status, body, in.status, in.body)
		}
	}
}

func TestTimeline(t *testing.T) {
	srv, _, c := serve(t, `
apps:
  - name: shop
    dev_key: k
    dev_secret: s
    balance: "100"
    gift_balance: "5"
    drain_per_minute: "1.5"
    steps:
      - after: 5m
        balance: "50"
        gift_balance: "0"
      - after: 10m
        gift_balance: "2.5"
`)
	check(t, srv, c, "k", "s", []instant{
		{0, 200, balanceJSON("100.0000", "5.0000", "105.0000")},
		{20 * time.Second, 200, balanceJSON("99.5000", "5.0000", "104.5000")},
		{90 * time.Second, 200, balanceJSON("97.7500", "5.0000", "102.7500")},
		{5*time.Minute - time.Second, 200, balanceJSON("92.5250", "5.0000", "97.5250")},
		{5 * time.Minute, 200, balanceJSON("50.0000", "0.0000", "50.0000")},
		{7 * time.Minute, 200, balanceJSON("47.0000", "0.0000", "47.0000")},
		{10 * time.Minute, 200, balanceJSON("42.5000", "2.5000", "45.0000")},
	})
}

func TestDrainAndRecharge(t *testing.T) {
	t.Run("drain into overdraft", func(t *testing.T) {
		srv, _, c := serve(t, `
apps: [{name: a, dev_key: k, dev_secret: s, balance: "10", gift_balance: "0.5", drain_per_minute: "6"}]`)
		check(t, srv, c, "k", "s", []instant{
			{time.Minute, 200, balanceJSON("4.0000", "0.5000", "4.5000")},
			{3 * time.Minute, 200, balanceJSON("-8.0000", "0.5000", "-7.5000")},
		})
	})
	t.Run("recharge every period, counted from the last set balance", func(t *testing.T) {
		srv, _, c := serve(t, `
apps:
  - {name: a, dev_key: k, dev_secret: s, balance: "10", drain_per_minute: "1", recharge_every: 5m, recharge_amount: "100",
     steps: [{after: 7m, balance: "0"}]}`)
		check(t, srv, c, "k", "s", []instant{
			{299 * time.Second, 200, balanceJSON("5.0167", "0.0000", "5.0167")},
			{5 * time.Minute, 200, balanceJSON("105.0000", "0.0000", "105.0000")},
			{7 * time.Minute, 200, balanceJSON("0.0000", "0.0000", "0.0000")},
			{12 * time.Minute, 200, balanceJSON("95.0000", "0.0000", "95.0000")},
		})
	})
}

func TestFailures(t *testing.T) {
	const (
		ok    = `{"currency":"USD","balance":"10.0000","gift_balance":"0.0000","total_balance":"10.0000"}`
		e1000 = `{"code":1000,"message":"internal error"}`
		page  = "<html><body><h1>502 Bad Gateway</h1></body></html>"
	)
	type reply struct {
		status      int
		contentType string
		body        string
	}
	var (
		okReply    = reply{200, "application/json", ok}
		e1000Reply = reply{500, "application/json", e1000}
	)
	tests := []struct {
		name    string
		failure fake.Failure
		recover bool // call Recover after the first two requests
		want    []reply
	}{
		{
			name:    "status, code and message until recovered",
			failure: fake.Failure{Status: 500, Code: 1000, Message: "internal error"},
			want:    []reply{e1000Reply, e1000Reply, e1000Reply},
		},
		{
			name:    "recover",
			failure: fake.Failure{Status: 500, Code: 1000, Message: "internal error"},
			recover: true,
			want:    []reply{e1000Reply, e1000Reply, okReply},
		},
		{
			name:    "raw HTML body",
			failure: fake.Failure{Status: 502, Body: page},
			want:    []reply{{502, "text/html; charset=utf-8", page}, {502, "text/html; charset=utf-8", page}},
		},
		{
			name:    "200 with HTML",
			failure: fake.Failure{Status: 200, Body: page},
			want:    []reply{{200, "text/html; charset=utf-8", page}},
		},
		{
			name:    "times 2 then healthy",
			failure: fake.Failure{Status: 500, Code: 1000, Message: "internal error", Times: 2},
			want:    []reply{e1000Reply, e1000Reply, okReply, okReply},
		},
		{
			name:    "429 without code",
			failure: fake.Failure{Status: 429, Times: 1},
			want:    []reply{{429, "application/json", `{"code":0,"message":""}`}, okReply},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, f, _ := serve(t, `apps: [{name: a, dev_key: k, dev_secret: s, balance: "10"}]`)
			f.Fail("k", tt.failure)
			for i, want := range tt.want {
				if i == 2 && tt.recover {
					f.Recover("k")
				}
				resp, err := srv.Client().Do(authed(t, srv, "k", "s"))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got := reply{resp.StatusCode, resp.Header.Get("Content-Type"), string(body)}
				if got != want {
					t.Errorf("request %d: got %+v\nwant %+v", i+1, got, want)
				}
			}
			if got := f.Requests("k"); got != len(tt.want) {
				t.Errorf("Requests = %d, want %d", got, len(tt.want))
			}
		})
	}
}

func authed(t *testing.T, srv *httptest.Server, key, secret string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/balance", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(key, secret)
	return req
}

func TestDelay(t *testing.T) {
	srv, f, _ := serve(t, `apps: [{name: a, dev_key: k, dev_secret: s, balance: "10"}]`)
	f.Fail("k", fake.Failure{Delay: fake.Duration(300 * time.Millisecond), Times: 1})
	for i, minTook := range []time.Duration{300 * time.Millisecond, 0} {
		began := time.Now()
		status, body := get(t, srv, "k", "s")
		took := time.Since(began)
		if status != 200 || body != balanceJSON("10.0000", "0.0000", "10.0000") {
			t.Errorf("request %d: got %d %s, want the balance", i+1, status, body)
		}
		if took < minTook || minTook == 0 && took > 250*time.Millisecond {
			t.Errorf("request %d took %v, want a delay of %v", i+1, took, minTook)
		}
	}
}

func TestRevokeAndDisable(t *testing.T) {
	srv, f, c := serve(t, `
apps:
  - {name: old, dev_key: old, dev_secret: s, balance: "1", steps: [{after: 1m, revoke: true}]}
  - {name: gone, dev_key: gone, dev_secret: s, balance: "1", steps: [{after: 1m, disable: true}]}
`)
	revoked := `{"code":2002,"message":"token expired or disabled"}`
	disabled := `{"code":2002,"message":"application unavailable"}`
	healthy := balanceJSON("1.0000", "0.0000", "1.0000")
	check(t, srv, c, "old", "s", []instant{{59 * time.Second, 200, healthy}, {time.Minute, 401, revoked}, {time.Hour, 401, revoked}})
	check(t, srv, c, "gone", "s", []instant{{time.Hour, 403, disabled}})
	f.Recover("old")
	f.Recover("gone")
	check(t, srv, c, "old", "s", []instant{{time.Hour, 200, healthy}})
	check(t, srv, c, "gone", "s", []instant{{time.Hour, 200, healthy}})
}

func TestAuthentication(t *testing.T) {
	srv, f, _ := serve(t, `apps: [{name: a, dev_key: k, dev_secret: right, balance: "1"}]`)
	const invalid = `{"code":2001,"message":"invalid token"}`
	tests := []struct {
		name        string
		key, secret string
		status      int
		body        string
	}{
		{"right secret", "k", "right", 200, balanceJSON("1.0000", "0.0000", "1.0000")},
		{"wrong secret", "k", "wrong", 401, invalid},
		{"secret with a suffix", "k", "right2", 401, invalid},
		{"unknown key", "nobody", "right", 401, invalid},
		{"no Authorization header", "", "", 401, invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, srv, tt.key, tt.secret)
			if status != tt.status || body != tt.body {
				t.Errorf("got %d %s, want %d %s", status, body, tt.status, tt.body)
			}
		})
	}
	if got := f.Requests("k"); got != 3 {
		t.Errorf(`Requests("k") = %d, want 3 (authenticated or not)`, got)
	}
	if got := f.Requests("nobody"); got != 1 {
		t.Errorf(`Requests("nobody") = %d, want 1`, got)
	}
}

func TestRoutes(t *testing.T) {
	srv, _, _ := serve(t, `apps: [{name: a, dev_key: k, dev_secret: s}]`)
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPost, "/v1/balance", 405},
		{http.MethodGet, "/v1/other", 404},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		req.SetBasicAuth("k", "s")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
		}
	}
}

func TestControl(t *testing.T) {
	srv, f, c := serve(t, `apps: [{name: a, dev_key: k, dev_secret: s, balance: "100", drain_per_minute: "2"}]`)
	c.At(10 * time.Minute)
	f.SetBalance("k", "50", "1.5")
	check(t, srv, c, "k", "s", []instant{
		{10 * time.Minute, 200, balanceJSON("50.0000", "1.5000", "51.5000")},
		{11 * time.Minute, 200, balanceJSON("48.0000", "1.5000", "49.5000")}, // drain goes on from the new balance
	})
	f.SetTotal("k", "10", "1", "12")
	check(t, srv, c, "k", "s", []instant{{11 * time.Minute, 200, balanceJSON("10.0000", "1.0000", "12.0000")}})

	if err := f.AddApp(fake.App{Name: "new", DevKey: "k2", DevSecret: "s2", Balance: "7", DrainPerMinute: "1"}); err != nil {
		t.Fatalf("AddApp: %v", err)
	}
	// The new app's clock starts when it is added, at 11m.
	check(t, srv, c, "k2", "s2", []instant{{12 * time.Minute, 200, balanceJSON("6.0000", "0.0000", "6.0000")}})

	for _, tt := range []struct {
		name string
		app  fake.App
		want string
	}{
		{"taken key", fake.App{Name: "dup", DevKey: "k", DevSecret: "x"}, `add app dup: dev_key "k" is taken`},
		{"bad decimal", fake.App{Name: "bad", DevKey: "k3", DevSecret: "x", Balance: "1,5"}, `add app bad: app.balance: "1,5" is not a decimal`},
	} {
		if err := f.AddApp(tt.app); err == nil || err.Error() != tt.want {
			t.Errorf("%s: AddApp error = %v, want %s", tt.name, err, tt.want)
		}
	}
}

// TestSMSShape: an app scripted with product sms answers on the same path in the SMS API's
// shape: integers × 10000, floats beside them, no currency.
func TestSMSShape(t *testing.T) {
	srv, f, c := serve(t, `
apps:
  - {name: otp, dev_key: o, dev_secret: s, balance: "1.5"}
  - {name: sms, dev_key: k, dev_secret: s, product: sms, balance: "0.0001", gift_balance: "2", drain_per_minute: "1"}
`)
	if status, body := get(t, srv, "o", "s"); status != 200 || body != balanceJSON("1.5000", "0.0000", "1.5000") {
		t.Errorf("OTP app: %d %s", status, body)
	}
	want := `{"balance10000":1,"gift_balance10000":20000,"total_balance10000":20001,"balance":0.0001,"gift_balance":2,"total_balance":2.0001}`
	if status, body := get(t, srv, "k", "s"); status != 200 || body != want {
		t.Errorf("SMS app: %d %s\nwant 200 %s", status, body, want)
	}
	c.At(90 * time.Second) // 1.5 drained: into overdraft
	want = `{"balance10000":-14999,"gift_balance10000":20000,"total_balance10000":5001,"balance":-1.4999,"gift_balance":2,"total_balance":0.5001}`
	if status, body := get(t, srv, "k", "s"); status != 200 || body != want {
		t.Errorf("SMS app after 90s: %d %s\nwant 200 %s", status, body, want)
	}
	f.SetTotal("k", "-12.34", "0", "-12.3401")
	want = `{"balance10000":-123400,"gift_balance10000":0,"total_balance10000":-123401,"balance":-12.34,"gift_balance":0,"total_balance":-12.3401}`
	if status, body := get(t, srv, "k", "s"); status != 200 || body != want {
		t.Errorf("SMS app with a set total: %d %s\nwant 200 %s", status, body, want)
	}
	f.Fail("k", fake.Failure{Status: 500, Code: 1000, Message: "internal error", Times: 1})
	if status, body := get(t, srv, "k", "s"); status != 500 || body != `{"code":1000,"message":"internal error"}` {
		t.Errorf("SMS app failing: %d %s", status, body)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"no apps", `apps: []`, "scenario has no apps"},
		{"unknown field", `apps: [{name: a, dev_key: k, dev_secret: s, balanse: "1"}]`,
			"parse scenario: yaml: unmarshal errors:\n  line 1: field balanse not found in type fake.App"},
		{"bad product", `apps: [{name: a, dev_key: k, dev_secret: s, product: whatsapp}, {name: b, dev_key: l, dev_secret: s, product: sms, currency: EUR}]`,
			"apps[0].product: \"whatsapp\" is neither otp nor sms\napps[1].currency: the SMS API answers in USD, without a currency field"},
		{"bad duration", `apps: [{name: a, dev_key: k, dev_secret: s, recharge_every: soon, recharge_amount: "1"}]`,
			`parse scenario: line 1: "soon" is not a duration such as 90s or 5m`},
		{"every problem at once", `
apps:
  - {name: a, dev_key: k, dev_secret: s, balance: "ten", recharge_every: 1h}
  - name: b
    dev_key: k
    steps:
      - {after: 2m, balance: ""}
      - {after: 1m, fail: {status: 700}}
      - {after: 3m, fail: {body: "<html>"}}
`, `apps[0].balance: "ten" is not a decimal
apps[0].recharge_amount: missing (recharge_every is set)
apps[1].dev_key: "k" is also the key of apps[0]
apps[1].dev_secret: missing
apps[1].steps[0].balance: "" is not a decimal
apps[1].steps[1].after: steps must be in order of after, from 0
apps[1].steps[1].fail: status 700 is not an HTTP status from 200 to 599
apps[1].steps[2].fail: status missing: body, code and message need one`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fake.Parse([]byte(tt.yaml))
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse error =\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestDemo(t *testing.T) {
	// The file users copy is the one Demo() runs.
	fromFile, err := fake.Load(filepath.Join(".", "demo.yaml"))
	if err != nil {
		t.Fatalf("Load demo.yaml: %v", err)
	}
	demo := fake.Demo()
	if len(fromFile.Apps) != len(demo.Apps) {
		t.Fatalf("demo.yaml has %d apps, Demo() %d", len(fromFile.Apps), len(demo.Apps))
	}

	c := newClock()
	srv := httptest.NewServer(fake.New(demo, c.Now))
	defer srv.Close()
	want := map[string]instant{
		"checkout":  {0, 200, balanceJSON("5000.0000", "50.0000", "5050.0000")},
		"signup":    {0, 200, balanceJSON("130.0000", "0.0000", "130.0000")},
		"marketing": {0, 200, balanceJSON("25.0000", "5.0000", "30.0000")},
		"legacy":    {0, 200, balanceJSON("800.0000", "0.0000", "800.0000")},
		"flaky":     {0, 200, balanceJSON("2500.0000", "0.0000", "2500.0000")},
		"campaign":  {0, 200, balanceJSON("3000.0000", "0.0000", "3000.0000")},
		"otp-eu":    {0, 200, balanceJSON("2000.0000", "0.0000", "2000.0000")},
		"sms":       {0, 200, `{"balance10000":1500000,"gift_balance10000":0,"total_balance10000":1500000,"balance":150,"gift_balance":0,"total_balance":150}`},
	}
	if len(demo.Apps) != len(want) {
		t.Errorf("Demo() has %d apps, want %d", len(demo.Apps), len(want))
	}
	for _, a := range demo.Apps {
		if a.DevKey != "demo-"+a.Name || a.DevSecret != "demo-secret-"+a.Name {
			t.Errorf("app %s: key %q secret %q, want demo-%[1]s and demo-secret-%[1]s", a.Name, a.DevKey, a.DevSecret)
		}
		check(t, srv, c, a.DevKey, a.DevSecret, []instant{want[a.Name]})
	}
	// The story the demo promises, at a few instants.
	check(t, srv, c, "demo-legacy", "demo-secret-legacy", []instant{{61 * time.Second, 401, `{"code":2002,"message":"token expired or disabled"}`}})
	check(t, srv, c, "demo-signup", "demo-secret-signup", []instant{
		{2 * time.Minute, 200, balanceJSON("80.0000", "0.0000", "80.0000")},
		{5 * time.Minute, 200, balanceJSON("5.0000", "0.0000", "5.0000")},
		{6 * time.Minute, 200, balanceJSON("-20.0000", "0.0000", "-20.0000")},
		{8 * time.Minute, 200, balanceJSON("1000.0000", "0.0000", "1000.0000")},
	})
	check(t, srv, c, "demo-marketing", "demo-secret-marketing", []instant{
		{10 * time.Minute, 200, balanceJSON("-15.0000", "5.0000", "-10.0000")},
	})
	check(t, srv, c, "demo-flaky", "demo-secret-flaky", []instant{{5 * time.Minute, 500, `{"code":1000,"message":"internal error"}`}})
	// Spend stories: a recharge, a short runway, a pumping burst.
	check(t, srv, c, "demo-checkout", "demo-secret-checkout", []instant{
		{2 * time.Minute, 200, balanceJSON("4999.0000", "50.0000", "5049.0000")},
		{4 * time.Minute, 200, balanceJSON("5498.0000", "50.0000", "5548.0000")},
		{7 * time.Minute, 200, balanceJSON("5496.5000", "50.0000", "5546.5000")},
	})
	check(t, srv, c, "demo-campaign", "demo-secret-campaign", []instant{
		{10 * time.Minute, 200, balanceJSON("2800.0000", "0.0000", "2800.0000")},
	})
	check(t, srv, c, "demo-otp-eu", "demo-secret-otp-eu", []instant{
		{5 * time.Minute, 200, balanceJSON("1995.0000", "0.0000", "1995.0000")},
		{6 * time.Minute, 200, balanceJSON("1975.0000", "0.0000", "1975.0000")},
		{10 * time.Minute, 200, balanceJSON("1895.0000", "0.0000", "1895.0000")},
	})
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := fake.Load(path)
	want := fmt.Sprintf("load scenario: open %s: no such file or directory", path)
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %s", err, want)
	}
	if err := os.WriteFile(path, []byte("apps: [{name: a}]"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = fake.Load(path)
	want = fmt.Sprintf("scenario %s: apps[0].dev_key: missing\napps[0].dev_secret: missing", path)
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %s", err, want)
	}
}
