package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/httpapi"
	"github.com/opsbalance/engagelab-monitor/internal/poller"
	"github.com/opsbalance/engagelab-monitor/internal/watch"
)

// running is what a reload replaces parts of, once Run has started everything. The App's own
// Config, Notifiers, Evaluator and Poller stay those of the start: the running ones are cfg,
// and those the scheduler, the delivery worker and the HTTP handler were last given.
type running struct {
	app     *App
	cfg     *config.Config // the config in effect; replaced by each successful reload
	listen  string
	sched   *poller.Scheduler
	watcher *watch.Watcher
	handler *atomic.Pointer[http.Handler]
}

// Reload re-reads the config file (Options.Load) and applies it to the running service, as
// SIGHUP and POST /-/reload ask. A file that is refused (invalid, or a notifier that cannot be
// built) changes nothing: the running config stays, the reason is logged as one line and
// returned (a *ConfigError), and engagelab_config_last_reload_successful turns 0.
//
// Nothing in the database is touched beyond registering added apps: alert state, silences,
// events and the outbox stay as they are. What is under way finishes with the config it
// started with (a poll in flight, a send); what starts next uses the new one: added apps
// are polled at once and then on schedule, removed apps are polled no more (their history
// stays), changed thresholds apply from the next poll or tick, and notifiers are rebuilt.
// A few settings only take effect at a restart (restartOnly); a change to one is logged.
func (s *Service) Reload(ctx context.Context) error {
	s.reloading.Lock()
	defer s.reloading.Unlock()
	s.mu.Lock()
	r := s.live
	s.mu.Unlock()
	log := s.opts.Logger
	if r == nil {
		return errors.New("the monitor is still starting; reload once it runs")
	}
	if err := s.reload(ctx, r); err != nil {
		r.app.Metrics.ConfigLoaded(false, r.app.clock())
		log.Error("config not reloaded; the running config stays", "error", err)
		return err
	}
	r.app.Metrics.ConfigLoaded(true, r.app.clock())
	return nil
}

func (s *Service) reload(ctx context.Context, r *running) error {
	log := s.opts.Logger
	if s.opts.Load == nil {
		return &ConfigError{Err: errors.New("this service was started without a config file to reload")}
	}
	next, err := s.opts.Load()
	if err != nil {
		var refused *ConfigError
		if errors.As(err, &refused) {
			return err
		}
		return &ConfigError{Err: err}
	}
	var kept []string
	for _, k := range restartOnly {
		if k.changed(r.cfg, next) {
			k.keep(r.cfg, next)
			kept = append(kept, k.key)
		}
	}
	notifiers, err := check(next, r.listen)
	if err != nil {
		return err
	}
	// Said only of a file that is taken: a refused one changes nothing, these keys included.
	for _, key := range kept {
		log.Warn(key + " changed in the config file; the running monitor keeps the old value until it is restarted")
	}
	ids, err := register(ctx, r.app.Store, next.Apps)
	if err != nil {
		return fmt.Errorf("register the apps of the reloaded config: %w", err)
	}
	ev, p, err := r.app.judge(next, next.Apps, ids)
	if err != nil {
		return err
	}

	// The swap. Each part takes the new config whole; a poll or a send already under way
	// finishes with the parts it started with.
	r.app.Delivery.SetNotifiers(notifiers)
	r.app.Delivery.SetGrouping(next.Grouping)
	r.app.Metrics.SetConfig(next)
	r.sched.SetApps(next.Apps, p, ev)
	r.watcher.SetConfig(next)
	api := httpapi.New(httpapi.Config{Store: r.app.Store, Config: next, Silencer: ev, Metrics: r.app.Metrics, Logger: log, Reload: s.Reload})
	r.handler.Store(&api)

	var added, removed []string
	before := make(map[string]bool, len(r.cfg.Apps))
	for _, a := range r.cfg.Apps {
		before[a.Name] = true
	}
	for _, a := range next.Apps {
		if !before[a.Name] {
			added = append(added, a.Name)
			if len(a.Notify) == 0 {
				log.Warn("app has no notifiers: its alerts are recorded but sent nowhere", "app", a.Name)
			}
		}
	}
	for _, a := range r.cfg.Apps {
		if _, ok := ids[a.Name]; !ok {
			removed = append(removed, a.Name)
		}
	}
	r.cfg = next
	log.Info("config reloaded", "apps", len(next.Apps), "added", added, "removed", removed, "notifiers", len(next.Notifiers))
	return nil
}

// restartOnly are the settings a reload cannot change: the running monitor keeps its value
// (copied into the new config, so that every part sees what is really in effect) and says so.
var restartOnly = []struct {
	key     string
	changed func(old, next *config.Config) bool
	keep    func(old, next *config.Config)
}{
	{"database.url", // the pool, the LISTEN connection and every lock live on it
		func(o, n *config.Config) bool { return o.Database.URL.Reveal() != n.Database.URL.Reveal() },
		func(o, n *config.Config) { n.Database.URL = o.Database.URL }},
	{"http.listen", // the socket is bound once
		func(o, n *config.Config) bool { return o.HTTP.Listen != n.HTTP.Listen },
		func(o, n *config.Config) { n.HTTP.Listen = o.HTTP.Listen }},
	{"engagelab.max_concurrency", // the scheduler's bound on polls in flight is made once
		func(o, n *config.Config) bool { return o.EngageLab.MaxConcurrency != n.EngageLab.MaxConcurrency },
		func(o, n *config.Config) { n.EngageLab.MaxConcurrency = o.EngageLab.MaxConcurrency }},
	{"delivery.max_age", // the delivery worker's
		func(o, n *config.Config) bool { return o.Delivery.MaxAge != n.Delivery.MaxAge },
		func(o, n *config.Config) { n.Delivery.MaxAge = o.Delivery.MaxAge }},
	{"retention", // the pruner's
		func(o, n *config.Config) bool { return o.Retention != n.Retention },
		func(o, n *config.Config) { n.Retention = o.Retention }},
}
