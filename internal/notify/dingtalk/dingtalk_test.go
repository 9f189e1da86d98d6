package dingtalk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
)

const (
	accessToken = "TOKENSECRET0a1b2c"
	secret      = "SECSIGNSECRET9z8y"
)

var secrets = []string{accessToken, secret, "SECRET"}

func newTest(base string, timeout time.Duration) *Notifier {
	return New(Config{Name: "ops", WebhookURL: base + "/robot/send?access_token=" + accessToken, Secret: secret,
		PublicURL: "https://balance.example.com", Timeout: timeout, Clock: func() time.Time { return notifytest.ObservedAt }})
}

func TestSignedMarkdown(t *testing.T) {
	rc := notifytest.NewReceiver(t, notifytest.JSON(http.StatusOK, `{"errcode":0,"errmsg":"ok"}`))
	if err := newTest(rc.URL, 0).Notify(context.Background(), notifytest.Escalation()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := rc.Only(t)
	if got.Method != http.MethodPost || got.Path != "/robot/send" || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request = %s %s (%s), want a JSON POST to /robot/send", got.Method, got.Path, got.Header.Get("Content-Type"))
	}
	q, err := url.ParseQuery(got.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	// DingTalk's documented recipe, recomputed: HMAC-SHA256 keyed with the secret over
	// timestamp(ms) + "\n" + secret, base64, then URL-encoded into the query.
	ts := strconv.FormatInt(notifytest.ObservedAt.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	sign := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	want := url.Values{"access_token": {accessToken}, "timestamp": {ts}, "sign": {sign}}
	if diff := cmp.Diff(want, q); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	wantBody := map[string]any{"msgtype": "markdown", "markdown": map[string]any{
		"title": "CRITICAL checkout: low balance (critical)",
		"text": "### CRITICAL checkout: low balance (critical)\n\n" +
			"checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD\n\n" +
			"- **Balance**: 80.0000 USD\n- **Gift balance**: 0.0000 USD\n- **Total balance**: 80.0000 USD\n" +
			"- **Threshold**: 100.0000 USD\n- **Firing for**: 2m\n\n" +
			"Escalated from low balance (warning) · Observed 2026-11-26T10:00:00Z\n\n" +
			"[Open dashboard](https://balance.example.com/#app=checkout)\n",
	}}
	if diff := cmp.Diff(wantBody, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestUnsignedKeepsTheURL(t *testing.T) {
	rc := notifytest.NewReceiver(t, notifytest.JSON(http.StatusOK, `{"errcode":0,"errmsg":"ok"}`))
	n := New(Config{Name: "ops", WebhookURL: rc.URL + "/robot/send?access_token=" + accessToken})
	e := notifytest.Unknown() // a type this version does not know: its message, escaped
	e.Message = "shop_*eu*: refunded"
	if err := n.Notify(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	got := rc.Only(t)
	if got.RawQuery != "access_token="+accessToken {
		t.Errorf("query = %q, want only the access token", got.RawQuery)
	}
	var body struct{ Markdown Markdown }
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := "### Info checkout: balance.refund\n\nshop\\_\\*eu\\*: refunded\n\nObserved 2026-11-26T10:00:00Z\n"
	if body.Markdown.Text != want {
		t.Errorf("text = %q, want %q", body.Markdown.Text, want)
	}
}

// DingTalk refuses with HTTP 200 and an errcode.
func TestDingTalkErrors(t *testing.T) {
	tests := []notifytest.Answer{
		{Name: "sign mismatch is permanent", Respond: notifytest.JSON(http.StatusOK, `{"errcode":310000,"errmsg":"sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}`),
			Want: notifytest.Classification{Permanent: true, Status: 200,
				Message: "dingtalk ops: DingTalk refused the message: errcode 310000: sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}},
		{Name: "keyword missing is permanent", Respond: notifytest.JSON(http.StatusOK, `{"errcode":310000,"errmsg":"keywords not in content"}`),
			Want: notifytest.Classification{Permanent: true, Status: 200, Message: "dingtalk ops: DingTalk refused the message: errcode 310000: keywords not in content"}},
		{Name: "unknown token is permanent", Respond: notifytest.JSON(http.StatusOK, `{"errcode":300001,"errmsg":"token is not exist"}`),
			Want: notifytest.Classification{Permanent: true, Status: 200, Message: "dingtalk ops: DingTalk refused the message: errcode 300001: token is not exist"}},
		{Name: "sending too fast is retryable", Respond: notifytest.JSON(http.StatusOK, `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`),
			Want: notifytest.Classification{Status: 200, Message: "dingtalk ops: DingTalk refused the message: errcode 130101: send too fast, exceed 20 times per minute"}},
		{Name: "system busy is retryable", Respond: notifytest.JSON(http.StatusOK, `{"errcode":-1,"errmsg":"系统繁忙"}`),
			Want: notifytest.Classification{Status: 200, Message: "dingtalk ops: DingTalk refused the message: errcode -1: 系统繁忙"}},
	}
	notifytest.Answers(t, tests, func(base string) notify.Notifier { return newTest(base, 0) }, secrets...)
}

func TestConformance(t *testing.T) {
	notifytest.Conformance(t, notifytest.Target{
		Prefix:  "dingtalk ops",
		New:     func(t *testing.T, base string, timeout time.Duration) notify.Notifier { return newTest(base, timeout) },
		Accept:  notifytest.JSON(http.StatusOK, `{"errcode":0,"errmsg":"ok"}`),
		Secrets: secrets,
	})
}
