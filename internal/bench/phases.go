package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/app"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// perK scales a CPU time spent on n operations to seconds per 1,000 of them.
func perK(d time.Duration, n int) float64 { return d.Seconds() * 1000 / float64(n) }

// poll times `monitor poll-once` of every app against the bare HTTP loop doing the same GETs
// at the same concurrency, and counts the CPU and upstream connections each took.
func (r *run) poll(ctx context.Context) error {
	n, conc := r.o.Apps, r.o.Concurrency
	db, err := r.database(ctx, "bench_poll")
	if err != nil {
		return err
	}
	cfg, err := r.config("poll", db, "@every 1m", "", n)
	if err != nil {
		return err
	}
	if _, _, err := r.monitor(ctx, "poll-migrate", "--config", cfg, "migrate"); err != nil {
		return err
	}

	s0, err := fetchStats(ctx, r.upstream)
	if err != nil {
		return err
	}
	cpu0, start := selfCPU(), time.Now()
	if err := bareLoop(ctx, r.upstream, n, conc); err != nil {
		return err
	}
	bareWall, bareCPU := time.Since(start), selfCPU()-cpu0
	s1, err := fetchStats(ctx, r.upstream)
	if err != nil {
		return err
	}
	r.bareWall = bareWall

	pg0 := r.pgCPU()
	ru, took, err := r.monitor(ctx, "poll-once", "--config", cfg, "poll-once", "--deliver-timeout", "1s")
	if err != nil {
		return err
	}
	pg1 := r.pgCPU()
	s2, err := fetchStats(ctx, r.upstream)
	if err != nil {
		return err
	}
	stored, err := r.count(ctx, db, `SELECT count(*) FROM balance_snapshots`)
	if err != nil {
		return err
	}
	if stored != int64(n) || s2.Requests-s1.Requests != int64(n) {
		return fmt.Errorf("poll-once stored %d snapshots from %d requests, want %d of each", stored, s2.Requests-s1.Requests, n)
	}

	r.add(Figure{Name: fmt.Sprintf("%s apps polled once (`poll-once`), wall time", thousands(n)), Value: took.Seconds(), Unit: "s",
		Ceiling: bareWall.Seconds(), CeilingWhat: fmt.Sprintf("bare Go HTTP loop, same %s GETs, concurrency %d", thousands(n), conc),
		Goal: 2 * bareWall.Seconds(), GoalText: "≤ 2× the bare loop",
		Note: "the whole process: start, config, registration, polls, storage, the printed table"})
	r.pollCPU = perK(rusageCPU(ru), n)
	r.add(Figure{Name: "monitor CPU per 1,000 polls", Value: r.pollCPU, Unit: "s",
		Ceiling: perK(bareCPU, n), CeilingWhat: "the bare loop's CPU per 1,000 GETs", Goal: 0.3, GoalText: "≤ 0.3 s",
		Note: "getrusage of the `poll-once` process, its start-up included"})
	if r.postmaster != 0 && pg1 > pg0 {
		r.pollPGCPU = perK(pg1-pg0, n)
	} else if r.postmaster != 0 {
		// 10,000 polls cannot cost Postgres nothing: the counters were not read right.
		r.notes = append(r.notes, "Postgres CPU during `poll-once` could not be read this run (its /proc counters did not move); rerun make bench.")
	}
	r.add(Figure{Name: fmt.Sprintf("new upstream connections, `poll-once` of %s apps", thousands(n)), Value: float64(s2.Conns - s1.Conns), Unit: "",
		Ceiling: float64(conc), CeilingWhat: "max_concurrency", Goal: float64(conc), GoalText: "≤ max_concurrency",
		Note: fmt.Sprintf("accepted by the fake; the bare loop opened %d", s1.Conns-s0.Conns)})
	r.add(Figure{Name: "peak RSS of `poll-once` at " + thousands(n) + " apps", Value: mib(ru.Maxrss * 1024), Unit: "MiB", Note: "getrusage ru_maxrss"})
	return nil
}

// roundTrips counts the round trips to Postgres of `poll-once` of 1,000 apps (already polled
// once, as in steady state) through a counting proxy, less those of `poll-once` of 500: both
// open the same number of connections (max_concurrency) and register and check the schema
// alike, so what is left is 500 polls' own.
func (r *run) roundTrips(ctx context.Context) error {
	n := min(1000, r.o.Apps)
	u, err := url.Parse(r.o.DatabaseURL)
	if err != nil {
		return err
	}
	p, err := newRTProxy(u.Host)
	if err != nil {
		return err
	}
	defer p.Close()
	u.Host, u.Path = p.Addr(), "/bench_poll"
	trips := func(apps int) (int64, error) {
		cfg, err := r.config(fmt.Sprintf("rt%d", apps), u.String(), "@every 1m", "", apps)
		if err != nil {
			return 0, err
		}
		before := p.trips.Load()
		if _, _, err := r.monitor(ctx, fmt.Sprintf("rt%d", apps), "--config", cfg, "poll-once", "--deliver-timeout", "1s"); err != nil {
			return 0, err
		}
		return p.trips.Load() - before, nil
	}
	half := n / 2
	few, err := trips(half)
	if err != nil {
		return err
	}
	many, err := trips(n)
	if err != nil {
		return err
	}
	r.add(Figure{Name: "round trips to Postgres per poll", Value: float64(many-few) / float64(n-half), Unit: "",
		Ceiling: 1, CeilingWhat: "one write", Goal: 3, GoalText: "≤ 3",
		Note: fmt.Sprintf("a counting proxy: `poll-once` of %d apps took %d, of %d apps %d", n, many, half, few)})
	return nil
}

// ingest stores a poll's result for every app through the evaluator (lock, snapshot, ledger,
// rules, one transaction each), concurrency at a time, against CopyFrom of the same rows.
func (r *run) ingest(ctx context.Context) error {
	n, conc := r.o.Apps, r.o.Concurrency
	db, err := r.database(ctx, "bench_ingest")
	if err != nil {
		return err
	}
	path, err := r.config("ingest", db, "@every 1m", "", n)
	if err != nil {
		return err
	}
	cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, app.OpenOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	observe := func(at time.Time, paid decimal.Decimal) error {
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, conc)
		for range conc {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
					gift := decimal.RequireFromString("12.5000")
					snap := balance.Snapshot{PolledAt: at, Currency: "USD", Balance: paid, GiftBalance: gift, TotalBalance: paid.Add(gift)}
					if _, err := a.Evaluator.Observe(ctx, appName(i), &snap, nil); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	// The first result of an app is a first sighting; the second is the steady state measured.
	if err := observe(t0, decimal.RequireFromString("5000.0000")); err != nil {
		return err
	}
	pg0, cpu0, start := r.pgCPU(), selfCPU(), time.Now()
	if err := observe(t0.Add(time.Minute), decimal.RequireFromString("4999.9900")); err != nil {
		return err
	}
	took, pgObserve, cpuObserve := time.Since(start), r.pgCPU()-pg0, selfCPU()-cpu0

	ids := map[string]int64{}
	rows, _ := a.Store.Pool().Query(ctx, `SELECT id, name FROM apps`)
	var id int64
	var name string
	if _, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error { ids[name] = id; return nil }); err != nil {
		return err
	}
	// CopyFrom the same rows, five times at later minutes for a CPU figure above the clock tick.
	const copies = 5
	var copyWall time.Duration
	pg1 := r.pgCPU()
	for k := range copies {
		at := t0.Add(time.Duration(2+k) * time.Minute)
		src := make([][]any, n)
		for i := range n {
			paid := decimal.RequireFromString("4999.9800")
			gift := decimal.RequireFromString("12.5000")
			src[i] = []any{ids[appName(i)], at, "USD", paid, gift, paid.Add(gift)}
		}
		start := time.Now()
		if _, err := a.Store.Pool().CopyFrom(ctx, pgx.Identifier{"balance_snapshots"},
			[]string{"app_id", "polled_at", "currency", "balance", "gift_balance", "total_balance"}, pgx.CopyFromRows(src)); err != nil {
			return err
		}
		copyWall += time.Since(start)
	}
	pgCopy := r.pgCPU() - pg1
	copyWall /= copies

	r.add(Figure{Name: fmt.Sprintf("ingest: %s poll results stored and evaluated", thousands(n)), Value: took.Seconds(), Unit: "s",
		Ceiling: copyWall.Seconds(), CeilingWhat: "`CopyFrom` of the same rows",
		Note: fmt.Sprintf("evaluator.Observe, %d at a time, in-process; %.2f s monitor CPU per 1,000", conc, perK(cpuObserve, n))})
	if r.pollPGCPU > 0 {
		r.add(Figure{Name: "Postgres CPU per 1,000 polls", Value: r.pollPGCPU, Unit: "s",
			Ceiling: perK(pgCopy, n*copies), CeilingWhat: "`CopyFrom` of 1,000 snapshot rows", Goal: 0.3, GoalText: "≤ 0.3 s",
			Note: fmt.Sprintf("the cluster's processes (/proc) during `poll-once`; %.2f s during the in-process ingest", perK(pgObserve, n))})
	}
	return nil
}

// history loads one app with a year of one-minute snapshots and times the API's queries
// against reading just as many rows of the answer's shape; then it weighs a stored snapshot.
// migrated makes a database bench_NAME migrated by the monitor binary (`migrate`), opens it
// and registers apps.
func (r *run) migrated(ctx context.Context, name string, apps []string) (*store.Store, map[string]int64, error) {
	db, err := r.database(ctx, "bench_"+name)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := r.config(name, db, "@every 1m", "", 1)
	if err != nil {
		return nil, nil, err
	}
	if _, _, err := r.monitor(ctx, name+"-migrate", "--config", cfg, "migrate"); err != nil {
		return nil, nil, err
	}
	s, err := store.Open(ctx, db, r.log)
	if err != nil {
		return nil, nil, err
	}
	ids, err := s.EnsureApps(ctx, apps)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, ids, nil
}

func (r *run) history(ctx context.Context) error {
	s, ids, err := r.migrated(ctx, "history", []string{"year"})
	if err != nil {
		return err
	}
	defer s.Close()
	end := time.Now().UTC().Truncate(24 * time.Hour)
	start := end.Add(-365 * 24 * time.Hour)
	const rows = 525600
	// The year's weekly partitions, as a service running all year would have made them ahead
	// (otherwise the rows would pile up in the DEFAULT partition).
	if _, err := s.Pool().Exec(ctx, `SELECT balance_snapshots_ensure_partition(w)
		FROM generate_series($1::timestamptz, $2::timestamptz, interval '7 days') w`, start, end); err != nil {
		return err
	}
	if _, err := s.Pool().Exec(ctx, `
		INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
		SELECT $1, $2::timestamptz + i * interval '1 minute', 'USD',
		       1000 - (i % 1440) * 0.0101, 1.2500, 1001.2500 - (i % 1440) * 0.0101
		FROM generate_series(0, $3 - 1) i`, ids["year"], start, rows); err != nil {
		return err
	}
	if err := s.RebuildRollups(ctx, ids["year"]); err != nil {
		return err
	}
	// The weeks that are over have their index packed, as the retention loop does once.
	if _, err := s.PackSnapshotPartitions(ctx, time.Now()); err != nil {
		return err
	}
	for _, q := range []string{`VACUUM ANALYZE balance_snapshots`, `VACUUM ANALYZE balance_rollups_1h`} {
		if _, err := s.Pool().Exec(ctx, q); err != nil {
			return err
		}
	}
	// The ceiling: n rows of (timestamptz, 4 × NUMERIC) read and decoded as the answer's are.
	ceiling := func(n int) (time.Duration, error) {
		table := fmt.Sprintf("bench_answer_%d", n)
		if _, err := s.Pool().Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table+` AS
			SELECT now() + i * interval '1 minute' AS t, 1000.1234::numeric(20,4) AS a, 2.5::numeric(20,4) AS b,
			       999.9::numeric(20,4) AS c, 1001.0001::numeric(20,4) AS d FROM generate_series(1, $1) i`, n); err != nil {
			return 0, err
		}
		return median(5, func() error {
			rows, _ := s.Pool().Query(ctx, `SELECT t, a, b, c, d FROM `+table)
			var t time.Time
			var a, b, c, d decimal.Decimal
			got, err := pgx.ForEachRow(rows, []any{&t, &a, &b, &c, &d}, func() error { return nil })
			if err == nil && got.RowsAffected() != int64(n) {
				err = fmt.Errorf("%s: %d rows", table, got.RowsAffected())
			}
			return err
		})
	}
	for _, q := range []struct {
		name string
		rows int
		f    func() (int, error)
	}{
		{"history `step=1d` over a year (hourly roll-ups)", 365, func() (int, error) {
			b, err := s.Buckets(ctx, "year", start, end, 24*time.Hour, "total_balance")
			return len(b), err
		}},
		{"history `step=1h` over 30 days", 720, func() (int, error) {
			b, err := s.Buckets(ctx, "year", end.Add(-30*24*time.Hour), end, time.Hour, "balance")
			return len(b), err
		}},
		{"history raw points over a day", 1440, func() (int, error) {
			p, err := s.Snapshots(ctx, "year", end.Add(-24*time.Hour), end, 10000)
			return len(p), err
		}},
	} {
		took, err := median(5, func() error {
			got, err := q.f()
			if err == nil && got != q.rows {
				err = fmt.Errorf("%s: %d rows, want %d", q.name, got, q.rows)
			}
			return err
		})
		if err != nil {
			return err
		}
		c, err := ceiling(q.rows)
		if err != nil {
			return err
		}
		r.add(Figure{Name: q.name, Value: ms(took), Unit: "ms", Ceiling: ms(c),
			CeilingWhat: fmt.Sprintf("reading the answer's %s rows", thousands(q.rows)), Goal: 100, GoalText: "≤ 100 ms",
			Note: fmt.Sprintf("median of 5; %s snapshots stored", thousands(rows))})
	}

	var size, tuple float64
	var count int64
	if err := s.Pool().QueryRow(ctx, `
		SELECT COALESCE((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('balance_snapshots') WHERE isleaf),
		                pg_total_relation_size('balance_snapshots'))::float8,
		       count(*), avg(pg_column_size(s.*))::float8 + 4
		FROM balance_snapshots s`).Scan(&size, &count, &tuple); err != nil {
		return err
	}
	r.add(Figure{Name: "storage per snapshot, one app's year", Value: size / float64(count), Unit: "B",
		Ceiling: tuple, CeilingWhat: "the heap tuple alone (`pg_column_size` of the row + 4 B line pointer)",
		Note: fmt.Sprintf("`pg_total_relation_size` (heap, indexes, TOAST, every partition) / %s rows; each weekly partition's fixed pages (about 56 kB) shared by one app's 10,080 rows", thousands(int(count)))})
	return nil
}

// storage measures what a snapshot costs at a fleet's shape: storageApps apps polled once a
// minute for a whole week, written in time order as a running service writes them (every
// app's rows interleaved), in two weekly partitions: one whose week is over (its index
// packed, as the retention loop leaves every such week) and one still being written. A
// 400-day history is 57 of the first and one of the second; the figure weighs them so.
func (r *run) storage(ctx context.Context) error {
	const storageApps, week = 100, 7 * 24 * 60
	names := make([]string, storageApps)
	for i := range names {
		names[i] = appName(i)
	}
	s, _, err := r.migrated(ctx, "storage", names)
	if err != nil {
		return err
	}
	defer s.Close()
	monday := func(t time.Time) time.Time {
		d := t.UTC().Truncate(24 * time.Hour)
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	}
	over, open := monday(time.Now()).AddDate(0, 0, -14), monday(time.Now()).AddDate(0, 0, 7)
	for _, w := range []time.Time{over, open} {
		if _, err := s.Pool().Exec(ctx, `SELECT balance_snapshots_ensure_partition($1)`, w); err != nil {
			return err
		}
		if _, err := s.Pool().Exec(ctx, `
			INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
			SELECT a.id, $1::timestamptz + m * interval '1 minute', 'USD',
			       1000 - ((m + a.id) % 1440) * 0.0101, 1.2500, 1001.2500 - ((m + a.id) % 1440) * 0.0101
			FROM generate_series(0, $2 - 1) m CROSS JOIN apps a ORDER BY m, a.id`, w, week); err != nil {
			return err
		}
	}
	if _, err := s.PackSnapshotPartitions(ctx, time.Now()); err != nil {
		return err
	}
	if _, err := s.Pool().Exec(ctx, `VACUUM ANALYZE balance_snapshots`); err != nil {
		return err
	}
	perRow := func(w time.Time) (size, tuple float64, err error) {
		name := "balance_snapshots_p" + w.Format("20060102")
		var n int64
		err = s.Pool().QueryRow(ctx, `SELECT pg_total_relation_size($1::regclass)::float8, count(*), avg(pg_column_size(s.*))::float8 + 4
			FROM `+name+` s`, name).Scan(&size, &n, &tuple)
		if err == nil && n != storageApps*week {
			err = fmt.Errorf("%s holds %d rows, want %d", name, n, storageApps*week)
		}
		return size / float64(n), tuple, err
	}
	packed, tuple, err := perRow(over)
	if err != nil {
		return err
	}
	live, _, err := perRow(open)
	if err != nil {
		return err
	}
	const weeks = 58 // 400 days of retention: 57 weeks over and the one being written
	r.add(Figure{Name: fmt.Sprintf("storage per snapshot, %d apps × 400 days", storageApps), Value: (packed*(weeks-1) + live) / weeks, Unit: "B",
		Ceiling: tuple, CeilingWhat: "the heap tuple alone (`pg_column_size` of the row + 4 B line pointer)", Goal: 100, GoalText: "≤ 100 B",
		Note: fmt.Sprintf("`pg_total_relation_size` of a weekly partition (heap, index, TOAST, free space and visibility maps) / its %s rows: "+
			"%.1f B a week that is over (index packed), %.1f B the week being written, weighed 57 to 1", thousands(storageApps*week), packed, live)})
	return nil
}

// serve starts the real `monitor serve` with every app on a yearly schedule: it times the
// start-up until every app's first poll is stored, counts the upstream connections of that
// cycle, then measures its CPU over the idle window (nothing due), its peak RSS, and the API's
// list of every app.
func (r *run) serve(ctx context.Context) error {
	n, conc := r.o.Apps, r.o.Concurrency
	db, err := r.database(ctx, "bench_serve")
	if err != nil {
		return err
	}
	listen, err := freePort()
	if err != nil {
		return err
	}
	cfg, err := r.config("serve", db, "0 0 1 1 *", listen, n)
	if err != nil {
		return err
	}
	if _, _, err := r.monitor(ctx, "serve-migrate", "--config", cfg, "migrate"); err != nil {
		return err
	}
	ru, _, err := r.monitor(ctx, "version", "version")
	if err != nil {
		return err
	}
	binaryRSS := mib(ru.Maxrss * 1024)
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	logf, err := os.Create(filepath.Join(r.o.Dir, "serve.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	s0, err := fetchStats(ctx, r.upstream)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.o.Monitor, "--config", cfg, "serve")
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			return fmt.Errorf("monitor serve did not stop within a minute of SIGTERM")
		}
	}
	defer func() { _ = cmd.Process.Kill() }()

	var startup time.Duration
	for startup == 0 {
		var stored int64
		if err := conn.QueryRow(ctx, `SELECT count(DISTINCT app_id) FROM balance_snapshots`).Scan(&stored); err != nil {
			return err
		}
		if stored >= int64(n) {
			startup = time.Since(start)
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("monitor serve exited during start-up (%v); see %s", err, logf.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(start) > 5*time.Minute {
			return fmt.Errorf("monitor serve polled %d of %d apps in 5 minutes; see %s", stored, n, logf.Name())
		}
	}
	s1, err := fetchStats(ctx, r.upstream)
	if err != nil {
		return err
	}
	r.add(Figure{Name: fmt.Sprintf("start-up at %s apps: exec to every app's first poll stored", thousands(n)), Value: startup.Seconds(), Unit: "s",
		Ceiling: r.bareWall.Seconds(), CeilingWhat: "the bare loop's GETs", Goal: 10, GoalText: "≤ 10 s"})
	r.add(Figure{Name: "new upstream connections in the start-up cycle", Value: float64(s1.Conns - s0.Conns),
		Ceiling: float64(conc), CeilingWhat: "max_concurrency", Goal: float64(conc), GoalText: "≤ max_concurrency",
		Note: fmt.Sprintf("%s requests", thousands(int(s1.Requests-s0.Requests)))})

	// Let the start-up's tail (delivery, the first timer tick) pass, then watch it idle.
	time.Sleep(5 * time.Second)
	pid := cmd.Process.Pid
	cpu0, err := procCPU(pid)
	if err != nil {
		return err
	}
	pg0 := r.pgCPU()
	select {
	case err := <-exited:
		return fmt.Errorf("monitor serve exited while idle (%v); see %s", err, logf.Name())
	case <-time.After(r.o.Idle):
	}
	cpu1, err := procCPU(pid)
	if err != nil {
		return err
	}
	idle := (cpu1 - cpu0).Seconds() / r.o.Idle.Seconds()
	note := fmt.Sprintf("/proc/<pid>/stat over %s, no poll due", r.o.Idle)
	if r.postmaster != 0 {
		note += fmt.Sprintf("; Postgres %.4f cores meanwhile", (r.pgCPU()-pg0).Seconds()/r.o.Idle.Seconds())
	}
	r.add(Figure{Name: fmt.Sprintf("monitor CPU at %s apps with nothing due", thousands(n)), Value: idle, Unit: "cores",
		CeilingWhat: "0 (nothing to do)", Goal: 0.02, GoalText: "≤ 0.02 cores", Note: note})
	hwm, err := peakRSS(pid)
	if err != nil {
		return err
	}
	r.add(Figure{Name: fmt.Sprintf("peak RSS of `serve` at %s apps", thousands(n)), Value: mib(hwm), Unit: "MiB",
		Ceiling: binaryRSS, CeilingWhat: "the binary alone (`monitor version`)", Goal: 64, GoalText: "≤ 64 MiB",
		Note: "VmHWM after start-up and the idle window"})

	base := "http://" + listen
	var size int
	took, err := median(3, func() error {
		res, err := http.Get(base + "/api/v1/apps")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err == nil && res.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET /api/v1/apps: %s", res.Status)
		}
		if got := strings.Count(string(body), `"spend":`); err == nil && got != n {
			err = fmt.Errorf("GET /api/v1/apps: %d apps with spend, want %d", got, n)
		}
		size = len(body)
		return err
	})
	if err != nil {
		return err
	}
	latest, err := median(3, func() error {
		_, err := conn.Exec(ctx, `SELECT DISTINCT ON (app_id) * FROM balance_snapshots ORDER BY app_id, polled_at DESC`)
		return err
	})
	if err != nil {
		return err
	}
	r.add(Figure{Name: fmt.Sprintf("`GET /api/v1/apps` with spend, %s apps", thousands(n)), Value: ms(took), Unit: "ms",
		Ceiling: ms(latest), CeilingWhat: "one query reading every app's latest snapshot",
		Note: fmt.Sprintf("median of 3; %d KiB of JSON", size/1024)})
	if err := stop(); err != nil {
		return fmt.Errorf("monitor serve: %w; see %s", err, logf.Name())
	}
	return nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// median runs f k times and returns the median time.
func median(k int, f func() error) (time.Duration, error) {
	var ds []time.Duration
	for range k {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[k/2], nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(b int64) float64        { return float64(b) / (1 << 20) }
