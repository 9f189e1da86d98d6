package feishu

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
)

const (
	hookPath = "/open-apis/bot/v2/hook/HOOKSECRET-0b1c"
	secret   = "SIGNSECRET-qF3x"
)

var secrets = []string{"HOOKSECRET", secret}

func newTest(base string, timeout time.Duration) *Notifier {
	return New(Config{Name: "ops", Kind: "feishu", WebhookURL: base + hookPath, Secret: secret, Timeout: timeout,
		PublicURL: "https://balance.example.com", Clock: func() time.Time { return notifytest.ObservedAt }})
}

func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

func TestSignedCard(t *testing.T) {
	rc := notifytest.NewReceiver(t, notifytest.JSON(http.StatusOK, `{"code":0,"data":{},"msg":"success"}`))
	if err := newTest(rc.URL, 0).Notify(context.Background(), notifytest.Escalation()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := rc.Only(t)
	if got.Method != http.MethodPost || got.Path != hookPath || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request = %s %s (%s), want a JSON POST to the hook", got.Method, got.Path, got.Header.Get("Content-Type"))
	}
	body := decode(t, got.Body)

	// The signature, recomputed from Feishu's documented recipe: HMAC-SHA256 keyed with
	// timestamp + "\n" + secret, over nothing, base64.
	ts := strconv.FormatInt(notifytest.ObservedAt.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(ts+"\n"+secret))
	mac.Write(nil)
	wantSign := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if body["timestamp"] != ts || body["sign"] != wantSign {
		t.Errorf("timestamp, sign = %v, %v; want %s, %s", body["timestamp"], body["sign"], ts, wantSign)
	}

	want := decode(t, []byte(`{
		"timestamp": "`+ts+`", "sign": "`+wantSign+`", "msg_type": "interactive",
		"card": {
			"config": {"wide_screen_mode": true},
			"header": {"title": {"tag": "plain_text", "content": "CRITICAL checkout: low balance (critical)"}, "template": "red"},
			"elements": [
				{"tag": "div", "text": {"tag": "plain_text", "content": "checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD"}},
				{"tag": "div", "fields": [
					{"is_short": true, "text": {"tag": "lark_md", "content": "**Balance**\n80.0000 USD"}},
					{"is_short": true, "text": {"tag": "lark_md", "content": "**Gift balance**\n0.0000 USD"}},
					{"is_short": true, "text": {"tag": "lark_md", "content": "**Total balance**\n80.0000 USD"}},
					{"is_short": true, "text": {"tag": "lark_md", "content": "**Threshold**\n100.0000 USD"}},
					{"is_short": true, "text": {"tag": "lark_md", "content": "**Firing for**\n2m"}}
				]},
				{"tag": "note", "elements": [{"tag": "plain_text", "content": "Escalated from low balance (warning) · Observed 2026-11-26T10:00:00Z"}]},
				{"tag": "action", "actions": [{"tag": "button", "text": {"tag": "plain_text", "content": "Open dashboard"}, "type": "primary", "url": "https://balance.example.com/#app=checkout"}]}
			]
		}}`))
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestUnsignedAndColours(t *testing.T) {
	rc := notifytest.NewReceiver(t, notifytest.JSON(http.StatusOK, `{"StatusCode":0,"StatusMessage":"success"}`))
	n := New(Config{Name: "ops", Kind: "lark", WebhookURL: rc.URL + hookPath})
	warning := notifytest.Escalation()
	warning.Type, warning.Severity = notify.TypeFiring, "warning"
	for _, e := range []notify.Event{warning, notifytest.Resolved(), notifytest.Topup(), notifytest.Unknown()} {
		if err := n.Notify(context.Background(), e); err != nil {
			t.Fatalf("Notify: %v", err)
		}
	}
	var got []string
	for _, r := range rc.Requests() {
		body := decode(t, r.Body)
		if _, signed := body["sign"]; signed {
			t.Errorf("body %s is signed without a secret", r.Body)
		}
		card := body["card"].(map[string]any)
		header := card["header"].(map[string]any)
		got = append(got, header["template"].(string)+" "+header["title"].(map[string]any)["content"].(string))
	}
	want := []string{"orange Warning checkout: low balance (warning)", "green Resolved checkout: low balance (critical)",
		"blue Info checkout: top-up", "blue Info checkout: balance.refund"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

// Feishu refuses with HTTP 200 and a code in the body.
func TestFeishuErrors(t *testing.T) {
	tests := []notifytest.Answer{
		{
			Name:    "sign mismatch is permanent",
			Respond: notifytest.JSON(http.StatusOK, `{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}`),
			Want: notifytest.Classification{Permanent: true, Status: 200,
				Message: "feishu ops: Feishu refused the message: code 19021: sign match fail or timestamp is not within one hour from current time"},
		},
		{
			Name:    "keyword missing is permanent",
			Respond: notifytest.JSON(http.StatusOK, `{"code":19024,"data":{},"msg":"Key Words Not Found"}`),
			Want:    notifytest.Classification{Permanent: true, Status: 200, Message: "feishu ops: Feishu refused the message: code 19024: Key Words Not Found"},
		},
		{
			Name:    "rate limited is retryable",
			Respond: notifytest.JSON(http.StatusOK, `{"code":9499,"data":{},"msg":"too many request"}`),
			Want:    notifytest.Classification{Status: 200, Message: "feishu ops: Feishu refused the message: code 9499: too many request"},
		},
		{
			Name:    "tenant rate limit is retryable",
			Respond: notifytest.JSON(http.StatusOK, `{"code":11232,"data":{},"msg":"frequency limited psm"}`),
			Want:    notifytest.Classification{Status: 200, Message: "feishu ops: Feishu refused the message: code 11232: frequency limited psm"},
		},
		{
			Name:    "an answer without a code is retryable",
			Respond: notifytest.JSON(http.StatusOK, `<html>gateway</html>`),
			Want:    notifytest.Classification{Status: 200, Message: "feishu ops: ORIGIN answered 200 OK without a result code"},
		},
	}
	notifytest.Answers(t, tests, func(base string) notify.Notifier { return newTest(base, 0) }, secrets...)
}

func TestConformance(t *testing.T) {
	notifytest.Conformance(t, notifytest.Target{
		Prefix:  "feishu ops",
		New:     func(t *testing.T, base string, timeout time.Duration) notify.Notifier { return newTest(base, timeout) },
		Accept:  notifytest.JSON(http.StatusOK, `{"code":0,"data":{},"msg":"success"}`),
		Secrets: secrets,
	})
}
