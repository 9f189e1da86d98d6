// Command bench measures the monitor at 10,000 apps against ceilings measured in the same run
// and writes BENCHMARKS.md (see internal/bench). `make bench` runs it with a throwaway
// Postgres; it needs DATABASE_URL and the monitor binary.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/bench"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	monitor := fs.String("monitor", "bin/monitor", "the monitor binary to measure")
	apps := fs.Int("apps", 10000, "apps to configure")
	conc := fs.Int("concurrency", 16, "engagelab.max_concurrency")
	idle := fs.Duration("idle", time.Minute, "how long to watch the idle service")
	out := fs.String("out", "BENCHMARKS.md", "where to write the report")
	only := fs.String("only", "", "run only these phases, comma-separated: poll, roundtrips, serve, history, storage, ingest (default all)")
	fakeApps := fs.Int("fake", 0, "serve the fake upstream for this many apps instead (the benchmark starts itself so)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if *fakeApps > 0 {
		if err := bench.ServeFake(ctx, *fakeApps, func(addr string) { fmt.Fprintln(stdout, "listening", addr) }); err != nil {
			fmt.Fprintln(stderr, "bench: fake upstream:", err)
			return 1
		}
		return 0
	}
	var phases []string
	if *only != "" {
		phases = strings.Split(*only, ",")
	}
	db := os.Getenv("DATABASE_URL")
	if db == "" {
		fmt.Fprintln(stderr, "bench: DATABASE_URL is not set: run it through make bench (or scripts/with-postgres.sh)")
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "engagelab-bench-")
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	rep, err := bench.Run(ctx, bench.Options{
		Monitor: *monitor, DatabaseURL: db, Apps: *apps, Concurrency: *conc, Idle: *idle,
		FakeCmd: []string{self, "-fake", strconv.Itoa(*apps)}, Dir: dir, Logger: log, Only: phases,
	})
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v (configs and logs kept in %s)\n", err, dir)
		return 1
	}
	os.RemoveAll(dir)
	fmt.Fprint(stdout, "\n"+rep.Table())
	if err := os.WriteFile(*out, []byte(rep.Markdown()), 0o644); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	fmt.Fprintln(stdout, "\nwritten to", *out)
	return 0
}
