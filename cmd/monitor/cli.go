package main

import "github.com/alecthomas/kong"

// commandLine is the command line: the global flags and one field per verb. kong reads the
// struct tags for names, help and defaults, and calls the chosen verb's Run.
//
// Adding a verb is one struct in its own file (see silence.go): its flags as tagged fields,
// and a
//
//	func (c *fooCmd) Run(ctx context.Context, e *env) error
//
// that gets the service from env.open (service.go) and returns one-sentence errors (errors.go
// says which exit status each gets). Then add one line below, where `monitor help` should
// list it. TestVerbHelp checks the new verb's help without being told.
type commandLine struct {
	Config  string           `help:"Config file (default $$MONITOR_CONFIG, else ./monitor.yaml)." placeholder:"FILE"`
	Version kong.VersionFlag `help:"Print the version and exit."`

	Serve       serveCmd       `cmd:"" default:"withargs" help:"Run the service: poll, alert, deliver, serve HTTP (the default verb)."`
	Migrate     migrateCmd     `cmd:"" help:"Apply database migrations and exit."`
	CheckConfig checkConfigCmd `cmd:"" name:"check-config" help:"Validate the config and print it, secrets redacted."`
	PollOnce    pollOnceCmd    `cmd:"" name:"poll-once" help:"Poll now, store, alert, deliver what that caused; exit 1 if anything failed."`
	TestNotify  testNotifyCmd  `cmd:"" name:"test-notify" help:"Send a test message through one notifier."`
	History     historyCmd     `cmd:"" help:"Print an app's balance history, exact decimals."`
	Spend       spendCmd       `cmd:"" help:"Print spend, top-ups and gift expiry per app and bucket, with totals."`
	Alerts      alertsCmd      `cmd:"" help:"Print firing alerts and silences, or the event log with --all."`
	Silence     silenceCmd     `cmd:"" help:"Mute an app's notifications for a while (its state is still tracked)."`
	Unsilence   unsilenceCmd   `cmd:"" help:"End an app's silence."`
	Simulate    simulateCmd    `cmd:"" help:"Serve a fake EngageLab balance API for demos and tests."`
	Healthcheck healthcheckCmd `cmd:"" help:"Ask a running service's /readyz once: exit 0 when ready, 1 otherwise (for probes; reads no config)."`
	VersionCmd  versionCmd     `cmd:"" name:"version" help:"Print the version."`
	Help        helpCmd        `cmd:"" help:"Print the verbs, or one verb's flags."`
}

const description = `Watches the prepaid balances of EngageLab OTP applications.

Every verb takes --config FILE, before or after the verb; without it the config is
$$MONITOR_CONFIG, else ./monitor.yaml. Exit status: 0 on success, 1 on a runtime failure,
2 on a usage or config error.`
