package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/opsbalance/engagelab-monitor/internal/logtest"
)

// signalWriter tells the test when the verb has written something.
type signalWriter struct {
	logtest.Buffer
	wrote chan struct{}
}

func (s *signalWriter) Write(p []byte) (int, error) {
	n, err := s.Buffer.Write(p)
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return n, err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestSimulate(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := &signalWriter{wrote: make(chan struct{}, 1)}
	var stderr logtest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"simulate", "--listen", addr}, stdout, &stderr)
	}()

	// The banner is written after the listener is open, so requests can go from then on.
	banner := "fake EngageLab balance API on http://" + addr + "/v1/balance with 8 apps:\n"
	for !strings.Contains(stdout.String(), "  flaky ") {
		select {
		case <-stdout.wrote:
		case code := <-done:
			t.Fatalf("simulate exited %d before serving; stderr:\n%s", code, stderr.String())
		case <-time.After(10 * time.Second):
			t.Fatalf("simulate printed no banner; stdout:\n%s", stdout.String())
		}
	}
	if !strings.HasPrefix(stdout.String(), banner) || !strings.Contains(stdout.String(), "  checkout     dev_key demo-checkout\n") {
		t.Errorf("stdout:\n%s\nwant it to start %q and list checkout's key", stdout.String(), banner)
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/balance", nil)
	req.SetBasicAuth("demo-checkout", "demo-secret-checkout")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("status %d, decode error %v", resp.StatusCode, err)
	}
	fourPlaces := regexp.MustCompile(`^-?\d+\.\d{4}$`)
	for _, k := range []string{"balance", "gift_balance", "total_balance"} {
		if !fourPlaces.MatchString(body[k]) {
			t.Errorf("%s = %q, want an amount with 4 places", k, body[k])
		}
	}
	if body["currency"] != "USD" || body["gift_balance"] != "50.0000" {
		t.Errorf("body = %v, want USD with gift_balance 50.0000", body)
	}
	sum := decimal.RequireFromString(body["balance"]).Add(decimal.RequireFromString(body["gift_balance"]))
	if sum.StringFixed(4) != body["total_balance"] {
		t.Errorf("total_balance %s is not balance + gift_balance (%s)", body["total_balance"], sum.StringFixed(4))
	}

	req.SetBasicAuth("demo-checkout", "wrong")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret: status %d, want 401", resp.StatusCode)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("simulate exited %d after cancel, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("simulate did not stop after its context was cancelled")
	}
}

func TestSimulateBadScenario(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "scenario.yaml", "apps:\n  - {name: x, dev_key: k, dev_secret: s, balance: lots}\n")
	r := cli(t, "simulate", "--listen", "127.0.0.1:0", "--scenario", path)
	r.want(t, 2)
	if got, want := r.errorLine(t), "monitor: scenario "+path+`: apps[0].balance: "lots" is not a decimal`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// The demo's sink prints each alert with its message and whether its signature verified.
func TestSimulateSinkVerifiesSignatures(t *testing.T) {
	t.Parallel()
	const secret = "whsec_ZGVtby1zaWduaW5nLXNlY3JldC0xMjM0NTY3ODkw"
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := &signalWriter{wrote: make(chan struct{}, 1)}
	var stderr logtest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"simulate", "--listen", addr, "--webhook-secret", secret}, stdout, &stderr)
	}()
	for !strings.Contains(stdout.String(), "  flaky ") {
		select {
		case <-stdout.wrote:
		case code := <-done:
			t.Fatalf("simulate exited %d before serving; stderr:\n%s", code, stderr.String())
		case <-time.After(10 * time.Second):
			t.Fatalf("simulate printed no banner; stdout:\n%s", stdout.String())
		}
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string, sign bool, tamper bool) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+"/demo/webhook", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if sign {
			now := time.Now()
			sig, err := wh.Sign("evt_1", now, []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if tamper {
				sig = "v1,AAAA" + sig[7:]
			}
			req.Header.Set("webhook-id", "evt_1")
			req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
			req.Header.Set("webhook-signature", sig)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	ev := `{"type":"alert.firing","message":"signup: total balance 98.3124 USD is below the warning threshold 100.0000 USD"}`
	if code := post(ev, true, false); code != 200 {
		t.Errorf("signed event: %d", code)
	}
	if code := post(ev, true, true); code != 401 {
		t.Errorf("tampered signature: %d, want 401", code)
	}
	if code := post(ev, false, false); code != 401 {
		t.Errorf("unsigned event: %d, want 401", code)
	}
	out := stdout.String()
	for _, want := range []string{
		"webhook received alert.firing (signature verified): signup: total balance 98.3124 USD is below the warning threshold 100.0000 USD\n",
		"webhook received alert.firing (signature INVALID: ",
		"webhook received alert.firing (UNSIGNED): signup: total balance",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	cancel()
	<-done
}
