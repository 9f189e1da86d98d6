package telegram

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
)

const token = "123456789:AAH-TOKENSECRET"

var secrets = []string{token, "TOKENSECRET"}

func newTest(base string, timeout time.Duration) *Notifier {
	return New(Config{Name: "tg", BotToken: token, ChatID: "-1001234567890", APIURL: base, Timeout: timeout,
		PublicURL: "https://balance.example.com", Clock: func() time.Time { return notifytest.ObservedAt }})
}

func TestSendMessage(t *testing.T) {
	rc := notifytest.NewReceiver(t, notifytest.JSON(http.StatusOK, `{"ok":true,"result":{"message_id":7}}`))
	if err := newTest(rc.URL+"/", 0).Notify(context.Background(), notifytest.Escalation()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := rc.Only(t)
	if got.Method != http.MethodPost || got.Path != "/bot"+token+"/sendMessage" {
		t.Errorf("request = %s %s, want POST /bot<token>/sendMessage", got.Method, got.Path)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatalf("body %s: %v", got.Body, err)
	}
	want := map[string]any{
		"chat_id":                  "-1001234567890",
		"parse_mode":               "HTML",
		"disable_web_page_preview": true,
		"text": "<b>🚨 CRITICAL checkout: low balance (critical)</b>\n" +
			"checkout: total balance 80.0000 USD is below the critical threshold 100.0000 USD\n\n" +
			"Balance: <b>80.0000 USD</b>\nGift balance: <b>0.0000 USD</b>\nTotal balance: <b>80.0000 USD</b>\n" +
			"Threshold: <b>100.0000 USD</b>\nFiring for: <b>2m</b>\n\n" +
			"<i>Escalated from low balance (warning) · Observed 2026-11-26T10:00:00Z</i>\n" +
			`<a href="https://balance.example.com/#app=checkout">Open dashboard</a>`,
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestRenderTopup(t *testing.T) {
	want := "<b>ℹ️ Info checkout: top-up</b>\n" +
		"checkout: recharged +500.0000 USD (paid +500.0000, gift +0.0000), total now 612.3400 USD\n\n" +
		"Balance: <b>600.0000 USD</b>\nGift balance: <b>12.3400 USD</b>\nTotal balance: <b>612.3400 USD</b>\n" +
		"Recharged: <b>+500.0000 USD</b>\n\n" +
		"<i>Observed 2026-11-26T10:00:00Z</i>"
	if got := Render(notifytest.Topup(), ""); got != want {
		t.Errorf("Render:\n%s\nwant:\n%s", got, want)
	}
}

func TestRenderEscapesAndFallsBack(t *testing.T) {
	e := notifytest.Unknown()
	e.App = "eu<shop>&co"
	e.Message = "eu<shop>&co: refunded 3.0000 USD"
	want := "<b>ℹ️ Info eu&lt;shop&gt;&amp;co: balance.refund</b>\n" +
		"eu&lt;shop&gt;&amp;co: refunded 3.0000 USD\n\n" +
		"<i>Observed 2026-11-26T10:00:00Z</i>"
	if got := Render(e, ""); got != want {
		t.Errorf("Render:\n%s\nwant:\n%s", got, want)
	}
}

// Telegram's own refusals: the JSON envelope decides, not only the status.
func TestTelegramErrors(t *testing.T) {
	tests := []notifytest.Answer{
		{
			Name: "flood control waits parameters.retry_after",
			Respond: notifytest.JSON(http.StatusTooManyRequests,
				`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 34","parameters":{"retry_after":34}}`),
			Want: notifytest.Classification{Status: 429, RetryAfter: 34 * time.Second,
				Message: "telegram tg: Telegram refused the message: Too Many Requests: retry after 34 (HTTP 429)"},
		},
		{
			Name:    "chat not found is permanent",
			Respond: notifytest.JSON(http.StatusBadRequest, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`),
			Want: notifytest.Classification{Permanent: true, Status: 400,
				Message: "telegram tg: Telegram refused the message: Bad Request: chat not found (HTTP 400)"},
		},
		{
			Name:    "revoked token is permanent",
			Respond: notifytest.JSON(http.StatusUnauthorized, `{"ok":false,"error_code":401,"description":"Unauthorized"}`),
			Want: notifytest.Classification{Permanent: true, Status: 401,
				Message: "telegram tg: Telegram refused the message: Unauthorized (HTTP 401)"},
		},
		{
			Name:    "bot kicked is permanent",
			Respond: notifytest.JSON(http.StatusForbidden, `{"ok":false,"error_code":403,"description":"Forbidden: bot was kicked from the supergroup chat"}`),
			Want: notifytest.Classification{Permanent: true, Status: 403,
				Message: "telegram tg: Telegram refused the message: Forbidden: bot was kicked from the supergroup chat (HTTP 403)"},
		},
		{
			Name: "upgraded group names the new chat id",
			Respond: notifytest.JSON(http.StatusBadRequest,
				`{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1009876543210}}`),
			Want: notifytest.Classification{Permanent: true, Status: 400,
				Message: "telegram tg: Telegram refused the message: Bad Request: group chat was upgraded to a supergroup chat (HTTP 400); the group is now the supergroup -1009876543210: set chat_id to it"},
		},
		{
			Name:    "Telegram's server error is retryable",
			Respond: notifytest.JSON(http.StatusBadGateway, `{"ok":false,"error_code":502,"description":"Bad Gateway"}`),
			Want: notifytest.Classification{Status: 502,
				Message: "telegram tg: Telegram refused the message: Bad Gateway (HTTP 502)"},
		},
		{
			Name:    "a description echoing the token is redacted",
			Respond: notifytest.JSON(http.StatusNotFound, `{"ok":false,"error_code":404,"description":"Not Found: bot`+token+`"}`),
			Want: notifytest.Classification{Permanent: true, Status: 404,
				Message: "telegram tg: Telegram refused the message: Not Found: bot*** (HTTP 404)"},
		},
	}
	notifytest.Answers(t, tests, func(base string) notify.Notifier { return newTest(base, 0) }, secrets...)
}

func TestConformance(t *testing.T) {
	notifytest.Conformance(t, notifytest.Target{
		Prefix: "telegram tg",
		New: func(t *testing.T, base string, timeout time.Duration) notify.Notifier {
			return newTest(base, timeout)
		},
		Accept:  notifytest.JSON(http.StatusOK, `{"ok":true,"result":{"message_id":7}}`),
		Secrets: secrets,
	})
}
