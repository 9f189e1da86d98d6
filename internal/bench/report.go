package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Figure is one measured value beside its ceiling (the least any implementation could do,
// measured in the same run) and the goal it is held to.
type Figure struct {
	Name        string
	Value       float64
	Unit        string
	Ceiling     float64 // 0: none measurable
	CeilingWhat string
	Goal        float64 // 0: no goal
	GoalText    string
	Note        string
}

// Ratio is Value over Ceiling, or NaN without a ceiling.
func (f Figure) Ratio() float64 {
	if f.Ceiling <= 0 {
		return math.NaN()
	}
	return f.Value / f.Ceiling
}

// Met says whether the figure is within its goal (true without a goal).
func (f Figure) Met() bool { return f.Goal == 0 || f.Value <= f.Goal }

// Report is one run's figures and the machine they were measured on.
type Report struct {
	Machine     Machine
	Apps        int
	Concurrency int
	Idle        time.Duration
	Figures     []Figure
	Notes       []string
}

func format(v float64, unit string) string {
	var s string
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v == math.Trunc(v) && unit == "":
		s = thousands(int(v))
	case math.Abs(v) >= 100:
		s = thousands(int(math.Round(v)))
	case math.Abs(v) >= 10:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) >= 1:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	default:
		s = strconv.FormatFloat(v, 'g', 2, 64)
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

// Table renders the figures as a Markdown table.
func (rep *Report) Table() string {
	var b strings.Builder
	b.WriteString("| figure | measured | ceiling (same run) | × ceiling | goal | within goal |\n|---|---|---|---|---|---|\n")
	for _, f := range rep.Figures {
		ceiling := f.CeilingWhat
		if f.Ceiling > 0 {
			ceiling = format(f.Ceiling, f.Unit) + ": " + f.CeilingWhat
		}
		ratio := "n/a"
		if r := f.Ratio(); !math.IsNaN(r) {
			ratio = strconv.FormatFloat(r, 'f', 2, 64) + "×"
		}
		met := "yes"
		switch {
		case f.Goal == 0:
			met = ""
		case !f.Met():
			met = "**no**"
		}
		name := f.Name
		if f.Note != "" {
			name += " (" + f.Note + ")"
		}
		fmt.Fprintf(&b, "| %s | **%s** | %s | %s | %s | %s |\n", name, format(f.Value, f.Unit), ceiling, ratio, f.GoalText, met)
	}
	return b.String()
}

// Markdown renders BENCHMARKS.md.
func (rep *Report) Markdown() string {
	m := rep.Machine
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Written by `make bench` (`cmd/bench`, `internal/bench`); every figure below comes from one run,\n")
	b.WriteString("each beside a ceiling measured in the same run, the least any implementation could do.\n")
	b.WriteString("Rerun `make bench` to refresh this file; nothing here is a test and nothing fails on a stopwatch.\n\n")
	b.WriteString("## Machine\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n| date | %s |\n| CPU | %s |\n| cores | %d |\n| memory | %.1f GiB |\n| Go | %s |\n| PostgreSQL | %s |\n| kernel | %s |\n| load average (1 min) at start, end | %s, %s |\n\n",
		m.Date.Format(time.RFC3339), m.CPU, m.Cores, m.MemoryGB, m.Go, m.Postgres, m.Kernel, m.LoadStart, m.LoadEnd)
	fmt.Fprintf(&b, "%s apps, `engagelab.max_concurrency` %d, the fake EngageLab (`internal/engagelab/fake`) in a process of\n", thousands(rep.Apps), rep.Concurrency)
	b.WriteString("its own on loopback, the monitor as the real binary (`bin/monitor`) where a process figure is\n")
	b.WriteString("asked, Postgres as `make bench` starts it (`scripts/with-postgres.sh`: a throwaway local cluster\n")
	b.WriteString("with `fsync=off`, so writes cost less than on a durable server). A load average above the core\n")
	b.WriteString("count means other work shared the machine during the run: wall times are then pessimistic, and\n")
	b.WriteString("CPU times less so (they count only the measured processes).\n\n")
	b.WriteString("## Figures\n\n")
	b.WriteString(rep.Table())
	for _, n := range rep.Notes {
		b.WriteString("\n" + n + "\n")
	}
	b.WriteString(`
## How each is measured

- Polling: ` + "`monitor poll-once`" + ` of every app (exit status 0, one snapshot stored per app), timed
  from exec to exit, against a bare Go HTTP loop doing the same GETs at the same concurrency
  with a client keeping as many idle connections, against the same fake.
- CPU: the ` + "`poll-once`" + ` process's getrusage; Postgres's from /proc/<pid>/stat of the postmaster
  and every process it runs (exited backends through the postmaster's children times).
- Round trips: a TCP proxy between the monitor and Postgres counts each time the client speaks
  after the server did; ` + "`poll-once`" + ` of 1,000 apps less ` + "`poll-once`" + ` of one app.
- Ingest: the evaluator's ` + "`Observe`" + ` of every app's second snapshot, in-process, against
  ` + "`CopyFrom`" + ` of the same rows into ` + "`balance_snapshots`" + `.
- History: one app with a year of one-minute snapshots; each query against reading as many rows of
  the answer's shape (a timestamp and four NUMERICs) from a table holding just those.
- Storage: ` + "`pg_total_relation_size`" + ` of ` + "`balance_snapshots`" + ` (every partition, its indexes and TOAST)
  over its rows, after the history load.
- Start-up, idle, RSS: the real ` + "`monitor serve`" + ` with every app on a yearly schedule (nothing due
  after the start-up poll); start-up is exec until every app has a stored snapshot; idle is the
  process's CPU over the window; peak RSS is its VmHWM. The RSS of ` + "`poll-once`" + ` and of
  ` + "`monitor version`" + ` is getrusage's ru_maxrss, which on Linux starts from the parent's
  high-water mark at exec: the benchmark takes them before its own in-process phases grow it.
- Connections: the fake counts the TCP connections it accepts.
`)
	return b.String()
}

// thousands formats n with comma separators.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
