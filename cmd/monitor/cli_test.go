package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// verbFlags is what each verb's help must show, spelled as typed. Verbs added later are checked
// too (TestVerbHelp walks the parser's model); this table keeps the check from passing vacuously.
var verbFlags = map[string][]string{
	"serve":        {"--no-migrate"},
	"migrate":      {},
	"check-config": {},
	"poll-once":    {"--app=NAME ", "--deliver-timeout=DURATION", "(default 30s)"},
	"test-notify":  {"<notifier>"},
	"history":      {"--app=NAME", "--since=7d", "--from=T", "--to=T", "--step=1h", "--format=FORMAT", "(default table)"},
	"spend":        {"--app=NAME ", "--since=30d", "--from=T", "--to=T", "--step=STEP", "(default 1d)", "--format=FORMAT", "(default table)"},
	"alerts":       {"--app=NAME", "--all", "--limit=N", "(default 50)", "--format=FORMAT", "(default table)"},
	"silence":      {"--app=NAME", "--for=2h", "--reason=TEXT"},
	"unsilence":    {"--app=NAME"},
	"simulate":     {"--listen=ADDR", "(default 127.0.0.1:8099)", "--scenario=FILE"},
	"version":      {},
	"help":         {"<verb>"},
}

// singleDash finds a long flag written with one dash (Go's flag package style).
var singleDash = regexp.MustCompile(`(^|[\s,])-[a-z][a-z-]+`)

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}, {"check-config", "--version"}} {
		r := cli(t, args...)
		r.want(t, 0)
		if r.stdout != "monitor dev\n" || r.stderr != "" {
			t.Errorf("%v: stdout = %q, stderr = %q; want stdout %q", args, r.stdout, r.stderr, "monitor dev\n")
		}
	}
}

func TestHelpListsTheVerbs(t *testing.T) {
	t.Parallel()
	var first string
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		r := cli(t, args...)
		r.want(t, 0)
		if r.stderr != "" {
			t.Errorf("%v: stderr = %q, want nothing", args, r.stderr)
		}
		if first == "" {
			first = r.stdout
		} else if r.stdout != first {
			t.Errorf("%v: stdout differs from `monitor help`'s:\n%s", args, r.stdout)
		}
		for verb := range verbFlags {
			if !strings.Contains(r.stdout, "\n  "+verb+" ") {
				t.Errorf("%v: help does not list verb %s:\n%s", args, verb, r.stdout)
			}
		}
		// Help wraps to the terminal's width: compare words, not lines.
		words := strings.Join(strings.Fields(r.stdout), " ")
		for _, want := range []string{"--config=FILE", "--version", "before or after the verb",
			"Exit status: 0 on success, 1 on a runtime failure, 2 on a usage or config error."} {
			if !strings.Contains(words, want) {
				t.Errorf("%v: help lacks %q:\n%s", args, want, r.stdout)
			}
		}
	}
}

// Every verb's help, asked either way, goes to stdout with status 0 and lists its flags spelled
// --flag, --config among them.
func TestVerbHelp(t *testing.T) {
	t.Parallel()
	parser, err := kong.New(&commandLine{}, kong.Name("monitor"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range parser.Model.Children {
		if n.Type != kong.CommandNode || n.Hidden {
			continue
		}
		verb := n.Name
		seen[verb] = true
		want := []string{"Usage: monitor " + verb + " ", "--config=FILE", "--help"}
		for _, f := range n.Flags {
			want = append(want, "--"+f.Name)
		}
		for _, p := range n.Positional {
			want = append(want, "<"+p.Name+">")
		}
		want = append(want, verbFlags[verb]...)
		t.Run(verb, func(t *testing.T) {
			t.Parallel()
			byVerb := cli(t, "help", verb)
			byFlag := cli(t, verb, "--help")
			for name, r := range map[string]result{"help " + verb: byVerb, verb + " --help": byFlag} {
				r.want(t, 0)
				if r.stderr != "" {
					t.Errorf("%s: stderr = %q, want nothing", name, r.stderr)
				}
				// Help wraps to the terminal's width: compare words, not lines.
				words := strings.Join(strings.Fields(r.stdout), " ")
				for _, w := range want {
					if !strings.Contains(words, w) {
						t.Errorf("%s: stdout lacks %q:\n%s", name, w, r.stdout)
					}
				}
				if m := singleDash.FindString(r.stdout); m != "" {
					t.Errorf("%s: a flag is spelled with one dash (%q):\n%s", name, m, r.stdout)
				}
			}
			if byVerb.stdout != byFlag.stdout {
				t.Errorf("`monitor help %s` and `monitor %s --help` differ:\n%s\n---\n%s", verb, verb, byVerb.stdout, byFlag.stdout)
			}
		})
	}
	for verb := range verbFlags {
		if !seen[verb] {
			t.Errorf("verb %s is not on the command line", verb)
		}
	}
}

// kong's own complaints come out as one sentence with status 2: no usage dump, no panic.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"unknown verb":         {[]string{"frobnicate"}, "monitor: unknown verb \"frobnicate\": run `monitor help` for the list"},
		"unknown verb in help": {[]string{"help", "frobnicate"}, "monitor: unknown verb \"frobnicate\": run `monitor help` for the list"},
		"unknown verb after config": {[]string{"--config", "/nonexistent.yaml", "frobnicate"},
			"monitor: unknown verb \"frobnicate\": run `monitor help` for the list"},
		"unknown flag":   {[]string{"check-config", "--bogus"}, "monitor: check-config: unknown flag --bogus; see `monitor help check-config`"},
		"stray word":     {[]string{"serve", "extra"}, "monitor: serve: unexpected argument extra; see `monitor help serve`"},
		"missing value":  {[]string{"silence", "--app"}, "monitor: silence: --app: expected string value but got \"EOL\" (<EOL>); see `monitor help silence`"},
		"not a duration": {[]string{"poll-once", "--deliver-timeout", "soon"}, "monitor: poll-once: --deliver-timeout: expected duration but got \"soon\": time: invalid duration \"soon\"; see `monitor help poll-once`"},
		"not a number":   {[]string{"alerts", "--limit", "many"}, "monitor: alerts: --limit: expected a valid 64 bit int but got \"many\"; see `monitor help alerts`"},
		"serve's flag on another verb": {[]string{"--no-migrate", "check-config"},
			"monitor: flag --no-migrate applies to the default command \"serve\", not \"check-config\"; see `monitor help`"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := cli(t, tc.args...)
			r.want(t, 2)
			if r.stderr != tc.want+"\n" || r.stdout != "" {
				t.Errorf("stderr = %q, stdout = %q; want stderr %q", r.stderr, r.stdout, tc.want+"\n")
			}
		})
	}
}

func TestStrayWordsAreUsageErrors(t *testing.T) {
	t.Parallel()
	r := cli(t, "test-notify", "hook", "pager", "--config", "/nonexistent.yaml")
	r.want(t, 2)
	if got, want := r.errorLine(t), "monitor: test-notify: unexpected argument pager; see `monitor help test-notify`"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	r = cli(t, "alerts", "--limit", "0")
	r.want(t, 2)
	if got, want := r.errorLine(t), "monitor: --limit must be between 1 and 10000, not 0"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestFlagsAfterAWordStillCount(t *testing.T) {
	t.Parallel()
	// The config file does not exist: the error proves --config was read after the name.
	r := cli(t, "test-notify", "ops", "--config", "/nonexistent/monitor.yaml")
	r.want(t, 2)
	if got, want := r.errorLine(t), "monitor: config file /nonexistent/monitor.yaml does not exist: pass --config FILE or set $MONITOR_CONFIG"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// --config is a global flag: before the verb, after it, or with =.
func TestConfigBeforeOrAfterTheVerb(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "monitor.yaml", fullConfig)
	for _, args := range [][]string{
		{"--config", path, "check-config"},
		{"--config=" + path, "check-config"},
		{"check-config", "--config", path},
		{"check-config", "--config=" + path},
	} {
		r := cli(t, args...)
		r.want(t, 0)
		if want := "config " + path + " is valid: 2 apps, 3 notifiers\n"; !strings.HasPrefix(r.stdout, want) {
			t.Errorf("%v: stdout starts %q, want %q", args, firstLine(r.stdout), want)
		}
	}
	// Before the verb, for a verb with flags of its own.
	r := cli(t, "--config", "/nonexistent/monitor.yaml", "history", "--app", "x")
	r.want(t, 2)
	if got, want := r.errorLine(t), "monitor: config file /nonexistent/monitor.yaml does not exist: pass --config FILE or set $MONITOR_CONFIG"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// Without a verb, monitor runs serve, with serve's flags.
func TestNoVerbIsServe(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "monitor.yaml", `
database: {url: "postgres://u:p@host:notaport/db"}
http: {listen: "127.0.0.1:0"}
defaults: {thresholds: {warning: "100", critical: "20"}}
apps: [{name: a, dev_key: k, dev_secret: s}]
`)
	for _, args := range [][]string{{"--config", path}, {"--no-migrate", "--config", path}} {
		r := cli(t, args...)
		r.want(t, 2)
		// serve checks the database URL before it listens; a stray verb would fail otherwise.
		if got, want := r.errorLine(t), "monitor: database.url is not a valid PostgreSQL connection string"; got != want {
			t.Errorf("%v: error = %q, want %q", args, got, want)
		}
	}
	if !slices.Contains(verbFlags["serve"], "--no-migrate") {
		t.Fatal("serve lost --no-migrate")
	}
}
