package main

import (
	"context"
	"errors"

	"github.com/opsbalance/engagelab-monitor/internal/app"
)

type serveCmd struct {
	NoMigrate bool `help:"Do not apply migrations at start; refuse to start on a schema that is behind."`
}

func (c *serveCmd) Run(ctx context.Context, e *env) error {
	s, err := e.open(ctx, need{})
	if err != nil {
		return err
	}
	err = app.New(app.Options{Config: s.cfg, Logger: e.logger, NoMigrate: c.NoMigrate, Version: version}).Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
