// Package poller turns a configured app into stored data and alert decisions: it polls the
// EngageLab balance API, stores the snapshot or the failure, evaluates the app's alerts under
// the store's row lock, and queues the resulting notifications in the outbox, all in one
// transaction. Scheduler runs it on each app's cron schedule; poll-once calls it directly.
// Delivery is not done here (see package delivery).
package poller

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Balancer fetches one app's balance; *engagelab.Client is one.
type Balancer interface {
	Balance(ctx context.Context, devKey, devSecret string) (balance.Snapshot, error)
}

// Observer is told about every poll, for metrics.
type Observer interface {
	ObservePoll(app, result string, took time.Duration)
}

// Config configures a Poller.
type Config struct {
	Store     *store.Store
	Client    Balancer
	Apps      []config.App
	Notifiers []config.Notifier
	AppIDs    map[string]int64 // from store.EnsureApps
	Timeout   time.Duration    // per poll, retries included; default 10s
	Clock     func() time.Time // default time.Now
	StartedAt time.Time        // process start, for staleness; default Clock()
	Logger    *slog.Logger
	Observer  Observer // optional
	// Queued is called after a transaction queued notifications, to wake a delivery worker.
	Queued func()
}

// Poller polls and evaluates apps. It is safe for concurrent use; evaluation of one app is
// serialised by the store's row lock, across processes too.
type Poller struct {
	cfg    Config
	apps   map[string]config.App
	minSev map[string]alert.Severity
}

// New checks the configuration and returns a Poller.
func New(c Config) (*Poller, error) {
	if c.Store == nil || c.Client == nil {
		return nil, errors.New("poller: store and client are required")
	}
	c.Timeout = cmp.Or(c.Timeout, 10*time.Second)
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
	p := &Poller{cfg: c, apps: map[string]config.App{}, minSev: map[string]alert.Severity{}}
	for _, a := range c.Apps {
		if _, ok := c.AppIDs[a.Name]; !ok {
			return nil, fmt.Errorf("poller: app %s is not registered in the store", a.Name)
		}
		p.apps[a.Name] = a
	}
	for _, n := range c.Notifiers {
		p.minSev[n.Name] = alert.Severity(cmp.Or(n.MinSeverity, string(alert.SeverityWarning)))
	}
	return p, nil
}

// Result is what one poll did.
type Result struct {
	App      string
	Snapshot *balance.Snapshot
	Failure  *balance.Failure
	Err      error // the poll's error (also described by Failure), or a storage error
	Events   []store.EventRecord
	Took     time.Duration
}

// Poll fetches app's balance now, stores the result and evaluates its alerts.
func (p *Poller) Poll(ctx context.Context, name string) Result {
	app, ok := p.apps[name]
	if !ok {
		return Result{App: name, Err: fmt.Errorf("poll %s: no such app in the configuration", name)}
	}
	start := p.cfg.Clock()
	pctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	bal, err := p.cfg.Client.Balance(pctx, app.DevKey, app.DevSecret.Reveal())
	cancel()
	at := p.cfg.Clock()
	res := Result{App: name, Took: at.Sub(start)}
	log := p.cfg.Logger.With("app", name)

	obs := &alert.Observation{At: at}
	if err != nil {
		var ee *engagelab.Error
		f := &balance.Failure{At: at, Kind: balance.Unclassified, Message: err.Error()}
		if errors.As(err, &ee) {
			f.Kind, f.HTTPStatus, f.Code, f.Message = ee.Kind, ee.HTTPStatus, ee.Code, ee.Message
		}
		if ctx.Err() != nil && (ee == nil || ee.Kind == balance.Timeout) {
			// Shutting down, not an upstream problem: record nothing.
			res.Err = fmt.Errorf("poll %s: %w", name, ctx.Err())
			return res
		}
		res.Failure, res.Err = f, fmt.Errorf("poll %s: %w", name, err)
		obs.Failure = f
		log.Warn("poll failed", "kind", f.Kind, "http_status", f.HTTPStatus, "code", f.Code, "error", err)
	} else {
		bal.PolledAt = at
		res.Snapshot = &bal
		obs.Snapshot = &bal
		log.Debug("polled", "total_balance", bal.TotalBalance.StringFixed(4), "took", res.Took)
		if !bal.Consistent() {
			// Stored as returned: the upstream computed it at one instant, and we do not "fix" money.
			log.Warn("total_balance differs from balance + gift_balance; stored as returned",
				"currency", bal.Currency, "balance", bal.Balance.StringFixed(4),
				"gift_balance", bal.GiftBalance.StringFixed(4), "total_balance", bal.TotalBalance.StringFixed(4))
		}
	}

	// Storing must not be cut short by a shutdown that arrives mid-poll: finish it.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer scancel()
	events, serr := p.apply(sctx, app, res.Snapshot, res.Failure, obs, nil, "")
	res.Events = events
	if serr != nil {
		res.Err = errors.Join(res.Err, fmt.Errorf("poll %s: %w", name, serr))
		log.Error("storing poll result failed", "error", serr)
	}
	if p.cfg.Observer != nil {
		result := "success"
		switch {
		case res.Failure != nil:
			result = string(res.Failure.Kind)
		case serr != nil:
			result = "not_stored" // the upstream answered but the database did not take it
		}
		p.cfg.Observer.ObservePoll(name, result, res.Took)
	}
	return res
}

// Tick evaluates app without polling: reminders, staleness and the end of a silence.
func (p *Poller) Tick(ctx context.Context, name string) ([]store.EventRecord, error) {
	app, ok := p.apps[name]
	if !ok {
		return nil, fmt.Errorf("tick %s: no such app in the configuration", name)
	}
	return p.apply(ctx, app, nil, nil, nil, nil, "")
}

// TickAll ticks every app, joining errors.
func (p *Poller) TickAll(ctx context.Context) error {
	var errs []error
	for _, name := range p.Names() {
		if _, err := p.Tick(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Silence mutes app's notifications until until; state is still tracked.
func (p *Poller) Silence(ctx context.Context, name string, until time.Time, reason string) error {
	app, ok := p.apps[name]
	if !ok {
		return fmt.Errorf("silence %s: %w", name, store.ErrNotFound)
	}
	_, err := p.apply(ctx, app, nil, nil, nil, func(s alert.State) alert.State { return alert.Silence(s, until) }, reason)
	return err
}

// Unsilence ends app's silence now; an alert still firing gets one reminder.
func (p *Poller) Unsilence(ctx context.Context, name string) ([]store.EventRecord, error) {
	app, ok := p.apps[name]
	if !ok {
		return nil, fmt.Errorf("unsilence %s: %w", name, store.ErrNotFound)
	}
	now := p.cfg.Clock()
	return p.apply(ctx, app, nil, nil, nil, func(s alert.State) alert.State { return alert.Unsilence(s, now) }, "")
}

// Names lists the configured apps in config order.
func (p *Poller) Names() []string {
	out := make([]string, 0, len(p.cfg.Apps))
	for _, a := range p.cfg.Apps {
		out = append(out, a.Name)
	}
	return out
}

// apply stores the poll result and evaluates. mutate, when set, changes the state first
// (silences); reason is then the new silence reason.
func (p *Poller) apply(ctx context.Context, app config.App, snap *balance.Snapshot, fail *balance.Failure, obs *alert.Observation, mutate func(alert.State) alert.State, reason string) ([]store.EventRecord, error) {
	now := p.cfg.Clock()
	if obs != nil {
		now = obs.At
	}
	rules := Rules(app)
	dec, err := p.cfg.Store.Apply(ctx, p.cfg.AppIDs[app.Name], snap, fail, func(ev store.Evaluation) (store.Decision, error) {
		st := ev.State
		silenceReason := ev.SilenceReason
		if ev.Overtaken {
			obs = nil // a newer poll was already evaluated: this one only adds history
		}
		if mutate != nil {
			st = mutate(st)
			silenceReason = reason
		}
		next, events := alert.Evaluate(st, obs, rules, now, p.cfg.StartedAt)
		if next.SilencedUntil.IsZero() {
			silenceReason = ""
		}
		d := store.Decision{State: next, SilenceReason: silenceReason}
		for _, e := range events {
			rec, err := p.record(app, e, ev)
			if err != nil {
				return d, err
			}
			d.Events = append(d.Events, rec)
		}
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	queued := false
	for _, e := range dec.Events {
		p.cfg.Logger.Info("alert event", "app", app.Name, "type", e.Type, "alert", e.Alert, "rule", e.Rule,
			"severity", e.Severity, "silenced", e.Silenced, "notifiers", e.Notifiers)
		queued = queued || len(e.Notifiers) > 0
	}
	if queued && p.cfg.Queued != nil {
		p.cfg.Queued()
	}
	return dec.Events, nil
}

// Rules maps an app's configuration onto the alert rules.
func Rules(a config.App) alert.Rules {
	return alert.Rules{
		Amount: a.Amount, Warning: a.Warning, Critical: a.Critical,
		ResolveMargin: a.ResolveMargin, OverdraftWarnRatio: a.OverdraftWarnRatio, OverdraftLimit: a.OverdraftLimit,
		RepeatEvery: a.RepeatEvery, StaleAfter: a.StaleAfter,
	}
}

// record renders an alert event into the webhook body and picks its notifiers.
func (p *Poller) record(app config.App, e alert.Event, ev store.Evaluation) (store.EventRecord, error) {
	id := "evt_" + ulid.MustNew(ulid.Timestamp(e.At), rand.Reader).String()
	body := notify.Event{
		ID: id, Type: string(e.Type), App: app.Name, Alert: string(e.Alert),
		Rule: e.Level.Rule, Severity: string(e.Level.Severity),
		PreviousRule: e.Previous.Rule, PreviousSeverity: string(e.Previous.Severity),
		ObservedAt: e.At.UTC(), Since: e.Since.UTC(),
	}
	if s := ev.Latest; s != nil {
		body.Currency = s.Currency
		body.Balance, body.GiftBalance, body.TotalBalance = s.Balance.StringFixed(4), s.GiftBalance.StringFixed(4), s.TotalBalance.StringFixed(4)
	}
	if e.Threshold != nil {
		body.Threshold = e.Threshold.StringFixed(4)
	}
	failure := e.Failure
	if failure == nil && e.Alert != alert.Money && e.Type != alert.Resolved && ev.LastFailure != nil {
		// A reminder on a timer tick has no observation: repeat the failure that keeps it firing.
		failure = ev.LastFailure
	}
	if failure != nil {
		e.Failure = failure
		body.Error = &notify.EventError{HTTPStatus: e.Failure.HTTPStatus, Code: e.Failure.Code, Message: e.Failure.Message}
	}
	described := body
	if e.Level.Rule == alert.RuleStale {
		// The stale sentence says since when no poll succeeded, not since when it fired.
		described.Since = ev.State.LastSuccessAt
		if described.Since.Before(p.cfg.StartedAt) {
			described.Since = p.cfg.StartedAt.UTC()
		}
	}
	body.Message = notify.Describe(described, app.Amount)
	payload, err := json.Marshal(body)
	if err != nil {
		return store.EventRecord{}, err
	}
	rec := store.EventRecord{
		ID: id, Alert: e.Alert, Type: e.Type, Rule: e.Level.Rule, Severity: e.Level.Severity,
		Since: e.Since, At: e.At, Silenced: e.Silenced, Payload: payload,
	}
	if !e.Silenced {
		rec.Notifiers = p.route(app, e, ev.Told[e.Alert])
	}
	return rec, nil
}

// route picks the app's notifiers that get e: those whose min_severity it meets, and, for a
// resolve or de-escalation, every notifier already told about this alert.
func (p *Poller) route(app config.App, e alert.Event, told []string) []string {
	var out []string
	for _, n := range app.Notify {
		min := p.minSev[n]
		meets := min != alert.SeverityCritical || e.Level.Severity == alert.SeverityCritical
		wasTold := slices.Contains(told, n)
		switch e.Type {
		case alert.Resolved, alert.Deescalated:
			if meets || wasTold {
				out = append(out, n)
			}
		default:
			if meets {
				out = append(out, n)
			}
		}
	}
	return out
}
