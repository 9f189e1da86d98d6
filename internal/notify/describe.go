package notify

import (
	"fmt"
	"strings"
	"time"
)

// Describe builds the one-line Message of an event. amountKind is the amount the app compares
// against its thresholds, "total_balance" (the default) or "balance".
func Describe(e Event, amountKind string) string {
	if e.Type == TypeTest {
		return e.Message
	}
	if s, ok := describeSpend(e, amountKind); ok {
		return s
	}
	if e.Type == TypeResolved {
		return describeResolved(e, amountKind)
	}
	s := describeAlert(e, amountKind)
	if dry := runsDry(e); dry != "" && e.Alert == "money" {
		s += "; " + dry
	}
	return s
}

func describeAlert(e Event, amountKind string) string {
	label, amount := chosenAmount(e, amountKind)
	switch e.Rule {
	case "low_balance":
		if amount != "" && e.Threshold != "" {
			return fmt.Sprintf("%s: %s %s is below the %s threshold %s",
				e.App, label, Money(amount, e.Currency), e.Severity, Money(e.Threshold, e.Currency))
		}
	case "overdraft":
		if e.TotalBalance != "" {
			return fmt.Sprintf("%s: total balance %s is below zero; the account is in arrears",
				e.App, Money(e.TotalBalance, e.Currency))
		}
	case "overdraft_limit":
		if e.TotalBalance != "" {
			s := fmt.Sprintf("%s: total balance %s is close to the overdraft limit", e.App, Money(e.TotalBalance, e.Currency))
			if e.Threshold != "" {
				s += fmt.Sprintf(" (threshold %s)", Money(e.Threshold, e.Currency))
			}
			return s
		}
	case "auth_failed":
		return e.App + ": EngageLab rejected the API key" + errorDetail(e.Error)
	case "app_unavailable":
		return e.App + ": EngageLab reports the application deleted or disabled" + errorDetail(e.Error)
	case "poll_failing":
		return e.App + ": polling EngageLab keeps failing" + errorDetail(e.Error)
	case "stale":
		return fmt.Sprintf("%s: no successful poll since %s", e.App, e.Since.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%s: %s", e.App, Level(e.Rule, e.Severity))
}

func describeResolved(e Event, amountKind string) string {
	var s string
	switch e.Rule {
	case "auth_failed":
		s = e.App + ": EngageLab accepts the API key again"
	case "app_unavailable":
		s = e.App + ": the application is available again"
	case "poll_failing":
		s = e.App + ": polling EngageLab works again"
	case "stale":
		s = e.App + ": fresh data again"
	default:
		s = e.App + ": " + Level(e.Rule, "") + " resolved"
	}
	switch label, amount := chosenAmount(e, amountKind); {
	case e.Recharged != "" && e.TotalBalance != "":
		s += fmt.Sprintf(": recharged +%s, total now %s", Money(e.Recharged, e.Currency), Money(e.TotalBalance, e.Currency))
	case amount != "":
		s += fmt.Sprintf("; %s is now %s", label, Money(amount, e.Currency))
	}
	return s
}

// chosenAmount is the amount the rule looks at: overdraft is about arrears, so always the
// total; everything else follows the app's configured amount.
func chosenAmount(e Event, amountKind string) (label, amount string) {
	if amountKind == "balance" && e.Rule != "overdraft" && e.Rule != "overdraft_limit" {
		return "balance", e.Balance
	}
	return "total balance", e.TotalBalance
}

// Level names an alert level in words; severity is shown only where a rule has two.
func Level(rule, severity string) string {
	switch rule {
	case "low_balance":
		if severity == "" {
			return "low balance"
		}
		return "low balance (" + severity + ")"
	case "overdraft":
		return "overdraft"
	case "overdraft_limit":
		return "overdraft limit"
	case "auth_failed":
		return "API key rejected"
	case "app_unavailable":
		return "application unavailable"
	case "poll_failing":
		return "polling failing"
	case "stale":
		return "no fresh data"
	case "runway_low":
		return "runway low"
	case "abnormal_spend":
		return "abnormal spend"
	case "daily_spend_limit":
		return "daily spend limit"
	}
	if severity == "" {
		return strings.ReplaceAll(rule, "_", " ")
	}
	return strings.ReplaceAll(rule, "_", " ") + " (" + severity + ")"
}

// Money joins an amount and its currency: "80.0000 USD".
func Money(amount, currency string) string {
	if currency == "" {
		return amount
	}
	return amount + " " + currency
}

// errorDetail renders an upstream failure as " (HTTP 401, code 2001: invalid token)".
func errorDetail(e *EventError) string {
	if e == nil {
		return ""
	}
	var parts []string
	if e.HTTPStatus != 0 {
		parts = append(parts, fmt.Sprintf("HTTP %d", e.HTTPStatus))
	}
	if e.Code != 0 {
		parts = append(parts, fmt.Sprintf("code %d", e.Code))
	}
	s := strings.Join(parts, ", ")
	switch {
	case s == "" && e.Message == "":
		return ""
	case s == "":
		s = e.Message
	case e.Message != "":
		s += ": " + e.Message
	}
	return " (" + s + ")"
}

// FormatDuration renders how long an alert has fired, to the minute: "45s", "12m", "2h 15m", "3d 4h".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return joinUnits(int(d/time.Hour), "h", int(d%time.Hour/time.Minute), "m")
	default:
		return joinUnits(int(d/(24*time.Hour)), "d", int(d%(24*time.Hour)/time.Hour), "h")
	}
}

func joinUnits(big int, bigUnit string, small int, smallUnit string) string {
	if small == 0 {
		return fmt.Sprintf("%d%s", big, bigUnit)
	}
	return fmt.Sprintf("%d%s %d%s", big, bigUnit, small, smallUnit)
}
