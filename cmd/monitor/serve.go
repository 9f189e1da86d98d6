package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/opsbalance/engagelab-monitor/internal/app"
)

type serveCmd struct {
	NoMigrate bool `help:"Do not apply migrations at start; refuse to start on a schema that is behind."`
}

// Run serves until SIGINT or SIGTERM, which stop it gracefully; SIGHUP reloads the config file.
func (c *serveCmd) Run(ctx context.Context, e *env) error {
	s, err := e.open(ctx, need{})
	if err != nil {
		return err
	}
	// A log line written to a stdout or stderr whose reader is gone (journald restarted, a
	// closed pipe) would end the process with SIGPIPE, without draining. Caught, the write
	// fails instead and the line is lost.
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)
	reloads := make(chan struct{}, 1)
	stopForwarding := forwardHangups(e.hangups, reloads)
	defer stopForwarding()
	err = app.New(app.Options{Config: s.cfg, Logger: e.logger, NoMigrate: c.NoMigrate, Version: version,
		Load: e.loadConfig, Reload: reloads}).Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// forwardHangups turns each SIGHUP into a reload request, until stop is called (and has
// waited for it). Requests made while one is pending merge: the reload reads the file as it
// is then.
func forwardHangups(hangups <-chan os.Signal, reloads chan<- struct{}) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-hangups:
				select {
				case reloads <- struct{}{}:
				default:
				}
			case <-done:
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
