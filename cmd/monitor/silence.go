package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
)

// silenceCmd and unsilenceCmd evaluate under the same row lock as serve, and need no running
// server.
type silenceCmd struct {
	App    string `help:"The app (required)." placeholder:"NAME"`
	For    string `help:"How long, like 2h or 1d (required)." placeholder:"2h"`
	Reason string `help:"Why (required)." placeholder:"TEXT"`
}

func (c *silenceCmd) Run(ctx context.Context, e *env) error {
	if c.App == "" || c.For == "" || strings.TrimSpace(c.Reason) == "" {
		return usagef("silence needs --app NAME --for DURATION --reason TEXT")
	}
	d, err := config.ParseDuration(c.For)
	if err != nil || d <= 0 {
		return usagef("--for must be a positive duration like 2h or 1d")
	}
	s, err := e.open(ctx, need{app: true, apps: []string{c.App}})
	if err != nil {
		return err
	}
	defer s.Close()
	until := time.Now().Add(d).UTC().Truncate(time.Second)
	if err := s.app.Silence(ctx, c.App, until, c.Reason); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s silenced until %s: %s\n", c.App, until.Format(time.RFC3339), c.Reason)
	return nil
}

type unsilenceCmd struct {
	App string `help:"The app (required)." placeholder:"NAME"`
}

// Run ends the silence; alerts still firing get one reminder, which serve delivers. An app that
// is not silenced is left alone and said so, with exit status 0: what was asked for, an app
// that is not silenced, holds, as DELETE on the API's silence answers 200 either way.
func (c *unsilenceCmd) Run(ctx context.Context, e *env) error {
	if c.App == "" {
		return usagef("unsilence needs --app NAME")
	}
	s, err := e.open(ctx, need{app: true, apps: []string{c.App}})
	if err != nil {
		return err
	}
	defer s.Close()
	silenced, err := silencedNow(ctx, s.store, c.App, time.Now())
	if err != nil {
		return err
	}
	if len(silenced) == 0 {
		fmt.Fprintf(e.stdout, "%s was not silenced; nothing changed\n", c.App)
		return nil
	}
	events, err := s.app.Evaluator.Unsilence(ctx, c.App)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s is no longer silenced", c.App)
	switch n := len(events); {
	case n == 1:
		fmt.Fprint(e.stdout, "; 1 alert still firing: its message is queued for `monitor serve` to deliver")
	case n > 1:
		fmt.Fprintf(e.stdout, "; %d alerts still firing: their messages are queued for `monitor serve` to deliver", n)
	}
	fmt.Fprintln(e.stdout)
	return nil
}
