// Command monitor watches the prepaid balances of EngageLab OTP applications: it polls them on
// a schedule, stores every snapshot in Postgres, alerts Slack or webhooks when money runs low or
// polling breaks, and serves the history over HTTP. Run `monitor help` for the verbs.
package main

import (
	"context"
	"os"
)

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }
