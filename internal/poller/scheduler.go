package poller

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Timers evaluates every app without polling; *evaluate.Evaluator is one.
type Timers interface {
	TickAll(ctx context.Context) error
}

// SlotClaimer records which process polls an app's scheduled slot, many claims in one
// statement; *store.Store is one. claimed[i] is false when another replica has claims[i].
type SlotClaimer interface {
	ClaimSlots(ctx context.Context, claims []store.SlotClaim) (claimed []bool, err error)
}

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	Poller         *Poller
	Timers         Timers
	Apps           []config.App
	MaxConcurrency int           // polls in flight at once, storing included (poller.InFlight); default 16
	TickEvery      time.Duration // timer evaluation (reminders, staleness, silences); default 15s
	MaxJitter      time.Duration // upper bound of the random delay before a scheduled poll; default 2s
	// Slots makes replicas poll each scheduled slot once; nil polls every slot.
	Slots  SlotClaimer
	Clock  func() time.Time // default time.Now
	Logger *slog.Logger
	// Polled, when set, is called after every poll the scheduler made (tests wait on it).
	Polled func(Result)
}

// Scheduler polls every app once at start-up and then on its cron schedule, in UTC.
type Scheduler struct {
	cfg SchedulerConfig
	sem chan struct{}

	// mu guards what a reload replaces (SetApps) and what Run shares with it.
	mu      sync.Mutex
	apps    []config.App
	poller  *Poller
	timers  Timers
	busy    map[string]*atomic.Bool // per app: a poll is in flight
	entries map[string]cron.EntryID // per app: its cron entry, while Run runs
	cron    *cron.Cron              // nil until Run starts it
	stopped bool                    // Run is stopping: nothing new starts
	// jobCtx and stop are Run's (see poll); startups waits for the polls started outside cron.
	jobCtx, stop context.Context
	startups     sync.WaitGroup
	claims       *claimBatcher // Run's: the slot claims of polls that come due together
}

// NewScheduler fills defaults.
func NewScheduler(c SchedulerConfig) *Scheduler {
	c.MaxConcurrency = cmp.Or(c.MaxConcurrency, 16)
	c.TickEvery = cmp.Or(c.TickEvery, 15*time.Second)
	c.MaxJitter = cmp.Or(c.MaxJitter, 2*time.Second)
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	busy := make(map[string]*atomic.Bool, len(c.Apps))
	for _, a := range c.Apps {
		busy[a.Name] = new(atomic.Bool)
	}
	return &Scheduler{cfg: c, sem: make(chan struct{}, c.MaxConcurrency), apps: c.Apps, poller: c.Poller, timers: c.Timers,
		busy: busy, entries: map[string]cron.EntryID{}}
}

// SetApps replaces the apps polled, and the poller and timers that serve them: a config
// reload. It may be called before, during or after Run. Polls in flight finish with the
// poller they started with, and are stored. An added app is polled at once, as at start-up,
// then on its schedule; a removed app is polled no more (a poll still waiting for its jitter
// is dropped; its history stays in the store); an app whose schedule changed is rescheduled.
func (s *Scheduler) SetApps(apps []config.App, p *Poller, t Timers) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := make(map[string]config.App, len(s.apps))
	for _, a := range s.apps {
		old[a.Name] = a
	}
	s.apps, s.poller, s.timers = apps, p, t
	kept := make(map[string]bool, len(apps))
	for _, a := range apps {
		kept[a.Name] = true
	}
	for name := range old {
		if !kept[name] {
			delete(s.busy, name)
			if id, ok := s.entries[name]; ok {
				s.cron.Remove(id)
				delete(s.entries, name)
			}
		}
	}
	for _, a := range apps {
		prev, known := old[a.Name]
		if !known {
			s.busy[a.Name] = new(atomic.Bool)
		}
		if s.cron == nil || s.stopped {
			continue // Run schedules them when it starts; or it is stopping
		}
		switch {
		case !known:
			s.schedule(a)
			s.startup(a)
		case prev.Schedule != a.Schedule:
			s.cron.Remove(s.entries[a.Name])
			s.schedule(a)
		}
	}
}

// Aligned makes robfig's "@every d" fire at UTC multiples of d plus a fixed offset of the
// app's own (a hash of its name, below d) instead of at start + n·d: every replica computes the
// same slots (and claims each once), whenever it started, and 10,000 apps on "@every 1m" are
// spread evenly over the minute instead of all polled at its first second.
func Aligned(s cron.Schedule, app string) cron.Schedule {
	if c, ok := s.(cron.ConstantDelaySchedule); ok {
		return alignedEvery{d: c.Delay, off: offset(app, c.Delay)}
	}
	return s
}

// offset is app's place within every interval d, in whole milliseconds: FNV-1a of the name, so
// it is the same in every replica and every release, and uniform over [0, d).
func offset(app string, d time.Duration) time.Duration {
	if d < 2*time.Millisecond {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(app))
	return time.Duration(h.Sum64()%uint64(d/time.Millisecond)) * time.Millisecond
}

type alignedEvery struct{ d, off time.Duration }

func (a alignedEvery) Next(t time.Time) time.Time {
	return t.UTC().Add(-a.off).Truncate(a.d).Add(a.off + a.d)
}

// slotAt returns the scheduled time a job running at now belongs to: the latest activation of
// s at or before now. A job that cron started late (a loaded host, a GC pause) still claims
// its own slot, so replicas agree on it.
func slotAt(s cron.Schedule, now time.Time, interval time.Duration) time.Time {
	now = now.UTC() // as cron runs (WithLocation(time.UTC)): a spec without CRON_TZ is UTC
	if a, ok := s.(alignedEvery); ok {
		return now.Add(-a.off).Truncate(a.d).Add(a.off)
	}
	slot := now.Truncate(time.Second)
	for t := s.Next(now.Add(-interval - time.Second)); !t.After(now); t = s.Next(t) {
		slot = t.UTC()
	}
	return slot
}

// Run polls every app now, then on schedule, and ticks alerts on a timer, until ctx ends.
// Polls in flight when ctx ends are finished (their results stored) before Run returns.
func (s *Scheduler) Run(ctx context.Context) error {
	log := s.cfg.Logger
	// Jobs get a context that outlives ctx: a poll that has started is finished and stored.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()

	// No cron.WithChain: its wrappers (SkipIfStillRunning, Recover) cost a channel and two
	// closures per entry, 200 B an app, and poll does both already: an app's busy flag skips a
	// tick while its previous poll runs (jitter is at most a tenth of the interval, so a tick
	// never comes while the previous one still waits for it), and poll recovers a panic.
	c := cron.New(cron.WithLocation(time.UTC), cron.WithLogger(cronLogger{log.With("component", "cron")}))
	claims := newClaimBatcher(s.cfg.Slots, log)
	claimsDone := make(chan struct{})
	claimCtx, stopClaims := context.WithCancel(context.WithoutCancel(ctx))
	defer stopClaims()
	go func() { defer close(claimsDone); claims.run(claimCtx) }()

	s.mu.Lock()
	s.cron, s.jobCtx, s.stop, s.claims = c, jobCtx, ctx, claims
	for _, app := range s.apps {
		s.schedule(app)
	}
	// Every app's start-up poll, at most 256 waiting at a time (their claims go in one
	// statement): a goroutine for each of 10,000 apps would hold more memory in stacks than
	// the rest of the service together.
	type due struct {
		name     string
		interval time.Duration
	}
	all := make([]due, len(s.apps))
	for i, a := range s.apps {
		all[i] = due{a.Name, a.Interval}
	}
	s.startups.Go(func() {
		starting := make(chan struct{}, 256)
		for _, a := range all {
			select {
			case starting <- struct{}{}:
			case <-ctx.Done():
				return
			}
			s.startups.Go(func() {
				defer func() { <-starting }()
				s.pollNow(jobCtx, ctx, a.name, a.interval)
			})
		}
	})
	s.mu.Unlock()
	c.Start()

	ticker := time.NewTicker(s.cfg.TickEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			// Polls in flight finish and are stored; how long that may take is the caller's
			// shutdown budget, not a bound of its own here.
			s.mu.Lock()
			s.stopped = true // a SetApps from now on starts nothing
			s.mu.Unlock()
			<-c.Stop().Done()
			s.startups.Wait()
			stopClaims() // after every poll that could claim
			<-claimsDone
			return nil
		case <-ticker.C:
			s.tick(ctx)
		}
	}
}

// schedule adds app's cron entry. s.mu is held and Run has created s.cron.
func (s *Scheduler) schedule(app config.App) {
	// The job keeps the name and interval, not the whole config.App: 10,000 of them.
	j := &job{s: s, name: app.Name, interval: app.Interval, sched: Aligned(app.Cron, app.Name)}
	// Jitter spreads apps that share a cron spec, but never so far that a short interval would
	// run into its next slot: at most a tenth of the interval. "@every" apps are spread by
	// their offset already.
	if _, ok := j.sched.(alignedEvery); !ok {
		j.jitter = min(s.cfg.MaxJitter, app.Interval/10)
	}
	s.entries[app.Name] = s.cron.Schedule(j.sched, j)
}

// job is an app's cron job: one allocation per app where a closure took three.
type job struct {
	s                *Scheduler
	name             string
	sched            cron.Schedule
	interval, jitter time.Duration
}

func (j *job) Run() {
	s := j.s
	defer s.recoverPoll(j.name) // poll recovers its own panics; this covers slotAt
	slot := slotAt(j.sched, s.cfg.Clock(), j.interval)
	// Read here, not kept per job: Run sets them before it starts cron, and they stay.
	s.mu.Lock()
	jobCtx, stop := s.jobCtx, s.stop
	s.mu.Unlock()
	s.poll(jobCtx, stop, j.name, slot, j.jitter)
}

// startup polls an app added by a reload now, outside cron, as Run polls every app at
// start-up. s.mu is held and Run is running.
func (s *Scheduler) startup(app config.App) {
	jobCtx, ctx := s.jobCtx, s.stop
	name, interval := app.Name, app.Interval
	s.startups.Go(func() { s.pollNow(jobCtx, ctx, name, interval) })
}

// pollNow polls app now, outside cron: at start-up every app at once (bounded by the
// semaphore), not staggered over minutes. The slot is the current minute (or interval, if
// shorter): replicas starting together poll once, and a restart polls again unless a poll
// happened moments ago.
func (s *Scheduler) pollNow(jobCtx, stop context.Context, app string, interval time.Duration) {
	slot := s.cfg.Clock().UTC().Truncate(min(max(interval, time.Second), time.Minute))
	s.poll(jobCtx, stop, app, slot, 0)
}

// tick runs the timer evaluation of every app; a panic in it is logged, not fatal.
func (s *Scheduler) tick(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			s.cfg.Logger.Error("timer evaluation panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	s.mu.Lock()
	timers := s.timers
	s.mu.Unlock()
	if err := timers.TickAll(ctx); err != nil && ctx.Err() == nil {
		s.cfg.Logger.Error("timer evaluation failed", "error", err)
	}
}

// poll runs one poll of app for slot. stop is the scheduler's context: once it is done no new
// poll starts. Scheduled polls wait a random jitter first so apps sharing a spec spread out.
func (s *Scheduler) poll(jobCtx, stop context.Context, app string, slot time.Time, jitter time.Duration) {
	defer s.recoverPoll(app)
	if jitter > 0 {
		select {
		case <-time.After(rand.N(jitter)):
		case <-stop.Done():
			return
		}
	}
	// One poll of an app at a time: a tick that comes while the previous poll (scheduled, or the
	// start-up poll, which may still wait on a slow upstream when the first tick comes) still
	// runs is skipped, not run beside it nor queued behind it.
	s.mu.Lock()
	busy, ok := s.busy[app]
	p, claims := s.poller, s.claims
	s.mu.Unlock()
	if !ok {
		return // removed from the config by a reload while this poll waited
	}
	if !busy.CompareAndSwap(false, true) {
		s.cfg.Logger.Debug("previous poll still running; skipping this one", "app", app)
		return
	}
	defer busy.Store(false)
	// The claim comes before the wait for a place: polls that come due together (every app at
	// start-up) are claimed together, in one statement, and not max_concurrency at a time.
	if !claims.claim(jobCtx, app, slot) {
		return
	}
	select {
	case s.sem <- struct{}{}:
	case <-stop.Done():
		return
	}
	defer func() { <-s.sem }()
	if stop.Err() != nil {
		return
	}
	res := p.Poll(jobCtx, app)
	if s.cfg.Polled != nil {
		s.cfg.Polled(res)
	}
}

// recoverPoll, deferred, logs a panic of app's poll instead of ending the process.
func (s *Scheduler) recoverPoll(app string) {
	if r := recover(); r != nil {
		s.cfg.Logger.Error("poll panicked; the next one runs on schedule", "app", app, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
}

// cronLogger adapts slog to cron.Logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug(msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error(msg, append(kv, "error", err)...)
}
