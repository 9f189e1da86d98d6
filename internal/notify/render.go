package notify

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Tone is how loud an event is, for channels that colour or rank messages: "critical",
// "warning", "resolved", "test", or "info" for anything else (a non-alert event such as a
// top-up, or a type this version does not know).
func Tone(e Event) string {
	switch {
	case e.Type == TypeTest:
		return "test"
	case e.Type == TypeResolved:
		return "resolved"
	case !IsAlert(e):
		return "info"
	case e.Severity == "critical":
		return "critical"
	default:
		return "warning"
	}
}

// IsAlert reports whether e is one of the alert.* transitions.
func IsAlert(e Event) bool { return strings.HasPrefix(e.Type, "alert.") }

// toneWords lead titles and subjects, so a critical message is recognisable in a preview.
var toneWords = map[string]string{
	"critical": "CRITICAL",
	"warning":  "Warning",
	"resolved": "Resolved",
	"test":     "Test",
	"info":     "Info",
}

// ToneWord is the word a title starts with: "CRITICAL", "Warning", "Resolved", "Test", "Info".
func ToneWord(e Event) string { return toneWords[Tone(e)] }

// Headline names the app and the level in words, "checkout: low balance (critical)", without
// the tone word. A test message is "message", a top-up "checkout: top-up"; an event this
// version cannot word, its type.
func Headline(e Event) string {
	switch {
	case e.Type == TypeTest:
		return "message"
	case e.Type == TypeDigest && e.Digest != nil:
		return "daily digest for " + e.Digest.Date
	case e.Type == TypeTopup:
		return e.App + ": top-up"
	case e.Type == TypeGiftExpired:
		return e.App + ": gift credit expired"
	case e.Group != nil:
		return fmt.Sprintf("%d apps: %s", len(e.Group.Apps), Level(e.Rule, e.Severity))
	case !IsAlert(e) || e.Rule == "":
		if e.App == "" {
			return e.Type
		}
		return e.App + ": " + e.Type
	}
	if e.Type == TypeFlapping {
		return e.App + ": " + Level(e.Rule, e.Severity) + ", flapping"
	}
	return e.App + ": " + Level(e.Rule, e.Severity)
}

// Title is ToneWord and Headline: "CRITICAL checkout: low balance (critical)".
func Title(e Event) string {
	if e.Type == TypeDigest && e.Digest != nil {
		return "Daily digest for " + e.Digest.Date
	}
	return ToneWord(e) + " " + Headline(e)
}

// Text is the event's one-line message; an event that arrived without one (older rows) is
// worded with Describe, reading the total balance.
func Text(e Event) string {
	if e.Message != "" {
		return e.Message
	}
	return Describe(e, "total_balance")
}

// Field is one labelled value of a message: "Balance" "80.0000 USD".
type Field struct{ Label, Value string }

// Fields are the amounts, what a top-up or expiry moved, the burn rate and the time firing:
// those the event has.
func Fields(e Event) []Field {
	if e.Type == TypeDigest && e.Digest != nil {
		return digestFields(e.Digest)
	}
	var out []Field
	add := func(label, value string) { out = append(out, Field{label, value}) }
	if e.Group != nil {
		add("Apps", appList(e.Group.Apps))
	}
	if e.Balance != "" {
		add("Balance", Money(e.Balance, e.Currency))
	}
	if e.GiftBalance != "" {
		add("Gift balance", Money(e.GiftBalance, e.Currency))
	}
	if e.TotalBalance != "" {
		add("Total balance", Money(e.TotalBalance, e.Currency))
	}
	if e.Threshold != "" {
		add("Threshold", Money(e.Threshold, e.Currency))
	}
	switch {
	case e.Amount != "" && e.Type == TypeTopup:
		add("Recharged", "+"+Money(e.Amount, e.Currency))
	case e.Amount != "" && e.Type == TypeGiftExpired:
		add("Expired", Money(e.Amount, e.Currency))
	}
	if e.Spend != nil && e.Spend.BurnRate != "" {
		add("Burn rate", Money(e.Spend.BurnRate, e.Currency)+"/h")
	}
	if IsAlert(e) && !e.Since.IsZero() && e.ObservedAt.After(e.Since) {
		label := "Firing for"
		if e.Type == TypeResolved {
			label = "Fired for"
		}
		add(label, FormatDuration(e.ObservedAt.Sub(e.Since)))
	}
	return out
}

// Context says what changed and when it was observed:
// "Escalated from low balance (warning) · Observed 2026-11-26T10:00:00Z".
func Context(e Event) string {
	var parts []string
	switch e.Type {
	case TypeEscalated:
		parts = append(parts, "Escalated from "+Level(e.PreviousRule, e.PreviousSeverity))
	case TypeDeescalated:
		parts = append(parts, "De-escalated from "+Level(e.PreviousRule, e.PreviousSeverity))
	case TypeReminder:
		parts = append(parts, "Reminder: still firing")
	case TypeFlapping:
		parts = append(parts, "Flapping: messages paused until it is stable")
	}
	if !e.ObservedAt.IsZero() {
		parts = append(parts, "Observed "+e.ObservedAt.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, " · ")
}

// DashboardURL links to the app on the dashboard at publicURL; "" without one.
func DashboardURL(publicURL, app string) string {
	if publicURL == "" || app == "" {
		return ""
	}
	return strings.TrimRight(publicURL, "/") + "/#app=" + url.QueryEscape(app)
}
