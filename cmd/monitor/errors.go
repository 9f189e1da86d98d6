package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/opsbalance/engagelab-monitor/internal/app"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Errors are classified here and nowhere else, as in pkgsite's derrors. A verb returns an error
// whose text is one sentence for the person at the keyboard; exitStatus prints it and maps its
// class onto the exit status once:
//
//   - 2, a usage or config error: a mistake on the command line or in the config, which only
//     its author can fix (errUsage, kong's parse errors, the config loader's and the service's
//     refusals of a config, an app the config does not name);
//   - 1, a runtime failure: everything else (a database that does not answer, a poll or a
//     delivery that failed).

// errUsage marks a usage or config error. Mark an error with usage or usagef; its text stays
// the sentence it was.
var errUsage = errors.New("usage or config error")

type usageError struct{ err error }

func (u *usageError) Error() string   { return u.err.Error() }
func (u *usageError) Unwrap() []error { return []error{errUsage, u.err} }

func usage(err error) error { return &usageError{err: err} }

func usagef(format string, a ...any) error { return usage(fmt.Errorf(format, a...)) }

// unknownApp is the one sentence for an app name that is not in the config, whichever verb
// (history, alerts --app, silence, unsilence, poll-once --app) met it.
func unknownApp(name string, cfg *config.Config) error {
	names := make([]string, len(cfg.Apps))
	for i, a := range cfg.Apps {
		names[i] = a.Name
	}
	return usagef("no app named %q in the config; configured: %s", name, strings.Join(names, ", "))
}

// isUsage says whether err is a usage or config error.
func isUsage(err error) bool {
	var (
		parse   *kong.ParseError
		invalid *config.ValidationError
		refused *app.ConfigError
	)
	return errors.Is(err, errUsage) || errors.As(err, &parse) || errors.As(err, &invalid) ||
		errors.As(err, &refused) || errors.Is(err, store.ErrBadURL) || errors.Is(err, app.ErrUnknownApp)
}

// exitStatus prints err, if any, to stderr and returns the process's exit status.
func exitStatus(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "monitor: %s\n", strings.TrimSpace(err.Error()))
	if isUsage(err) {
		return 2
	}
	return 1
}

// parseFailure turns kong's complaint about args into one sentence that says where to look.
func parseFailure(args []string, err error) error {
	var pe *kong.ParseError
	if !errors.As(err, &pe) {
		return usage(err)
	}
	msg := pe.Error()
	verb := ""
	if pe.Context != nil {
		if cmd := pe.Context.Selected(); cmd != nil {
			verb = cmd.Name
		}
	}
	// With no verb, the words go to serve (the default verb), so a misspelt verb reaches us as
	// a word serve does not take.
	if word, ok := strings.CutPrefix(msg, "unexpected argument "); ok && verb == "serve" && !slices.Contains(args, "serve") {
		return usagef("unknown verb %q: run `monitor help` for the list", word)
	}
	if verb == "" {
		return usagef("%s; see `monitor help`", msg)
	}
	return usagef("%s: %s; see `monitor help %s`", verb, msg, verb)
}
