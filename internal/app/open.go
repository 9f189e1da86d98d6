package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/delivery"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/metrics"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/poller"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// OpenOptions configure Open. The zero value suits a CLI verb: connect once and fail fast,
// migrate, every app of the config.
type OpenOptions struct {
	Logger *slog.Logger
	// NoMigrate checks that the schema is current instead of migrating it.
	NoMigrate bool
	// Version labels engagelab_build_info; "dev" when empty.
	Version string
	// ConnectRetry, when set, waits and retries (saying so) while the database is unreachable,
	// instead of failing at once: `serve` must not crash-loop when started before its database.
	ConnectRetry time.Duration
	// Apps limits the service to these apps (poll-once --app); default all.
	Apps []string
	// Clock is the one clock every part reads; default time.Now.
	Clock func() time.Time
	// Delivery tuning for tests; zero means the production default.
	BaseBackoff, PollOutbox time.Duration
}

// App is the assembled service: one database, the notifiers, the evaluator, the poller and
// the delivery worker, built once from one config. Every verb and every end-to-end test gets
// its parts from Open, so there is one way to put them together.
type App struct {
	Config    *config.Config
	Store     *store.Store
	Notifiers map[string]notify.Notifier
	Evaluator *evaluate.Evaluator
	Poller    *poller.Poller
	Delivery  *delivery.Worker
	Metrics   *metrics.Metrics

	apps      []config.App // the apps this App serves (a subset with OpenOptions.Apps)
	delivery  delivery.Config
	log       *slog.Logger
	clock     func() time.Time
	startedAt time.Time
}

// Open checks the config, connects, migrates (or checks the schema), registers the apps and
// builds every part. A mistake in the config is a *ConfigError.
func Open(ctx context.Context, cfg *config.Config, o OpenOptions) (*App, error) {
	notifiers, err := check(cfg, "") // a verb serves no HTTP: the listener is serve's to check
	if err != nil {
		return nil, err
	}
	return open(ctx, cfg, notifiers, o)
}

// open is Open with the config checked and its notifiers built.
func open(ctx context.Context, cfg *config.Config, notifiers map[string]notify.Notifier, o OpenOptions) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	apps, err := selectApps(cfg, o.Apps)
	if err != nil {
		return nil, err
	}
	st, err := connect(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	a, err := assemble(ctx, cfg, o, st, notifiers, apps)
	if err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

func assemble(ctx context.Context, cfg *config.Config, o OpenOptions, st *store.Store, notifiers map[string]notify.Notifier, apps []config.App) (*App, error) {
	log := o.Logger
	if o.NoMigrate {
		if err := st.CheckSchema(ctx); err != nil {
			return nil, err
		}
	} else {
		applied, err := st.Migrate(ctx)
		if err != nil {
			return nil, err
		}
		if len(applied) > 0 {
			log.Info("database migrated", "applied", applied)
		}
	}
	ids, err := register(ctx, st, apps)
	if err != nil {
		return nil, err
	}
	// The start, to the microsecond Postgres keeps, for staleness: a reload's evaluator keeps it.
	startedAt := o.Clock().Truncate(time.Microsecond)
	a := &App{Config: cfg, Store: st, Notifiers: notifiers, apps: apps, log: log, clock: o.Clock, startedAt: startedAt}
	a.Metrics = metrics.New(st, cfg, metrics.WithVersion(o.Version))
	a.delivery = delivery.Config{
		Store: st, Notifiers: notifiers, Grouping: cfg.Grouping, MaxAge: cfg.Delivery.MaxAge, BaseBackoff: o.BaseBackoff,
		PollEvery: o.PollOutbox, Clock: o.Clock, Logger: log.With("component", "delivery"), Observer: a.Metrics,
	}
	a.Delivery = delivery.New(a.delivery)
	a.Evaluator, a.Poller, err = a.judge(cfg, apps, ids)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// judge builds the evaluator and the poller of apps from cfg; Open and a reload share it.
func (a *App) judge(cfg *config.Config, apps []config.App, ids map[string]int64) (*evaluate.Evaluator, *poller.Poller, error) {
	log := a.log
	ev, err := evaluate.New(evaluate.Config{
		Store: a.Store, Apps: apps, Notifiers: cfg.Notifiers, Grouping: cfg.Grouping, AppIDs: ids, Clock: a.clock, StartedAt: a.startedAt,
		Logger: log.With("component", "evaluate"), Queued: a.Delivery.Wake,
	})
	if err != nil {
		return nil, nil, err
	}
	p, err := poller.New(poller.Config{
		Client: engagelab.New(cfg.EngageLab.BaseURL, engagelab.WithSMSBaseURL(cfg.EngageLab.SMSBaseURL),
			engagelab.WithMaxConcurrency(cfg.EngageLab.MaxConcurrency), engagelab.WithLogger(log.With("component", "engagelab"))),
		Evaluator: ev, Apps: apps, Timeout: cfg.EngageLab.Timeout, Clock: ev.Now,
		Logger: log.With("component", "poller"), Observer: a.Metrics, MaxConcurrency: cfg.EngageLab.MaxConcurrency,
	})
	if err != nil {
		return nil, nil, err
	}
	return ev, p, nil
}

// selectApps returns the configured apps named (each once, in the order named), or all.
func selectApps(cfg *config.Config, names []string) ([]config.App, error) {
	if len(names) == 0 {
		return cfg.Apps, nil
	}
	var out []config.App
	for i, name := range names {
		a, ok := cfg.App(name)
		if !ok {
			return nil, fmt.Errorf("%w: no app named %q in the config", ErrUnknownApp, name)
		}
		if !slices.Contains(names[:i], name) {
			out = append(out, a)
		}
	}
	return out, nil
}

// ErrUnknownApp is wrapped by every refusal to act on an app the config does not name.
var ErrUnknownApp = errors.New("unknown app")

// Close closes the database.
func (a *App) Close() { a.Store.Close() }

// PollOnce polls every app of this App now, bounded by engagelab.max_concurrency requests to
// EngageLab at once (and poller.InFlight polls, storing included), and then
// delivers what the polls caused for up to deliverTimeout. It returns the polls' results and
// how many of their notifications are still pending.
func (a *App) PollOnce(ctx context.Context, deliverTimeout time.Duration) ([]poller.Result, int, error) {
	results := make([]poller.Result, len(a.apps))
	sem := make(chan struct{}, poller.InFlight(a.Config.EngageLab.MaxConcurrency))
	var wg sync.WaitGroup
	for i, app := range a.apps {
		sem <- struct{}{} // before the goroutine: 10,000 waiting goroutines cost more memory than the polls
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = a.Poller.Poll(ctx, app.Name)
		})
	}
	wg.Wait()
	var eventIDs []string
	for _, r := range results {
		for _, ev := range r.Events {
			eventIDs = append(eventIDs, ev.ID)
		}
	}
	c := a.delivery
	c.BaseBackoff = time.Second
	pending, err := delivery.DeliverEvents(ctx, c, eventIDs, deliverTimeout)
	return results, pending, err
}

// Silence mutes app until until; see evaluate.Evaluator.Silence.
func (a *App) Silence(ctx context.Context, app string, until time.Time, reason string) error {
	if _, ok := a.Config.App(app); !ok {
		return fmt.Errorf("%w: no app named %q in the config", ErrUnknownApp, app)
	}
	return a.Evaluator.Silence(ctx, app, until, reason)
}

// Unsilence ends app's silence; see evaluate.Evaluator.Unsilence.
func (a *App) Unsilence(ctx context.Context, app string) error {
	if _, ok := a.Config.App(app); !ok {
		return fmt.Errorf("%w: no app named %q in the config", ErrUnknownApp, app)
	}
	_, err := a.Evaluator.Unsilence(ctx, app)
	return err
}

// connect opens the database. With ConnectRetry it waits and retries (saying so) while the
// database is unreachable; a malformed URL is never retried.
func connect(ctx context.Context, cfg *config.Config, o OpenOptions) (*store.Store, error) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := store.Open(cctx, cfg.Database.URL.Reveal(), o.Logger)
		cancel()
		if err == nil {
			return st, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, store.ErrBadURL) || o.ConnectRetry == 0 {
			return nil, err
		}
		o.Logger.Warn("database not reachable; retrying", "retry_in", o.ConnectRetry, "error", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(o.ConnectRetry):
		}
	}
}

// register registers apps in the store, in one statement, and returns their ids by name.
func register(ctx context.Context, st *store.Store, apps []config.App) (map[string]int64, error) {
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name
	}
	return st.EnsureApps(ctx, names)
}
