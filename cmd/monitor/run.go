package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/opsbalance/engagelab-monitor/internal/app"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `monitor: watches EngageLab OTP application balances.

Usage: monitor [verb] [--config FILE] [flags]

Verbs:
  serve [--no-migrate]          run the service (the default verb)
  migrate                       apply database migrations and exit
  check-config                  validate the config and print it, secrets redacted
  poll-once [--app NAME]... [--deliver-timeout 30s]
                                poll now, store, alert, deliver; exit 1 if anything failed
  test-notify NAME              send a test message through one notifier
  history --app NAME [--since 7d | --from T --to T] [--step 1h] [--format table|csv|json]
  spend [--app NAME]... [--since 30d | --from T --to T] [--step 1d] [--format table|csv|json]
                                spend, top-ups and gift expiry per app and bucket, with totals
  alerts [--app NAME] [--all] [--format table|csv|json]
                                firing alerts, or the event log with --all
  silence --app NAME --for 2h --reason TEXT
  unsilence --app NAME
  simulate [--listen 127.0.0.1:8099] [--scenario FILE] [--webhook-secret whsec_...]
                                a fake EngageLab balance API for demos and tests
  version                       print the version

The config file is --config FILE, else $MONITOR_CONFIG, else ./monitor.yaml.
`

// exitError carries an exit status with its one-sentence message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr is a mistake on the command line or in the config: exit 2.
func usageErr(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, a...)}
}

// env is what verbs get from the outside world; tests fill it in.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) (string, bool)
	logger         *slog.Logger
}

// run is the whole program. Its error is what went wrong, as one sentence; exitCode turns it
// into the process's exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	e := &env{stdout: stdout, stderr: stderr, getenv: os.LookupEnv}
	e.logger = newLogger(stderr, e.getenv)
	err := dispatch(ctx, e, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// exitCode prints err, if any, to stderr and returns the exit status: 2 for usage and config
// mistakes, 1 for everything else that failed.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "monitor: %s\n", strings.TrimSpace(err.Error()))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ve *config.ValidationError
	var ce *app.ConfigError
	if errors.As(err, &ve) || errors.As(err, &ce) || errors.Is(err, store.ErrBadURL) {
		return 2
	}
	return 1
}

func newLogger(w io.Writer, getenv func(string) (string, bool)) *slog.Logger {
	level := slog.LevelInfo
	if v, ok := getenv("MONITOR_LOG_LEVEL"); ok {
		_ = level.UnmarshalText([]byte(v))
	}
	opts := &slog.HandlerOptions{Level: level}
	if v, _ := getenv("MONITOR_LOG_FORMAT"); v == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func dispatch(ctx context.Context, e *env, args []string) error {
	verb := "serve"
	// `monitor --help` asks for the verbs, not for serve's flags.
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || isHelpFlag(args[0])) {
		verb, args = args[0], args[1:]
	}
	switch verb {
	case "serve":
		return cmdServe(ctx, e, args)
	case "migrate":
		return cmdMigrate(ctx, e, args)
	case "check-config":
		return cmdCheckConfig(ctx, e, args)
	case "poll-once":
		return cmdPollOnce(ctx, e, args)
	case "test-notify":
		return cmdTestNotify(ctx, e, args)
	case "history":
		return cmdHistory(ctx, e, args)
	case "alerts":
		return cmdAlerts(ctx, e, args)
	case "spend":
		return cmdSpend(ctx, e, args)
	case "silence":
		return cmdSilence(ctx, e, args)
	case "unsilence":
		return cmdUnsilence(ctx, e, args)
	case "simulate":
		return cmdSimulate(ctx, e, args)
	case "version":
		fmt.Fprintf(e.stdout, "monitor %s\n", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, usage)
		return nil
	default:
		return usageErr("unknown verb %q: run `monitor help` for the list", verb)
	}
}

// flags makes a verb's flag set with the --config flag every verb takes.
func flags(verb string, e *env) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(verb, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfg := fs.String("config", "", "config file (default $MONITOR_CONFIG, else ./monitor.yaml)")
	return fs, cfg
}

// parse parses flags; a mistake is a usage error (exit 2). Positional arguments are returned.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.Usage = func() {}
	// The flag package prints its own complaint before returning it; we print ours once.
	out := fs.Output()
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				fmt.Fprintf(out, "Usage: monitor %s [flags]; `monitor help` lists the verbs.\n\nFlags:\n", fs.Name())
				fs.PrintDefaults()
				return nil, err
			}
			return nil, usageErr("%s: %v", fs.Name(), err)
		}
		// Go's flag parsing stops at the first plain word; flags after it count too
		// (`test-notify ops --config f`), so keep going past each word.
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// parseFlags parses a verb that takes flags only: a stray word is a usage error, not
// something to ignore (it would hide the flags after it).
func parseFlags(fs *flag.FlagSet, args []string) error {
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErr("%s takes no arguments, only flags; unexpected %q", fs.Name(), rest[0])
	}
	return nil
}

func loadConfig(e *env, flagValue string) (*config.Config, error) {
	path := config.Resolve(flagValue, e.getenv)
	// The usual first-run mistake gets one sentence that says what to do, not a problem list.
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, usageErr("config file %s does not exist: pass --config FILE or set $MONITOR_CONFIG", path)
	}
	cfg, err := config.Load(path, e.getenv)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func isHelpFlag(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }
