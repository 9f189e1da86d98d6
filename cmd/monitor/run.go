package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

// env is what verbs get from the outside world; tests fill it in.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) (string, bool)
	logger         *slog.Logger
	configPath     string // --config; empty means $MONITOR_CONFIG, else ./monitor.yaml
	// hangups receives SIGHUP. serve reloads on it; for every other verb it is a graceful
	// stop, like SIGINT. nil in tests that call dispatch directly.
	hangups <-chan os.Signal
}

// run is the whole program: it parses args (without the program's name), runs the verb until
// it ends or SIGINT/SIGTERM (or SIGHUP, but for serve) arrives, prints a failure as one
// sentence on stderr and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Caught from the first instant: SIGHUP's default action kills the process on the spot,
	// cutting polls and webhook requests in half (systemd's ExecReload, a closed terminal).
	hangups := make(chan os.Signal, 1)
	signal.Notify(hangups, syscall.SIGHUP)
	defer signal.Stop(hangups)
	e := &env{stdout: stdout, stderr: stderr, getenv: os.LookupEnv, hangups: hangups}
	e.logger = newLogger(stderr, e.getenv)
	return exitStatus(dispatch(ctx, e, args), stderr)
}

// dispatch parses the command line and runs the verb it names.
func dispatch(ctx context.Context, e *env, args []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var root commandLine
	// kong calls Exit after printing help or the version. That is the whole answer: the verb
	// must not run, and whatever parsing finds after --help is no error.
	exited := false
	parser, err := kong.New(&root,
		kong.Name("monitor"),
		kong.Description(description),
		kong.Writers(e.stdout, e.stderr),
		kong.Exit(func(int) { exited = true }),
		kong.Vars{"version": versionLine()},
		kong.ConfigureHelp(kong.HelpOptions{WrapUpperBound: 100}),
		kong.Bind(e),
		kong.BindTo(ctx, (*context.Context)(nil)),
	)
	if err != nil {
		return err // a mistake in the cli struct's tags, which every test would show
	}
	k, err := parser.Parse(args)
	if exited {
		return nil
	}
	if err != nil {
		return parseFailure(args, err)
	}
	e.configPath = root.Config
	if k.Command() != "serve" && e.hangups != nil {
		// Until here a SIGHUP waited in the channel; now that the verb is known, it stops it.
		go func() {
			select {
			case <-e.hangups:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	err = k.Run()
	if exited { // `monitor help VERB`
		return nil
	}
	return err
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
