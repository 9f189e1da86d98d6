package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/app"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// need says which of the shared start-up steps a verb wants beyond loading the config.
type need struct {
	// store connects to the database and nothing more: the verbs that only read it, and
	// migrate. It fails fast (10 s): a person is waiting.
	store bool
	// notifiers builds every notifier; one that cannot be built is a config error.
	notifiers bool
	// app opens the assembled service (app.Open): it connects, migrates (with migrate) or
	// checks the schema, registers the apps and builds notifiers, evaluator, poller and
	// delivery worker.
	app     bool
	migrate bool
	// apps limits the service to these configured apps; none means all of them. A name that
	// is not in the config is the unknown-app error.
	apps []string
}

// service is what env.open hands a verb. Fields a verb did not ask for are nil.
type service struct {
	cfg       *config.Config
	store     *store.Store
	notifiers map[string]notify.Notifier
	app       *app.App
}

// open runs the start-up steps every verb shares: load the config, check the app names, then
// connect to the database, or open the whole service, and build the notifiers. It is the one
// place where the CLI puts the service together; the caller closes what it returns.
func (e *env) open(ctx context.Context, n need) (*service, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	for _, name := range n.apps {
		if _, ok := cfg.App(name); !ok {
			return nil, unknownApp(name, cfg)
		}
	}
	s := &service{cfg: cfg}
	switch {
	case n.app:
		a, err := app.Open(ctx, cfg, app.OpenOptions{Logger: e.logger, NoMigrate: !n.migrate, Apps: n.apps})
		if err != nil {
			return nil, err
		}
		s.app, s.store, s.notifiers = a, a.Store, a.Notifiers
	case n.store:
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if s.store, err = store.Open(cctx, cfg.Database.URL.Reveal(), e.logger); err != nil {
			return nil, err
		}
	}
	if n.notifiers && s.notifiers == nil {
		if s.notifiers, err = app.BuildNotifiers(cfg); err != nil {
			s.Close()
			return nil, usage(err)
		}
	}
	return s, nil
}

// Close closes the database, if open.
func (s *service) Close() {
	switch {
	case s.app != nil:
		s.app.Close()
	case s.store != nil:
		s.store.Close()
	}
}

// knownApp accepts an app the verb reads: one in the config, or one removed from it whose
// history is still in the database.
func (s *service) knownApp(ctx context.Context, name string) error {
	if _, ok := s.cfg.App(name); ok {
		return nil
	}
	_, err := s.store.AppID(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return unknownApp(name, s.cfg)
	}
	return err
}

// loadConfig reads the config file that --config, $MONITOR_CONFIG or the default names.
func (e *env) loadConfig() (*config.Config, error) {
	path := config.Resolve(e.configPath, e.getenv)
	// The usual first-run mistake gets one sentence that says what to do, not a problem list.
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, usagef("config file %s does not exist: pass --config FILE or set $MONITOR_CONFIG", path)
	}
	return config.Load(path, e.getenv)
}
