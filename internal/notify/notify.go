// Package notify holds what every notifier shares: the Event they deliver (the webhook body),
// the Notifier interface, the classified *Error the outbox worker steers retries by, the
// wording of events (Describe, Title, Fields) and the HTTP helpers that keep secrets out of
// errors. Each channel lives in its own package below this one (slack, webhook, telegram,
// feishu, dingtalk, wecom, teams, pagerduty, email); build turns the config into notifiers.
//
// A notifier makes exactly one delivery attempt per call. It does not retry, queue or
// deduplicate: the outbox worker owns that, steered by the classification in *Error
// (IsPermanent, RetryAfter). Nothing here decides when an alert fires; events arrive rendered.
package notify

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/opsbalance/engagelab-monitor/internal/alert"
)

// Event is the webhook body, field for field; the outbox stores it as JSON and Slack renders it.
type Event struct {
	ID               string      `json:"id"`   // "evt_" + ULID; also the webhook-id header
	Type             string      `json:"type"` // alert.firing|alert.escalated|alert.deescalated|alert.reminder|alert.resolved|alert.flapping|test
	App              string      `json:"app"`
	Alert            string      `json:"alert"` // money|access|data
	Rule             string      `json:"rule"`
	Severity         string      `json:"severity"` // warning|critical
	PreviousRule     string      `json:"previous_rule,omitempty"`
	PreviousSeverity string      `json:"previous_severity,omitempty"`
	Currency         string      `json:"currency,omitempty"`
	Balance          string      `json:"balance,omitempty"` // 4 places; absent if never polled OK
	GiftBalance      string      `json:"gift_balance,omitempty"`
	TotalBalance     string      `json:"total_balance,omitempty"`
	Threshold        string      `json:"threshold,omitempty"`
	ObservedAt       time.Time   `json:"observed_at"`
	Since            time.Time   `json:"since"` // when the condition began; for stale, the last successful poll
	Message          string      `json:"message"`
	Error            *EventError `json:"error,omitempty"`
	Spend            *EventSpend `json:"spend,omitempty"` // money and spend alerts: the burn rate and runway
	Group            *EventGroup `json:"group,omitempty"` // one message for the same rule on several apps

	// balance.topup and balance.gift_expired: what changed.
	Amount string `json:"amount,omitempty"`
	Paid   string `json:"paid,omitempty"` // the top-up's paid part (balance delta)
	Gift   string `json:"gift,omitempty"` // the top-up's gift part (gift_balance delta)
	// Recharged is the top-up this poll saw, on a money resolve ("recharged +500.0000 USD").
	Recharged string `json:"recharged,omitempty"`

	Digest *Digest `json:"digest,omitempty"` // type digest: the daily summary
}

// EventSpend is the burn rate and runway behind a money or spend alert. Rates are per hour.
type EventSpend struct {
	BurnRate24h   *string    `json:"burn_rate_24h"`
	BurnRate      string     `json:"burn_rate,omitempty"` // the rate the runway uses (1 h while the app is under a day old)
	RunwaySeconds *int64     `json:"runway_seconds"`
	RunsDryAt     *time.Time `json:"runs_dry_at"`
	// drain and daily_spend details
	Window             string `json:"window,omitempty"`
	WindowSpent        string `json:"window_spent,omitempty"`
	TypicalWindowSpent string `json:"typical_window_spent,omitempty"`
	SpentToday         string `json:"spent_today,omitempty"`
	DailySpendLimit    string `json:"daily_spend_limit,omitempty"`
	DayStart           string `json:"day_start,omitempty"` // "00:00 Asia/Shanghai"
}

// EventError is the upstream failure behind an access or data alert.
type EventError struct {
	HTTPStatus int    `json:"http_status"`
	Code       int    `json:"code,omitempty"`
	Message    string `json:"message"`
}

// Event types: the alert package's, as strings for the JSON body.
const (
	TypeFiring      = string(alert.Firing)
	TypeEscalated   = string(alert.Escalated)
	TypeDeescalated = string(alert.Deescalated)
	TypeReminder    = string(alert.Reminder)
	TypeResolved    = string(alert.Resolved)
	TypeFlapping    = string(alert.Flapping)
	TypeTopup       = string(alert.Topup)
	TypeGiftExpired = string(alert.GiftExpired)
	TypeTest        = "test" // monitor test-notify
)

// MarshalJSON writes times in UTC whatever location they carry (a timestamptz read back from
// Postgres comes in the local zone), as the webhook contract promises.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event // drops the method, so no recursion
	p := plain(e)
	p.ObservedAt = p.ObservedAt.UTC()
	p.Since = p.Since.UTC()
	return json.Marshal(p)
}

// TestEvent is the clearly marked message that `monitor test-notify NAME` sends.
func TestEvent(notifier string, now time.Time) Event {
	now = now.UTC()
	return Event{
		ID:         "evt_" + ulid.MustNew(ulid.Timestamp(now), rand.Reader).String(),
		Type:       TypeTest,
		ObservedAt: now,
		Since:      now,
		Message:    "Test message from engagelab-monitor: if you can read this, notifier " + notifier + " works.",
	}
}

// Notifier delivers one event; one attempt, no retries.
type Notifier interface {
	Notify(ctx context.Context, e Event) error
}

// Threaded is a notifier that keeps each alert episode in one thread (Slack with
// thread: true): given the episode's root message ("" for none yet), it posts e as a reply to
// it, or as a new root, and returns the root of the thread it posted in.
type Threaded interface {
	Notifier
	NotifyInThread(ctx context.Context, e Event, root string) (string, error)
}

// Error classifies a failed delivery for the outbox worker. Its text never contains a webhook
// URL's path or query, a token or a secret.
type Error struct {
	Permanent  bool          // retrying cannot help: the row should go dead at once
	RetryAfter time.Duration // what the receiver asked for, 0 if it did not say
	Status     int           // HTTP status when there was one
	Err        error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("delivery failed with HTTP %d", e.Status)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a delivery failure that retrying cannot fix.
// Errors that are not *Error (a bug, a cancelled context) count as retryable.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// RetryAfter returns the wait the receiver asked for, if it asked.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}
