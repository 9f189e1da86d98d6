// Package evaluate is the one owner of "an observation or a clock tick changes an app's
// alerts". Under the app's row lock (a store.AppTx) it stores the poll's snapshot or failure,
// runs the pure alert rules, renders each event into its webhook body (render.go), picks the
// notifiers it goes to (route.go) and queues them in the outbox, all in one transaction.
//
// It does not fetch balances (package poller does, and hands the result here), schedule
// anything, or send notifications (package delivery does).
package evaluate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/spend"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Config configures an Evaluator.
type Config struct {
	Store     *store.Store
	Apps      []config.App
	Notifiers []config.Notifier
	Grouping  config.Grouping  // grouped outages; off when MinApps is 0
	AppIDs    map[string]int64 // from store.EnsureApps
	Clock     func() time.Time // default time.Now
	StartedAt time.Time        // process start, for staleness; default Clock()
	Logger    *slog.Logger
	// Queued is called after a transaction queued notifications, to wake a delivery worker.
	Queued func()
}

// Evaluator changes apps' alerts. It is safe for concurrent use; evaluations of one app are
// serialised by the store's row lock, across processes too.
type Evaluator struct {
	cfg    Config
	apps   map[string]*config.App // into cfg.Apps: a copy per app would be 10,000 copies
	minSev map[string]alert.Severity
	events map[string][]string // notifier -> the non-alert events it opted in to
	solo   map[string]bool     // notifiers whose messages are never grouped
	tick   *store.TickRules    // every app's, for TickAll: built once, not every 15 s
	byID   map[int64]*config.App
}

// New checks the configuration and returns an Evaluator.
func New(c Config) (*Evaluator, error) {
	if c.Store == nil {
		return nil, errors.New("evaluate: a store is required")
	}
	clock := c.Clock
	if clock == nil {
		clock = time.Now
	}
	// Postgres keeps microseconds: a time with nanoseconds would reach the first message of an
	// alert as it is, and every later message (read back from the database) rounded down, so
	// the same episode would carry two different "since" values.
	c.Clock = func() time.Time { return clock().Truncate(time.Microsecond) }
	if c.StartedAt.IsZero() {
		c.StartedAt = c.Clock()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Evaluator{cfg: c, apps: make(map[string]*config.App, len(c.Apps)), minSev: map[string]alert.Severity{}, events: map[string][]string{}, solo: map[string]bool{}}
	for i, a := range c.Apps {
		if _, ok := c.AppIDs[a.Name]; !ok {
			return nil, fmt.Errorf("evaluate: app %s is not registered in the store", a.Name)
		}
		e.apps[a.Name] = &c.Apps[i]
	}
	rules := make([]store.TickRule, 0, len(c.Apps))
	e.byID = make(map[int64]*config.App, len(c.Apps))
	for i := range c.Apps {
		a := &c.Apps[i]
		id := c.AppIDs[a.Name]
		rules = append(rules, store.TickRule{AppID: id, RepeatEvery: a.RepeatEvery, StaleAfter: a.StaleAfter, FlapWindow: FlapRules(*a).Window})
		e.byID[id] = a
	}
	e.tick = store.NewTickRules(rules)
	for _, n := range c.Notifiers {
		e.minSev[n.Name] = minSeverity(n)
		e.events[n.Name] = n.Events
		e.solo[n.Name] = !n.Groupable()
	}
	return e, nil
}

// Now is the evaluator's clock, in the precision the database keeps.
func (e *Evaluator) Now() time.Time { return e.cfg.Clock() }

// Names lists the configured apps in config order.
func (e *Evaluator) Names() []string {
	out := make([]string, 0, len(e.cfg.Apps))
	for _, a := range e.cfg.Apps {
		out = append(out, a.Name)
	}
	return out
}

// Observe stores one poll of app (exactly one of snap and fail) and evaluates its alerts.
func (e *Evaluator) Observe(ctx context.Context, app string, snap *balance.Snapshot, fail *balance.Failure) ([]store.EventRecord, error) {
	a, ok := e.apps[app]
	if !ok {
		return nil, fmt.Errorf("observe %s: %w", app, store.ErrNotFound)
	}
	obs := &alert.Observation{Snapshot: snap, Failure: fail}
	switch {
	case snap != nil:
		obs.At = snap.PolledAt
	case fail != nil:
		obs.At = fail.At
	default:
		return nil, fmt.Errorf("observe %s: neither a snapshot nor a failure", app)
	}
	return e.apply(ctx, *a, obs, nil)
}

// Tick evaluates app without a poll: reminders, staleness and the end of a silence or a flap.
func (e *Evaluator) Tick(ctx context.Context, app string) ([]store.EventRecord, error) {
	a, ok := e.apps[app]
	if !ok {
		return nil, fmt.Errorf("tick %s: %w", app, store.ErrNotFound)
	}
	return e.apply(ctx, *a, nil, nil)
}

// TickAll ticks every app a tick could change now (one query finds them), joining errors.
// The rest, usually nearly all, are not touched.
func (e *Evaluator) TickAll(ctx context.Context) error {
	due, err := e.cfg.Store.DueForTick(ctx, e.cfg.Clock(), e.cfg.StartedAt, e.tick)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range due {
		a := e.byID[id]
		if _, err := e.apply(ctx, *a, nil, nil); err != nil {
			errs = append(errs, fmt.Errorf("tick %s: %w", a.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Silence mutes app's notifications until until; its state is still tracked and its events
// recorded. The error wraps store.ErrNotFound for an app not in the configuration.
func (e *Evaluator) Silence(ctx context.Context, app string, until time.Time, reason string) error {
	a, ok := e.apps[app]
	if !ok {
		return fmt.Errorf("silence %s: %w", app, store.ErrNotFound)
	}
	_, err := e.apply(ctx, *a, nil, func(s *store.AppState) {
		s.Alerts = alert.Silence(s.Alerts, until)
		s.SilenceReason = reason
	})
	return err
}

// Unsilence ends app's silence now; an alert still firing gets one message saying so.
func (e *Evaluator) Unsilence(ctx context.Context, app string) ([]store.EventRecord, error) {
	a, ok := e.apps[app]
	if !ok {
		return nil, fmt.Errorf("unsilence %s: %w", app, store.ErrNotFound)
	}
	now := e.cfg.Clock()
	return e.apply(ctx, *a, nil, func(s *store.AppState) { s.Alerts = alert.Unsilence(s.Alerts, now) })
}

// apply is every change of an app's alerts: under the app's lock it stores the observation
// (if any), applies change (a silence), evaluates, and records the events with their outbox rows.
func (e *Evaluator) apply(ctx context.Context, app config.App, obs *alert.Observation, change func(*store.AppState)) ([]store.EventRecord, error) {
	now := e.cfg.Clock()
	if obs != nil {
		now = obs.At
	}
	var records []store.EventRecord
	lock := e.cfg.Store.WithAppLock
	if obs != nil {
		// A poll's result joins those of other polls finishing meanwhile in one transaction,
		// with the spend history ledger() asks for first read ahead with the locks.
		var q *store.SpendQuery
		if obs.Snapshot != nil {
			sq := spendQuery(app, obs.Snapshot.PolledAt)
			q = &sq
		}
		lock = func(ctx context.Context, id int64, fn func(context.Context, *store.AppTx) error) error {
			return e.cfg.Store.WithAppLockGrouped(ctx, id, q, fn)
		}
	}
	err := lock(ctx, e.cfg.AppIDs[app.Name], func(ctx context.Context, tx *store.AppTx) error {
		// The store may run this again (a group that failed is written one poll at a time):
		// every run starts from the observation as it came, never from one an earlier run changed.
		obs := obs
		records = nil
		prev := tx.State()
		// A poll older than the newest one evaluated lost the race to the lock (two polls ran at
		// once): its result is history, not news, and must not move the alerts backwards.
		overtaken := obs != nil && obs.At.Before(prev.LastPolledAt)
		prevSnap := tx.Latest()
		if obs != nil {
			if err := storeObservation(ctx, tx, obs, overtaken); err != nil {
				return err
			}
		}
		// A balance in another currency than USD is history (stored above) but no news: neither
		// the USD thresholds nor the USD ledger can take it, so the alerts see an upstream change.
		if f := currencyFailure(obs); f != nil {
			e.cfg.Logger.Warn("balance in another currency than USD: stored, not compared", "app", app.Name, "message", f.Message)
			obs = &alert.Observation{At: obs.At, Failure: f}
		}
		if prevSnap != nil && !prevSnap.Comparable() {
			prevSnap = nil // nothing to book a change against
		}
		evalObs := obs
		if overtaken {
			evalObs = nil
		}
		sp, evalObs, err := readSpend(ctx, tx, app, prev, prevSnap, obs, evalObs, now)
		if err != nil {
			return err
		}
		next := prev
		if change != nil {
			change(&next)
		}
		var events []alert.Event
		before := next.Alerts
		next.Alerts, events = alert.Evaluate(next.Alerts, evalObs, Rules(app), now, e.cfg.StartedAt)
		// Damping changes only what is sent: the state and the event log stay as Evaluate made them.
		var flaps alert.Flaps
		next.Alerts, flaps, events = alert.Damp(before, next.Alerts, tx.Flaps(), events, FlapRules(app), now)
		if err := tx.SaveFlaps(ctx, flaps); err != nil {
			return err
		}
		if next.Alerts.SilencedUntil.IsZero() {
			next.SilenceReason = ""
		}
		if evalObs != nil && (evalObs.Snapshot != nil || evalObs.Failure != nil) {
			if err := tx.MarkPolled(ctx, evalObs.At, evalObs.Failure); err != nil {
				return err
			}
		}
		if next != prev {
			if err := tx.SaveState(ctx, next); err != nil {
				return err
			}
		}
		r := renderer{e: e, app: app, tx: tx, state: next, obs: evalObs, spend: sp, now: now}
		if sp != nil {
			events = append(events, balanceEvents(sp.delta, now, now.Before(next.Alerts.SilencedUntil))...)
		}
		for _, ev := range events {
			rec, err := r.record(ctx, ev)
			if err != nil {
				return err
			}
			if err := tx.InsertEvent(ctx, rec); err != nil {
				return err
			}
			records = append(records, rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	queued := false
	for _, r := range records {
		e.cfg.Logger.Info("alert event", "app", app.Name, "type", r.Type, "alert", r.Alert, "rule", r.Rule,
			"severity", r.Severity, "silenced", r.Silenced, "notifiers", r.Notifiers)
		queued = queued || len(r.Notifiers) > 0
	}
	if queued && e.cfg.Queued != nil {
		e.cfg.Queued()
	}
	return records, nil
}

func currencyFailure(obs *alert.Observation) *balance.Failure {
	if obs == nil || obs.Snapshot == nil {
		return nil
	}
	return obs.Snapshot.CurrencyFailure(obs.At)
}

// readSpend books a snapshot's change in the ledger and reads the spend the alert rules need,
// returning it with the observation to evaluate (which carries it). Without a snapshot to book
// it reads nothing, except on a tick while daily_spend fires: only the clock ends a day.
func readSpend(ctx context.Context, tx *store.AppTx, app config.App, prev store.AppState, prevSnap *balance.Snapshot,
	obs, evalObs *alert.Observation, now time.Time) (*spendNow, *alert.Observation, error) {
	var sp *spendNow
	switch {
	case obs != nil && obs.Snapshot != nil && (prevSnap == nil || obs.Snapshot.PolledAt.After(prevSnap.PolledAt)):
		// The ledger is the chain of snapshots in time order: a snapshot older than the newest
		// stored one is history between two already booked, and booking it would count its
		// change twice. A newer one is booked even when a newer failed poll has overtaken it
		// for the alerts: its money is still the latest known.
		stats, delta, err := ledger(ctx, tx, app, prevSnap, *obs.Snapshot)
		if err != nil {
			return nil, nil, err
		}
		sp = &spendNow{stats: stats, delta: delta}
	case evalObs == nil && prev.Alerts.DailySpend.Level.Firing() && app.DailySpendLimit != nil:
		in, err := spendInputsAt(ctx, tx, app, now)
		if err != nil {
			return nil, nil, err
		}
		sp = &spendNow{stats: spend.Compute(in)}
		evalObs = &alert.Observation{At: now}
	}
	if sp != nil && evalObs != nil {
		o := *evalObs
		o.Spend = sp.view(app, tx.Latest())
		evalObs = &o
	}
	return sp, evalObs, nil
}

// storeObservation stores the observation itself: every poll is history, overtaken or not.
func storeObservation(ctx context.Context, tx *store.AppTx, obs *alert.Observation, overtaken bool) error {
	if obs.Snapshot != nil {
		return tx.InsertSnapshot(ctx, *obs.Snapshot)
	}
	return tx.RecordFailure(ctx, *obs.Failure, overtaken)
}

// FlapRules maps an app's flap setting onto alert.Damp's rules; off has no window.
func FlapRules(a config.App) alert.FlapRules {
	if a.Flap.Off {
		return alert.FlapRules{Off: true}
	}
	return alert.FlapRules{MaxChanges: a.Flap.MaxChanges, Window: a.Flap.Window}
}

// Rules maps an app's configuration onto the alert rules.
func Rules(a config.App) alert.Rules {
	return alert.Rules{
		Amount: a.Amount, Warning: a.Warning, Critical: a.Critical,
		ResolveMargin: a.ResolveMargin, OverdraftWarnRatio: a.OverdraftWarnRatio, OverdraftLimit: a.OverdraftLimit,
		RepeatEvery: a.RepeatEvery, StaleAfter: a.StaleAfter,
		Spend: alert.SpendRules{
			RunwayOff: a.Runway.Off, RunwayWarning: a.Runway.Warning, RunwayCritical: a.Runway.Critical,
			DrainOff: a.Drain.Off, DrainFactor: a.Drain.Factor, DrainMin: a.Drain.Min, DrainMinHistory: a.Drain.MinHistory,
			DailyLimit: a.DailySpendLimit,
		},
	}
}
