package evaluate

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/spend"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// renderer turns the events of one evaluation into outbox records. What it reads from the
// database (the failure behind a reminder, who was told) it reads at most once, and only when
// an event needs it: most evaluations have no event at all.
type renderer struct {
	e     *Evaluator
	app   config.App
	tx    *store.AppTx
	state store.AppState
	obs   *alert.Observation // nil for a tick or an overtaken poll
	spend *spendNow          // read in this evaluation; nil until an event needs it
	now   time.Time

	failure  *balance.Failure
	failRead bool
	// entropy makes the ids of one evaluation's events increase in the order they were made,
	// so the event log (ordered by time, then id) lists a damped change before the flapping
	// message it caused, not in a random order within the millisecond.
	entropy *ulid.MonotonicEntropy
}

// stats returns the app's spend as of now, reading it if this evaluation has not yet.
func (r *renderer) stats(ctx context.Context) (*spendNow, error) {
	if r.spend == nil {
		in, err := spendInputsAt(ctx, r.tx, r.app, r.now)
		if err != nil {
			return nil, err
		}
		r.spend = &spendNow{stats: spend.Compute(in)}
	}
	return r.spend, nil
}

// spendBody is the "spend" object of a money or spend alert's body.
func (r *renderer) spendBody(ctx context.Context, e alert.Event) (*notify.EventSpend, error) {
	sp, err := r.stats(ctx)
	if err != nil {
		return nil, err
	}
	st := sp.stats
	out := &notify.EventSpend{}
	if st.Rate24h != nil {
		v := st.Rate24h.StringFixed(4)
		out.BurnRate24h = &v
	}
	if rw := RunwayOf(r.app, st, r.tx.Latest()); rw.Known {
		out.BurnRate = rw.Rate.StringFixed(4)
		if !rw.Infinite {
			secs := int64(rw.Left / time.Second)
			dry := r.now.Add(rw.Left).UTC().Truncate(time.Second)
			out.RunwaySeconds, out.RunsDryAt = &secs, &dry
		}
	}
	switch e.Alert {
	case alert.Drain:
		out.Window = formatHours(r.app.Drain.Window)
		out.WindowSpent = st.WindowSpent.StringFixed(4)
		if st.Typical != nil {
			out.TypicalWindowSpent = st.Typical.StringFixed(4)
		}
	case alert.DailySpend:
		out.SpentToday = st.SpentToday.StringFixed(4)
		if r.app.DailySpendLimit != nil {
			out.DailySpendLimit = r.app.DailySpendLimit.StringFixed(4)
		}
		out.DayStart = "00:00 " + r.app.SpendDay.String()
	}
	return out, nil
}

func formatHours(d time.Duration) string {
	return fmt.Sprintf("%d h", int(d/time.Hour))
}

func (r *renderer) lastFailure(ctx context.Context) (*balance.Failure, error) {
	if !r.failRead {
		r.failRead = true
		if r.obs != nil && r.obs.Failure != nil {
			r.failure = r.obs.Failure
		} else if r.obs == nil || r.obs.Snapshot == nil {
			var err error
			if r.failure, err = r.tx.LastFailure(ctx); err != nil {
				return nil, err
			}
		}
	}
	return r.failure, nil
}

// record renders an alert event into the webhook body and picks its notifiers.
func (r *renderer) record(ctx context.Context, e alert.Event) (store.EventRecord, error) {
	if r.entropy == nil {
		r.entropy = ulid.Monotonic(rand.Reader, 0)
	}
	id := "evt_" + ulid.MustNew(ulid.Timestamp(e.At), r.entropy).String()
	body := notify.Event{
		ID: id, Type: string(e.Type), App: r.app.Name, Alert: string(e.Alert),
		Rule: e.Level.Rule, Severity: string(e.Level.Severity),
		PreviousRule: e.Previous.Rule, PreviousSeverity: string(e.Previous.Severity),
		ObservedAt: e.At.UTC(), Since: e.Since.UTC(),
	}
	if latest := r.tx.Latest(); latest != nil {
		body.Currency = latest.Currency
		body.Balance, body.GiftBalance, body.TotalBalance = latest.Balance.StringFixed(4), latest.GiftBalance.StringFixed(4), latest.TotalBalance.StringFixed(4)
	}
	if e.Threshold != nil {
		body.Threshold = e.Threshold.StringFixed(4)
	}
	var err error
	switch e.Alert {
	case balanceAlert:
		return r.balanceRecord(body, e)
	case alert.Money, alert.Runway, alert.Drain, alert.DailySpend:
		if e.Type != alert.Resolved {
			if body.Spend, err = r.spendBody(ctx, e); err != nil {
				return store.EventRecord{}, err
			}
		} else if e.Alert == alert.Money && r.spend != nil && r.spend.delta.ToppedUp.IsPositive() {
			body.Recharged = r.spend.delta.ToppedUp.StringFixed(4)
		}
	}
	failure := e.Failure
	if failure == nil && (e.Alert == alert.Access || e.Alert == alert.Data) && e.Type != alert.Resolved {
		// A reminder on a timer tick has no observation: repeat the failure that keeps it firing.
		if failure, err = r.lastFailure(ctx); err != nil {
			return store.EventRecord{}, err
		}
	}
	if failure != nil {
		body.Error = &notify.EventError{HTTPStatus: failure.HTTPStatus, Code: failure.Code, Message: failure.Message}
	}
	described := body
	if e.Level.Rule == alert.RuleStale {
		// The stale sentence says since when no poll succeeded, not since when it fired.
		described.Since = r.state.Alerts.LastSuccessAt
		if described.Since.Before(r.e.cfg.StartedAt) {
			described.Since = r.e.cfg.StartedAt.UTC()
		}
	}
	body.Message = describe(described, e, r.app)
	var notifiers []string
	if !e.Silenced {
		var told []string
		if e.Type == alert.Resolved || e.Type == alert.Deescalated || e.Type == alert.Flapping {
			if told, err = r.tx.Told(ctx, e.Alert, e.Since); err != nil {
				return store.EventRecord{}, err
			}
		}
		notifiers = r.e.route(r.app, e, told)
	}
	rec, err := eventRecord(body, e, notifiers)
	if grouped := r.e.grouped(e, notifiers); len(grouped) > 0 {
		rec.Grouped, rec.GroupKey, rec.GroupWait = grouped, groupKey(e), r.e.cfg.Grouping.Wait
	}
	return rec, err
}

// describe is the message sentence of an alert event; a flap's messages say what damping does.
func describe(body notify.Event, e alert.Event, app config.App) string {
	switch {
	case e.Type == alert.Flapping && e.Flap != nil:
		return fmt.Sprintf("%s: %s alert is flapping (%d changes in %s); messages paused until it is stable for %s",
			body.App, e.Alert, e.Flap.Changes, notify.FormatDuration(e.Flap.Window), notify.FormatDuration(e.Flap.Window))
	case e.Flap != nil && e.Flap.Ended:
		return notify.Describe(body, app.Amount) + fmt.Sprintf("; stable for %s after flapping, messages resume", notify.FormatDuration(e.Flap.Window))
	}
	return notify.Describe(body, app.Amount)
}

// eventRecord is the outbox's record of e with its rendered body.
func eventRecord(body notify.Event, e alert.Event, notifiers []string) (store.EventRecord, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return store.EventRecord{}, err
	}
	return store.EventRecord{
		ID: body.ID, Alert: e.Alert, Type: e.Type, Rule: e.Level.Rule, Severity: e.Level.Severity,
		Since: e.Since, At: e.At, Silenced: e.Silenced, Payload: payload, Notifiers: notifiers,
	}, nil
}

// balanceRecord renders a top-up or gift expiry, sent only to notifiers that opt in.
func (r *renderer) balanceRecord(body notify.Event, e alert.Event) (store.EventRecord, error) {
	d := r.spend.delta
	switch e.Type {
	case alert.Topup:
		body.Amount, body.Paid, body.Gift = d.ToppedUp.StringFixed(4), d.TopupPaid.StringFixed(4), d.TopupGift.StringFixed(4)
	case alert.GiftExpired:
		body.Amount = d.GiftExpired.StringFixed(4)
	}
	body.Message = notify.Describe(body, r.app.Amount)
	var notifiers []string
	if !e.Silenced {
		notifiers = r.e.routeEvent(r.app, e.Level.Rule)
	}
	return eventRecord(body, e, notifiers)
}
