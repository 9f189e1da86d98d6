// Package bench measures the monitor at scale (10,000 apps by default) against ceilings
// measured in the same run: a bare HTTP loop for polling, CopyFrom for ingest, reading just
// the answer's rows for history queries, the bare heap tuple for storage. It runs the real
// binary as a subprocess where a process-level figure is asked (CPU, peak RSS, start-up, idle
// cost) and the real pieces in-process otherwise. It is what `make bench` runs (cmd/bench);
// it is not a test and nothing in it fails on a stopwatch.
package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Options configure a run.
type Options struct {
	Monitor     string        // path of the monitor binary
	DatabaseURL string        // a server where the run may create and drop its databases
	Apps        int           // default 10,000
	Concurrency int           // engagelab.max_concurrency; default 16
	Idle        time.Duration // the idle window; default 60s
	FakeCmd     []string      // how to start the fake upstream's process (cmd/bench -fake N)
	Only        []string      // run only these phases (poll, roundtrips, ingest, history, serve); default all
	Dir         string        // scratch directory for configs and logs
	Logger      *slog.Logger
}

// run is the state shared by the phases.
type run struct {
	o          Options
	log        *slog.Logger
	admin      *pgx.Conn
	postmaster int // 0 when the server is not a local process
	upstream   string
	figures    []Figure
	notes      []string
	machine    Machine

	bareWall  time.Duration // the bare loop's, the ceiling of polling and start-up
	pollCPU   float64       // monitor CPU s per 1,000 polls
	pollPGCPU float64       // Postgres CPU s per 1,000 polls
}

// Run measures every figure and returns the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Apps == 0 {
		o.Apps = 10000
	}
	if o.Concurrency == 0 {
		o.Concurrency = 16
	}
	if o.Idle == 0 {
		o.Idle = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &run{o: o, log: o.Logger, machine: machine()}
	admin, err := pgx.Connect(ctx, o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", store.Redact(o.DatabaseURL), err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	r.admin = admin
	if err := admin.QueryRow(ctx, `SHOW server_version`).Scan(&r.machine.Postgres); err != nil {
		return nil, err
	}
	var backend int
	if err := admin.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return nil, err
	}
	if _, _, ppid, err := statTimes(backend); err == nil {
		r.postmaster = ppid
	} else {
		r.notes = append(r.notes, "Postgres runs elsewhere (its backends are not in this machine's /proc): its CPU is not measured.")
	}

	fakeCtx, stopFake := context.WithCancel(ctx)
	defer stopFake()
	if r.upstream, err = r.startFake(fakeCtx); err != nil {
		return nil, err
	}
	for _, phase := range []struct {
		name string
		f    func(context.Context) error
	}{
		// The in-process phases come last: on Linux a child's ru_maxrss starts from its
		// parent's high-water mark at exec, so the subprocesses' figures are taken while this
		// process is still small.
		{"poll", r.poll},
		{"roundtrips", r.roundTrips},
		{"serve", r.serve},
		{"history", r.history},
		{"storage", r.storage},
		{"ingest", r.ingest},
	} {
		if len(o.Only) > 0 && !slices.Contains(o.Only, phase.name) {
			continue
		}
		r.log.Info("bench: phase", "phase", phase.name)
		if err := phase.f(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", phase.name, err)
		}
	}
	r.machine.LoadEnd = loadAvg()
	return &Report{Machine: r.machine, Apps: o.Apps, Concurrency: o.Concurrency, Idle: o.Idle, Figures: r.figures, Notes: r.notes}, nil
}

// startFake starts the fake upstream's process and returns its base URL.
func (r *run) startFake(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, r.o.FakeCmd[0], r.o.FakeCmd[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start the fake upstream: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	buf := make([]byte, 256)
	n, err := out.Read(buf)
	if err != nil {
		return "", fmt.Errorf("the fake upstream did not say where it listens: %w", err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(string(buf[:n]), "listening "))
	return "http://" + addr, nil
}

// pgCPU is the database cluster's CPU time so far, or 0 when it is not measured.
func (r *run) pgCPU() time.Duration {
	if r.postmaster == 0 {
		return 0
	}
	d, err := clusterCPU(r.postmaster)
	if err != nil {
		return 0
	}
	return d
}

// database (re)creates a database of this run and returns its URL.
func (r *run) database(ctx context.Context, name string) (string, error) {
	if _, err := r.admin.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return "", err
	}
	if _, err := r.admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		return "", err
	}
	u, err := url.Parse(r.o.DatabaseURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// config writes a monitor config for apps 0..n-1 and returns its path.
func (r *run) config(name, dbURL, schedule, listen string, n int) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "database: {url: %q}\n", dbURL)
	fmt.Fprintf(&b, "engagelab: {base_url: %q, sms_base_url: %q, max_concurrency: %d}\n", r.upstream, r.upstream, r.o.Concurrency)
	if listen != "" {
		fmt.Fprintf(&b, "http: {listen: %q}\n", listen)
	}
	fmt.Fprintf(&b, "defaults: {schedule: %q, thresholds: {warning: \"100\", critical: \"20\"}, notify: [sink]}\n", schedule)
	fmt.Fprintf(&b, "notifiers:\n  - {name: sink, type: webhook, url: %q}\n", r.upstream+"/hook")
	b.WriteString("apps:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: %s, dev_key: %s, dev_secret: %s}\n", appName(i), devKey(i), devSecret(i))
	}
	path := filepath.Join(r.o.Dir, name+".yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// monitor runs the monitor binary to its end and returns its resource usage.
func (r *run) monitor(ctx context.Context, logName string, args ...string) (*syscall.Rusage, time.Duration, error) {
	cmd := exec.CommandContext(ctx, r.o.Monitor, args...)
	logf, err := os.Create(filepath.Join(r.o.Dir, logName+".log"))
	if err != nil {
		return nil, 0, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	if err != nil {
		return nil, took, fmt.Errorf("monitor %s: %w (see %s)", strings.Join(args[:min(len(args), 3)], " "), err, logf.Name())
	}
	return cmd.ProcessState.SysUsage().(*syscall.Rusage), took, nil
}

func rusageCPU(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r *run) add(f Figure) {
	r.log.Info("bench: figure", "name", f.Name, "value", f.Value, "ceiling", f.Ceiling)
	r.figures = append(r.figures, f)
}

func (r *run) count(ctx context.Context, db, query string) (int64, error) {
	c, err := pgx.Connect(ctx, db)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int64
	return n, c.QueryRow(ctx, query).Scan(&n)
}
