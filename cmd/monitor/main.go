// Command monitor watches the prepaid balances of EngageLab OTP applications: it polls them on
// a schedule, stores every snapshot in Postgres, alerts Slack or webhooks when money runs low or
// polling breaks, and serves the history over HTTP. Run `monitor help` for the verbs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}
