package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/email"
	"github.com/opsbalance/engagelab-monitor/internal/notify/telegram"
)

func digestEvent() notify.Event {
	s := func(v string) *string { return &v }
	secs := int64(50400)
	dry := time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC)
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	d := &notify.Digest{Date: "2026-11-27", Timezone: "UTC", From: at.Add(-24 * time.Hour), To: at, Firing: 1,
		Apps: []notify.DigestApp{
			{Name: "checkout", Currency: "USD", TotalBalance: s("35.0000"), Spent24h: s("60.0000"), BurnRate24h: s("2.5000"),
				RunwaySeconds: &secs, RunsDryAt: &dry,
				Firing: []notify.DigestAlert{{Alert: "runway", Rule: "runway_low", Severity: "critical", Since: at}}},
			{Name: "idle", Currency: "USD", TotalBalance: s("10.0000"), Spent24h: s("0.0000"), BurnRate24h: s("0.0000"), NothingSpent: true},
			{Name: "new"},
		},
		Dead: []notify.DigestDead{{EventID: "evt_1", App: "checkout", Notifier: "pager", Type: "alert.firing", Error: "webhook pager: answered 410 Gone", At: at}},
	}
	return notify.Event{ID: "dig_2026-11-27", Type: notify.TypeDigest, ObservedAt: at, Since: at.Add(-24 * time.Hour),
		Message: notify.DigestSummary(d), Digest: d}
}

func TestDigestWording(t *testing.T) {
	e := digestEvent()
	if got, want := notify.Title(e), "Daily digest for 2026-11-27"; got != want {
		t.Errorf("title %q, want %q", got, want)
	}
	if got, want := notify.Text(e), "Daily digest for 2026-11-27 (UTC): 3 apps, 1 alert firing, 1 delivery died in the last 24 h"; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	want := []notify.Field{
		{Label: "checkout", Value: "total 35.0000 USD · spent 60.0000 USD in 24 h (2.5000 USD/h) · runs dry in about 14 h (Sat 05:00 UTC) · firing: runway low"},
		{Label: "idle", Value: "total 10.0000 USD · spent 0.0000 USD in 24 h (0.0000 USD/h) · nothing spent"},
		{Label: "new", Value: "never polled successfully"},
		{Label: "Dead deliveries", Value: "checkout → pager (alert.firing): webhook pager: answered 410 Gone"},
	}
	got := notify.Fields(e)
	if len(got) != len(want) {
		t.Fatalf("fields %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestDigestInEmailAndPlainChannels(t *testing.T) {
	e := digestEvent()
	text, html := email.Render(e, "https://balance.example.com")
	for _, want := range []string{
		"Daily digest for 2026-11-27\n\nDaily digest for 2026-11-27 (UTC): 3 apps",
		"checkout: total 35.0000 USD · spent 60.0000 USD in 24 h",
		"Dead deliveries: checkout → pager (alert.firing)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("email text lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(html, "<th align=\"left\">idle</th><td>total 10.0000 USD") {
		t.Errorf("email HTML lacks the idle row:\n%s", html)
	}
	msg := telegram.Render(e, "")
	if !strings.Contains(msg, "Daily digest for 2026-11-27") || !strings.Contains(msg, "runs dry in about 14 h") {
		t.Errorf("telegram message lacks the digest:\n%s", msg)
	}
}
