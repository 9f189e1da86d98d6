package evaluate

import (
	"context"
	"crypto/rand"
	"encoding/json"

	"github.com/oklog/ulid/v2"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
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

	failure  *balance.Failure
	failRead bool
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
	id := "evt_" + ulid.MustNew(ulid.Timestamp(e.At), rand.Reader).String()
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
	failure := e.Failure
	if failure == nil && e.Alert != alert.Money && e.Type != alert.Resolved {
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
	body.Message = notify.Describe(described, r.app.Amount)
	payload, err := json.Marshal(body)
	if err != nil {
		return store.EventRecord{}, err
	}
	rec := store.EventRecord{
		ID: id, Alert: e.Alert, Type: e.Type, Rule: e.Level.Rule, Severity: e.Level.Severity,
		Since: e.Since, At: e.At, Silenced: e.Silenced, Payload: payload,
	}
	if !e.Silenced {
		var told []string
		if e.Type == alert.Resolved || e.Type == alert.Deescalated {
			if told, err = r.tx.Told(ctx, e.Alert, e.Since); err != nil {
				return store.EventRecord{}, err
			}
		}
		rec.Notifiers = r.e.route(r.app, e, told)
	}
	return rec, nil
}
