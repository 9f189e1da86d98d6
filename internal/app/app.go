// Package app assembles the service from its parts (store, poller, scheduler, delivery
// worker, HTTP server) and runs it until its context ends. It is what `monitor serve` runs and
// what end-to-end tests start in-process on port 0.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/httpapi"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/build"
	"github.com/opsbalance/engagelab-monitor/internal/poller"
	"github.com/opsbalance/engagelab-monitor/internal/retention"
	"github.com/opsbalance/engagelab-monitor/internal/store"
	"github.com/opsbalance/engagelab-monitor/internal/watch"
)

// Options configure a Service. Only Config is required; the rest exist for tests.
type Options struct {
	Config    *config.Config
	Logger    *slog.Logger
	NoMigrate bool
	// Version labels engagelab_build_info; "dev" when empty.
	Version string
	// Listen overrides http.listen (tests use "127.0.0.1:0").
	Listen string
	// Tuning for tests; zero means the production default.
	TickEvery    time.Duration
	MaxJitter    time.Duration
	BaseBackoff  time.Duration
	PollOutbox   time.Duration
	ConnectRetry time.Duration // wait between attempts to reach the database at start; default 5s
	Clock        func() time.Time
	// Polled is called after every scheduled poll.
	Polled func(poller.Result)
	// Load re-reads the config file for a reload; nil refuses reloads (see Reload).
	Load func() (*config.Config, error)
	// Reload asks the running service to reload (serve sends SIGHUP here). One asked for
	// while the service starts is done once it runs.
	Reload <-chan struct{}
}

// ShutdownBudget is how long a stop may take in all: polls in flight finish and are stored,
// due notifications are sent, HTTP requests finish. What is still running then is abandoned
// (logged); the outbox keeps every notification that was not sent.
const ShutdownBudget = 30 * time.Second

// Service is one running monitor process.
type Service struct {
	opts  Options
	ready chan struct{}
	mu    sync.Mutex
	addr  string
	live  *running // set once running, for Reload

	reloading sync.Mutex // one reload at a time
}

// New returns a Service; Run starts it.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{opts: o, ready: make(chan struct{})}
}

// Ready is closed once the service polls, delivers and serves HTTP.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Addr is the HTTP listen address, once Ready.
func (s *Service) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run starts everything and blocks until ctx ends, then shuts down in reverse order of start
// within ShutdownBudget: stop scheduling (in-flight polls finish and are stored), send what
// is due, stop delivery (an attempt cut short stays in the outbox), stop HTTP, close the
// database.
func (s *Service) Run(ctx context.Context) error {
	cfg, log := s.opts.Config, s.opts.Logger

	// HTTP comes first, so that probes get answers while the database is awaited: /healthz
	// says the process runs, /readyz says it is not ready yet.
	listen := cmp.Or(s.opts.Listen, cfg.HTTP.Listen)
	notifiers, err := check(cfg, listen)
	if err != nil {
		return err // a mistake to fix, not an outage to wait out
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	var handler atomic.Pointer[http.Handler]
	starting := httpapi.Starting()
	handler.Store(&starting)
	srv := httpapi.NewServer(listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*handler.Load()).ServeHTTP(w, r)
	}))
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.mu.Unlock()
	var loops group
	httpErr := make(chan error, 1)
	loops.Go("http server", func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			httpErr <- err
		}
	})
	stopHTTP := func(shutdown context.Context) error {
		err := srv.Shutdown(shutdown)
		if err != nil {
			srv.Close()
		}
		return err
	}

	a, err := open(ctx, cfg, notifiers, OpenOptions{
		Logger: log, NoMigrate: s.opts.NoMigrate, Version: s.opts.Version, ConnectRetry: cmp.Or(s.opts.ConnectRetry, 5*time.Second),
		Clock: s.opts.Clock, BaseBackoff: s.opts.BaseBackoff, PollOutbox: s.opts.PollOutbox,
	})
	if err != nil {
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownBudget)
		defer cancel()
		if stopErr := errors.Join(stopHTTP(shutdown), loops.Wait(shutdown, log)); stopErr != nil {
			return errors.Join(err, stopErr)
		}
		return err
	}
	defer a.Close()
	for _, app := range cfg.Apps {
		if len(app.Notify) == 0 {
			log.Warn("app has no notifiers: its alerts are recorded but sent nowhere", "app", app.Name)
		}
	}
	sched := poller.NewScheduler(poller.SchedulerConfig{
		Poller: a.Poller, Timers: a.Evaluator, Slots: a.Store, Apps: cfg.Apps,
		MaxConcurrency: poller.InFlight(cfg.EngageLab.MaxConcurrency), TickEvery: s.opts.TickEvery, MaxJitter: s.opts.MaxJitter,
		Clock: s.opts.Clock, Logger: log.With("component", "scheduler"), Polled: s.opts.Polled,
	})
	pruner, err := retention.New(retention.Config{Store: a.Store, Snapshots: cfg.Retention.Snapshots, Events: cfg.Retention.Events,
		Clock: s.opts.Clock, Logger: log.With("component", "retention")})
	if err != nil {
		return err
	}
	watcher, err := watch.New(watch.Config{Store: a.Store, Config: cfg, Tick: s.opts.TickEvery, Clock: s.opts.Clock,
		Logger: log.With("component", "watch")})
	if err != nil {
		return err
	}
	// Registered whatever the config says, since a reload may add a heartbeat; the gauge is
	// absent until a ping succeeded.
	a.Metrics.Registry().MustRegister(watch.Collector(a.Store))
	api := httpapi.New(httpapi.Config{Store: a.Store, Config: cfg, Silencer: a.Evaluator, Metrics: a.Metrics, Logger: log, Reload: s.Reload})
	handler.Store(&api)
	a.Metrics.ConfigLoaded(true, a.clock())
	s.mu.Lock()
	s.live = &running{app: a, cfg: cfg, listen: listen, sched: sched, watcher: watcher, handler: &handler}
	s.mu.Unlock()

	// Polling loops stop when ctx ends; delivery outlives them, so that what the last polls
	// queued can still be sent within the budget.
	deliverCtx, stopDelivery := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDelivery()
	var polling group
	polling.Go("scheduler", func() { _ = sched.Run(ctx) })
	polling.Go("retention", func() { _ = pruner.Run(ctx) })
	polling.Go("outbox listener", func() { a.Store.ListenOutbox(ctx, a.Delivery.Wake) })
	polling.Go("heartbeat and digest", func() { _ = watcher.Run(ctx) })
	var delivering group
	delivering.Go("delivery", func() { _ = a.Delivery.Run(deliverCtx) })

	log.Info("monitor running", "http", s.Addr(), "apps", len(cfg.Apps), "notifiers", len(cfg.Notifiers))
	close(s.ready)

	var runErr error
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case runErr = <-httpErr:
			runErr = fmt.Errorf("http server: %w", runErr)
			running = false
		case <-s.opts.Reload:
			_ = s.Reload(ctx) // logged there; the running config stays on failure
		}
	}
	log.Info("shutting down", "budget", ShutdownBudget)
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownBudget)
	defer cancel()
	errs := []error{runErr, polling.Wait(shutdown, log)} // polls in flight finish and queue what they caused
	// Send what is due now, so a clean stop leaves nothing behind that could go.
	if _, err := a.Delivery.Drain(shutdown); err != nil && shutdown.Err() == nil {
		log.Warn("final delivery before stopping failed; the outbox keeps the rows", "error", err)
	}
	stopDelivery()
	errs = append(errs, delivering.Wait(shutdown, log), stopHTTP(shutdown), loops.Wait(shutdown, log))
	log.Info("stopped")
	return errors.Join(errs...)
}

// group runs named goroutines and waits for them within a shutdown budget, naming the ones
// abandoned when it runs out.
type group struct {
	mu      sync.Mutex
	running map[string]int
	wg      sync.WaitGroup
}

func (g *group) Go(name string, f func()) {
	g.mu.Lock()
	if g.running == nil {
		g.running = map[string]int{}
	}
	g.running[name]++
	g.mu.Unlock()
	g.wg.Go(func() {
		defer func() {
			g.mu.Lock()
			g.running[name]--
			g.mu.Unlock()
		}()
		f()
	})
}

// Wait waits for every goroutine until shutdown ends; then it logs and returns the ones left.
func (g *group) Wait(shutdown context.Context, log *slog.Logger) error {
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-shutdown.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var left []string
	for name, n := range g.running {
		if n > 0 {
			left = append(left, name)
		}
	}
	slices.Sort(left)
	log.Warn("shutdown budget spent; abandoning", "still_running", left)
	return fmt.Errorf("shutdown budget of %s spent with %s still running", ShutdownBudget, strings.Join(left, ", "))
}

// ConfigError is a refusal to start that only a change of configuration cures (the CLI exits
// with status 2 for it).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// ConfigProblem marks the error as the config file's (POST /-/reload answers 400 with it).
func (e *ConfigError) ConfigProblem() {}

// Check reports, as a *ConfigError, what the service would refuse at start beyond what the
// config loader validates: an unprotected non-loopback listener, a database URL that cannot
// be parsed, a notifier that cannot be built.
func Check(cfg *config.Config) error {
	_, err := check(cfg, cfg.HTTP.Listen)
	return err
}

// check is Check for a listener on listen ("" when the caller serves no HTTP), returning the
// notifiers it built.
func check(cfg *config.Config, listen string) (map[string]notify.Notifier, error) {
	notifiers, err := BuildNotifiers(cfg)
	err = errors.Join(store.CheckURL(cfg.Database.URL.Reveal()), err)
	if listen != "" {
		err = errors.Join(httpapi.CheckListen(listen, cfg.HTTP.Tokens), err)
	}
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	return notifiers, nil
}

// BuildNotifiers builds every configured notifier, joining errors (see notify/build).
func BuildNotifiers(cfg *config.Config) (map[string]notify.Notifier, error) {
	return build.Notifiers(cfg)
}
