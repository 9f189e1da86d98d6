// Package app assembles the service from its parts (store, poller, scheduler, delivery
// worker, HTTP server) and runs it until its context ends. It is what `monitor serve` runs and
// what end-to-end tests start in-process on port 0.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/delivery"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab"
	"github.com/opsbalance/engagelab-monitor/internal/httpapi"
	"github.com/opsbalance/engagelab-monitor/internal/metrics"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/poller"
	"github.com/opsbalance/engagelab-monitor/internal/retention"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Options configure a Service. Only Config is required; the rest exist for tests.
type Options struct {
	Config    *config.Config
	Logger    *slog.Logger
	NoMigrate bool
	// Listen overrides http.listen (tests use "127.0.0.1:0").
	Listen string
	// Tuning for tests; zero means the production default.
	TickEvery    time.Duration
	MaxJitter    time.Duration
	BaseBackoff  time.Duration
	PollOutbox   time.Duration
	ConnectRetry time.Duration // wait between attempts to reach the database at start; default 5s
	// Polled is called after every scheduled poll.
	Polled func(poller.Result)
}

// Service is one running monitor process.
type Service struct {
	opts  Options
	ready chan struct{}
	mu    sync.Mutex
	addr  string
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

// Run starts everything and blocks until ctx ends, then shuts down in reverse order: stop
// scheduling (in-flight polls finish and are stored), stop delivery (an attempt cut short stays
// in the outbox), stop HTTP, close the database.
func (s *Service) Run(ctx context.Context) error {
	cfg, log := s.opts.Config, s.opts.Logger

	// HTTP comes first, so that probes get answers while the database is awaited: /healthz
	// says the process runs, /readyz says it is not ready yet.
	listen := cfg.HTTP.Listen
	if s.opts.Listen != "" {
		listen = s.opts.Listen
	}
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
	httpErr := make(chan error, 1)
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			httpErr <- err
		}
	}()
	var stopHTTP sync.Once
	shutdownHTTP := func() (err error) {
		stopHTTP.Do(func() {
			shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = srv.Shutdown(shutCtx)
			<-httpDone
		})
		return err
	}
	defer shutdownHTTP() //nolint:errcheck // the normal path below reports it

	st, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()

	if !s.opts.NoMigrate {
		applied, err := st.Migrate(ctx)
		if err != nil {
			return err
		}
		if len(applied) > 0 {
			log.Info("database migrated", "applied", applied)
		}
	} else if err := st.CheckSchema(ctx); err != nil {
		return err
	}

	names := make([]string, len(cfg.Apps))
	for i, a := range cfg.Apps {
		names[i] = a.Name
		if len(a.Notify) == 0 {
			log.Warn("app has no notifiers: its alerts are recorded but sent nowhere", "app", a.Name)
		}
	}
	ids, err := st.EnsureApps(ctx, names)
	if err != nil {
		return err
	}

	m := metrics.New(st, cfg)
	worker := delivery.New(delivery.Config{
		Store: st, Notifiers: notifiers, MaxAge: cfg.Delivery.MaxAge,
		BaseBackoff: s.opts.BaseBackoff, PollEvery: s.opts.PollOutbox, Logger: log, Observer: m,
	})
	p, err := poller.New(poller.Config{
		Store: st, Client: engagelab.New(cfg.EngageLab.BaseURL, engagelab.WithLogger(log)),
		Apps: cfg.Apps, Notifiers: cfg.Notifiers, AppIDs: ids, Timeout: cfg.EngageLab.Timeout,
		Logger: log, Queued: worker.Wake, Observer: m,
	})
	if err != nil {
		return err
	}
	sched := poller.NewScheduler(poller.SchedulerConfig{
		Poller: p, Apps: cfg.Apps, MaxConcurrency: cfg.EngageLab.MaxConcurrency,
		TickEvery: s.opts.TickEvery, MaxJitter: s.opts.MaxJitter, Logger: log, Polled: s.opts.Polled,
	})

	pruner, err := retention.New(retention.Config{Store: st, Snapshots: cfg.Retention.Snapshots, Events: cfg.Retention.Events, Logger: log})
	if err != nil {
		return err
	}
	api := httpapi.New(httpapi.Config{Store: st, Config: cfg, Silencer: p, Metrics: m, Logger: log})
	handler.Store(&api)

	var wg sync.WaitGroup
	schedCtx, stopSched := context.WithCancel(ctx)
	defer stopSched()
	schedDone := make(chan struct{})
	go func() { defer close(schedDone); _ = sched.Run(schedCtx) }()
	deliverCtx, stopDelivery := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDelivery()
	wg.Go(func() { _ = pruner.Run(schedCtx) })
	workerDone := make(chan struct{})
	go func() { defer close(workerDone); _ = worker.Run(deliverCtx) }()
	wg.Go(func() { st.ListenOutbox(schedCtx, worker.Wake) })

	log.Info("monitor running", "http", s.addr, "apps", len(cfg.Apps), "notifiers", len(cfg.Notifiers))
	close(s.ready)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-httpErr:
		runErr = fmt.Errorf("http server: %w", runErr)
	}
	log.Info("shutting down")
	stopSched()
	<-schedDone // polls in flight finish and queue what they caused
	// Send what is due now, within bounds, so a clean stop leaves nothing behind that could go.
	drainCtx, cancelDrain := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	if _, err := worker.Drain(drainCtx); err != nil && drainCtx.Err() == nil {
		log.Warn("final delivery before stopping failed; the outbox keeps the rows", "error", err)
	}
	cancelDrain()
	stopDelivery()
	<-workerDone
	runErr = errors.Join(runErr, shutdownHTTP())
	wg.Wait()
	log.Info("stopped")
	return runErr
}

// connect opens the database, waiting and retrying (and saying so) while it is unreachable:
// a service started before its database must not crash-loop.
func (s *Service) connect(ctx context.Context) (*store.Store, error) {
	wait := s.opts.ConnectRetry
	if wait == 0 {
		wait = 5 * time.Second
	}
	for {
		st, err := store.Open(ctx, s.opts.Config.Database.URL.Reveal(), s.opts.Logger)
		if err == nil {
			return st, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, store.ErrBadURL) {
			return nil, err
		}
		s.opts.Logger.Warn("database not reachable; retrying", "retry_in", wait, "error", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// ConfigError is a refusal to start that only a change of configuration cures (the CLI exits
// with status 2 for it).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Check reports, as a *ConfigError, what the service would refuse at start beyond what the
// config loader validates: an unprotected non-loopback listener, a database URL that cannot
// be parsed, a notifier that cannot be built.
func Check(cfg *config.Config) error {
	_, err := check(cfg, cfg.HTTP.Listen)
	return err
}

func check(cfg *config.Config, listen string) (map[string]notify.Notifier, error) {
	notifiers, err := BuildNotifiers(cfg)
	err = errors.Join(httpapi.CheckListen(listen, cfg.HTTP.Tokens), store.CheckURL(cfg.Database.URL.Reveal()), err)
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	return notifiers, nil
}

// BuildNotifiers builds every configured notifier, joining errors.
func BuildNotifiers(cfg *config.Config) (map[string]notify.Notifier, error) {
	amount := map[string]string{}
	for _, a := range cfg.Apps {
		amount[a.Name] = a.Amount
	}
	out := map[string]notify.Notifier{}
	var errs []error
	for _, n := range cfg.Notifiers {
		var (
			nt  notify.Notifier
			err error
		)
		switch n.Type {
		case "slack":
			nt, err = notify.NewSlack(notify.SlackConfig{
				Name: n.Name, WebhookURL: n.WebhookURL.Reveal(), Token: n.Token.Reveal(), Channel: n.Channel,
				APIURL: n.APIURL, PublicURL: cfg.HTTP.PublicURL, AmountKind: func(app string) string { return amount[app] },
			})
		case "webhook":
			nt, err = notify.NewWebhook(notify.WebhookConfig{Name: n.Name, URL: n.URL.Reveal(), Secret: n.Secret.Reveal()})
		default:
			err = fmt.Errorf("unknown type %q", n.Type)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("notifier %s: %w", n.Name, err))
			continue
		}
		out[n.Name] = nt
	}
	return out, errors.Join(errs...)
}
