package notify

import (
	"fmt"
	"time"
)

// describeSpend words the spend alerts and the non-alert balance events; ok is false for
// anything else.
func describeSpend(e Event, amountKind string) (string, bool) {
	sp := e.Spend
	switch {
	case e.Type == TypeTopup:
		s := fmt.Sprintf("%s: recharged +%s", e.App, Money(e.Amount, e.Currency))
		if e.Paid != "" && e.Gift != "" {
			s += fmt.Sprintf(" (paid %s, gift %s)", signed(e.Paid), signed(e.Gift))
		}
		if e.TotalBalance != "" {
			s += fmt.Sprintf(", total now %s", Money(e.TotalBalance, e.Currency))
		}
		return s, true
	case e.Type == TypeGiftExpired:
		s := fmt.Sprintf("%s: gift credit of %s expired", e.App, Money(e.Amount, e.Currency))
		if e.TotalBalance != "" {
			s += fmt.Sprintf(", total now %s", Money(e.TotalBalance, e.Currency))
		}
		return s, true
	case e.Type == TypeResolved:
		return "", false
	case e.Rule == "runway_low":
		label, amount := chosenAmount(e, amountKind)
		s := fmt.Sprintf("%s: runway low (%s)", e.App, e.Severity)
		if amount != "" {
			s += fmt.Sprintf(": %s %s left", label, Money(amount, e.Currency))
		}
		if dry := runsDry(e); dry != "" {
			s += "; " + dry
		}
		return s, true
	case e.Rule == "abnormal_spend" && sp != nil && sp.WindowSpent != "":
		s := fmt.Sprintf("%s: abnormal spend: %s in the last %s", e.App, Money(sp.WindowSpent, e.Currency), sp.Window)
		if sp.TypicalWindowSpent != "" {
			s += fmt.Sprintf(", against a usual %s for such a window (median of the last 7 days)", Money(sp.TypicalWindowSpent, e.Currency))
		}
		return s + "; check for SMS pumping", true
	case e.Rule == "daily_spend_limit" && sp != nil && sp.SpentToday != "":
		return fmt.Sprintf("%s: spent %s today (since %s), over the daily limit %s",
			e.App, Money(sp.SpentToday, e.Currency), sp.DayStart, Money(sp.DailySpendLimit, e.Currency)), true
	}
	return "", false
}

// runsDry says how fast the money goes and when it runs out: "at 2.5000 USD/h it runs dry
// in about 14 h (Sat 10:00 UTC)". Empty without a burn rate.
func runsDry(e Event) string {
	sp := e.Spend
	if sp == nil || sp.BurnRate == "" {
		return ""
	}
	rate := Money(sp.BurnRate, e.Currency) + "/h"
	switch {
	case sp.RunwaySeconds == nil:
		return "spending " + rate
	case *sp.RunwaySeconds == 0:
		return "at " + rate + " it has run dry"
	}
	s := fmt.Sprintf("at %s it runs dry in about %s", rate, about(time.Duration(*sp.RunwaySeconds)*time.Second))
	if sp.RunsDryAt != nil {
		s += " (" + sp.RunsDryAt.UTC().Format("Mon 15:04 UTC") + ")"
	}
	return s
}

// about rounds a runway for people: minutes under two hours, hours under three days, then days.
func about(d time.Duration) string {
	switch {
	case d < 2*time.Hour:
		return fmt.Sprintf("%d min", int(d.Round(time.Minute)/time.Minute))
	case d < 72*time.Hour:
		return fmt.Sprintf("%d h", int(d.Round(time.Hour)/time.Hour))
	}
	return fmt.Sprintf("%d days", int((d+12*time.Hour)/(24*time.Hour)))
}

func signed(amount string) string {
	if amount != "" && amount[0] != '-' {
		return "+" + amount
	}
	return amount
}
