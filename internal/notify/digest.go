package notify

import (
	"fmt"
	"strings"
	"time"
)

// TypeDigest is the daily summary of every app (config key `digest`).
const TypeDigest = "digest"

// Digest is the body of a daily digest: every configured app as of To, and the deliveries that
// died in the 24 hours before it. Amounts are strings with 4 places, like everywhere else.
type Digest struct {
	Date     string       `json:"date"`     // the day it summarises, in Timezone: "2026-11-27"
	Timezone string       `json:"timezone"` // digest.timezone
	From     time.Time    `json:"from"`     // To minus 24 h
	To       time.Time    `json:"to"`       // when it was made
	Apps     []DigestApp  `json:"apps"`
	Dead     []DigestDead `json:"dead_deliveries"`
	Firing   int          `json:"firing"` // alerts firing, over all apps
}

// DigestApp is one app's line of the digest. Null amounts mean the app was never polled
// successfully; a null spend or runway means there is too little history to say.
type DigestApp struct {
	Name          string        `json:"name"`
	Currency      string        `json:"currency,omitempty"`
	Balance       *string       `json:"balance"`
	GiftBalance   *string       `json:"gift_balance"`
	TotalBalance  *string       `json:"total_balance"`
	PolledAt      *time.Time    `json:"polled_at"` // the latest successful poll
	Spent24h      *string       `json:"spent_24h"` // the ledger hours that began in the last 24 h
	BurnRate24h   *string       `json:"burn_rate_24h"`
	RunwaySeconds *int64        `json:"runway_seconds"` // null: unknown, or nothing is being spent
	RunsDryAt     *time.Time    `json:"runs_dry_at"`
	NothingSpent  bool          `json:"nothing_spent,omitempty"` // the runway is infinite
	Firing        []DigestAlert `json:"firing"`
	Dead          int           `json:"dead_deliveries"` // of this app's notifications, in the last 24 h
}

// DigestAlert is an alert firing when the digest was made.
type DigestAlert struct {
	Alert    string    `json:"alert"`
	Rule     string    `json:"rule"`
	Severity string    `json:"severity"`
	Since    time.Time `json:"since"`
}

// DigestDead is a notification that died (was refused for good, or not delivered within
// delivery.max_age) in the digest's 24 hours.
type DigestDead struct {
	EventID  string    `json:"event_id"`
	App      string    `json:"app"`
	Notifier string    `json:"notifier"`
	Type     string    `json:"type"`
	Error    string    `json:"error"`
	At       time.Time `json:"at"`
}

// DigestSummary is the digest's one-line message: "Daily digest for 2026-11-27 (UTC): 3 apps,
// 2 alerts firing, 1 delivery died in the last 24 h".
func DigestSummary(d *Digest) string {
	s := fmt.Sprintf("Daily digest for %s (%s): %s, %s firing", d.Date, d.Timezone,
		plural(len(d.Apps), "app", "apps"), plural(d.Firing, "alert", "alerts"))
	switch len(d.Dead) {
	case 0:
		s += ", no delivery died"
	case 1:
		s += ", 1 delivery died"
	default:
		s += fmt.Sprintf(", %d deliveries died", len(d.Dead))
	}
	return s + " in the last 24 h"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// DigestLine words one app of a digest: "total 612.3400 USD · spent 60.0000 USD in 24 h ·
// runs dry in about 10 days (Mon 09:00 UTC) · firing: low balance (warning)".
func DigestLine(a DigestApp) string {
	var parts []string
	if a.TotalBalance == nil {
		parts = append(parts, "never polled successfully")
	} else {
		parts = append(parts, "total "+Money(*a.TotalBalance, a.Currency))
	}
	switch {
	case a.Spent24h == nil:
	case a.BurnRate24h != nil:
		parts = append(parts, fmt.Sprintf("spent %s in 24 h (%s/h)", Money(*a.Spent24h, a.Currency), Money(*a.BurnRate24h, a.Currency)))
	default:
		parts = append(parts, fmt.Sprintf("spent %s in 24 h", Money(*a.Spent24h, a.Currency)))
	}
	switch {
	case a.RunwaySeconds != nil && *a.RunwaySeconds == 0:
		parts = append(parts, "has run dry")
	case a.RunwaySeconds != nil:
		s := "runs dry in about " + about(time.Duration(*a.RunwaySeconds)*time.Second)
		if a.RunsDryAt != nil {
			s += " (" + a.RunsDryAt.UTC().Format("Mon 15:04 UTC") + ")"
		}
		parts = append(parts, s)
	case a.NothingSpent:
		parts = append(parts, "nothing spent")
	case a.TotalBalance != nil:
		parts = append(parts, "runway unknown (too little history)")
	}
	if len(a.Firing) > 0 {
		levels := make([]string, len(a.Firing))
		for i, f := range a.Firing {
			levels[i] = Level(f.Rule, f.Severity)
		}
		parts = append(parts, "firing: "+strings.Join(levels, ", "))
	}
	if a.Dead > 0 {
		parts = append(parts, plural(a.Dead, "dead delivery", "dead deliveries"))
	}
	return strings.Join(parts, " · ")
}

// maxDeadListed bounds the dead deliveries spelled out in a message; the webhook body has them all.
const maxDeadListed = 5

// DigestDeadLine words the deliveries that died: "checkout → ops (alert.firing): slack ops:
// Slack answered HTTP 404; …"; empty when none did.
func DigestDeadLine(d *Digest) string {
	var parts []string
	for i, x := range d.Dead {
		if i == maxDeadListed {
			parts = append(parts, fmt.Sprintf("and %d more", len(d.Dead)-maxDeadListed))
			break
		}
		parts = append(parts, fmt.Sprintf("%s → %s (%s): %s", x.App, x.Notifier, x.Type, x.Error))
	}
	return strings.Join(parts, "; ")
}

// digestFields are the lines of a digest as fields: one per app, then the dead deliveries.
func digestFields(d *Digest) []Field {
	out := make([]Field, 0, len(d.Apps)+1)
	for _, a := range d.Apps {
		out = append(out, Field{a.Name, DigestLine(a)})
	}
	if line := DigestDeadLine(d); line != "" {
		out = append(out, Field{"Dead deliveries", line})
	}
	return out
}
