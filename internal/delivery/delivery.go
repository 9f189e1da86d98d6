// Package delivery sends the outbox: it leases due rows from the store, hands each to its
// notifier with no transaction open, and records the outcome with exponential backoff and
// jitter, honouring Retry-After. Permanent refusals and rows older than max_age become dead at
// once without holding up the rows behind them. Notifiers themselves make one attempt and
// never retry.
//
// A pool of senders (Config.Concurrency) works at once, so one receiver that hangs holds up
// only its own (app, notifier): the others, and retries coming due, go out meanwhile. Each
// (app, notifier) has at most one row in flight, in order (the store's claim sees to that).
//
// A row is sent at least once: a process killed mid-send leaves a lease that runs out
// (Config.Lease), and then another process sends the row again, with the same webhook-id. A
// normal run sends nothing twice: an answer that cannot be recorded (the database is away) is
// kept in memory and recorded later, never sent again; see Worker.record.
package delivery

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Observer is told about every outcome, for metrics.
type Observer interface {
	ObserveDelivery(notifier, result string)
}

// Config configures a Worker.
type Config struct {
	Store     *store.Store
	Notifiers map[string]notify.Notifier // SetNotifiers replaces them while running
	MaxAge    time.Duration              // default 24h
	// Grouping sends the rows of one group key (an access or data rule firing or resolving)
	// queued within Grouping.Wait of each other as one message, when there are at least
	// Grouping.MinApps of them; SetGrouping replaces it while running.
	Grouping config.Grouping
	// BaseBackoff is the first retry delay; it doubles per attempt up to MaxBackoff.
	BaseBackoff time.Duration // default 5s
	MaxBackoff  time.Duration // default 1h
	PollEvery   time.Duration // how often an idle worker looks for due rows; default 2s
	SendTimeout time.Duration // per attempt; default 30s
	// Concurrency is how many rows are sent at once, so one slow receiver does not hold up
	// the others; default 4. Rows of one (app, notifier) still go one at a time, in order.
	Concurrency int
	// Lease is how long a claimed row stays this worker's; default SendTimeout + 1m. It must
	// outlast a send (SendTimeout bounds one), and it is how long the rows of a process killed
	// mid-send wait before another process sends them again.
	Lease time.Duration
	// Only, when set, limits the worker to the rows of these events (poll-once).
	Only     []string
	Clock    func() time.Time
	Logger   *slog.Logger
	Observer Observer
}

// storeTimeout bounds each claim and record, so a database that stopped answering (rather
// than refusing) does not stall the worker.
const storeTimeout = 10 * time.Second

// Worker delivers outbox rows. Several workers (in one or several processes) may run on one
// database: each claims rows under a lease of its own, so they never send a row twice.
type Worker struct {
	cfg       Config
	owner     string // this worker's lease owner: unique, never reused
	wake      chan struct{}
	slots     chan struct{} // one token per send in flight, shared by Run and Drain
	notifiers atomic.Pointer[map[string]notify.Notifier]
	grouping  atomic.Pointer[config.Grouping]

	mu     sync.Mutex
	ended  chan struct{}    // closed (and replaced) whenever a send ends
	freed  chan struct{}    // closed (and replaced) when a claim gives back senders it did not use
	held   []store.Recorded // answers the database has not taken yet
	cutOff time.Time        // when a database call of this worker last failed (real time)
}

// New fills defaults.
func New(c Config) *Worker {
	c.MaxAge = cmp.Or(c.MaxAge, 24*time.Hour)
	c.BaseBackoff = cmp.Or(c.BaseBackoff, 5*time.Second)
	c.MaxBackoff = cmp.Or(c.MaxBackoff, time.Hour)
	c.PollEvery = cmp.Or(c.PollEvery, 2*time.Second)
	c.SendTimeout = cmp.Or(c.SendTimeout, 30*time.Second)
	c.Lease = cmp.Or(c.Lease, c.SendTimeout+time.Minute)
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	w := &Worker{
		cfg:   c,
		owner: fmt.Sprintf("%s/%d/%016x", host, os.Getpid(), rand.Uint64()),
		wake:  make(chan struct{}, 1),
		slots: make(chan struct{}, c.Concurrency),
		ended: make(chan struct{}),
		freed: make(chan struct{}),
	}
	w.SetNotifiers(c.Notifiers)
	w.SetGrouping(c.Grouping)
	return w
}

// SetGrouping replaces the grouping settings (a reload); safe while the worker runs.
func (w *Worker) SetGrouping(g config.Grouping) { w.grouping.Store(&g) }

// SetNotifiers replaces the notifiers (a reload); safe while the worker runs. Sends already in
// flight finish with the notifier they started with.
func (w *Worker) SetNotifiers(n map[string]notify.Notifier) {
	m := maps.Clone(n)
	w.notifiers.Store(&m)
}

// Wake makes a waiting Run look for due rows now. A wake that comes while Run is busy is kept
// and handled as soon as it is done.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. Sends in flight when ctx ends are finished (each is bounded by
// SendTimeout) and recorded, so that a shutdown does not cut a request in half and send it
// again later.
func (w *Worker) Run(ctx context.Context) error {
	var (
		wg     sync.WaitGroup
		mine   atomic.Int64
		failed int // store errors in a row: back off and log less while the database is away
	)
	sendCtx := context.WithoutCancel(ctx)
	for ctx.Err() == nil {
		ended, freed := w.changes()
		w.flushHeld(ctx)
		now := w.cfg.Clock()
		started, free, err := w.start(ctx, sendCtx, now, &wg, &mine)
		wait := w.cfg.PollEvery
		switch {
		case err != nil && ctx.Err() != nil:
			// stopping: the claim was cut short, nothing to report
		case err != nil:
			failed++
			if failed == 1 || failed%10 == 0 {
				w.cfg.Logger.Error("delivery failed; the outbox keeps every row until it can be sent", "error", err, "failures_in_a_row", failed)
			}
			wait = min(w.cfg.PollEvery<<min(failed, 5), 30*time.Second)
		default:
			if failed > 0 {
				w.cfg.Logger.Info("delivery works again", "after_failures", failed)
			}
			failed = 0
			if free == 0 || started == free {
				break // every sender is busy: the next step comes when one is done (ended)
			}
			next, err := w.nextDue(ctx)
			if err != nil || next.IsZero() {
				break
			}
			if next.After(now) {
				wait = min(wait, max(next.Sub(w.cfg.Clock()), 10*time.Millisecond))
			}
			// Otherwise the row was due but not claimable (another process has it, or its
			// lease is in its grace): look again at the poll interval rather than spin.
		}
		if w.holding() {
			wait = min(wait, time.Second)
		}
		if free > 0 {
			freed = nil // only a Drain's claim holding every sender needs it
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-ended:
		case <-freed:
		case <-t.C:
		}
		t.Stop()
	}
	wg.Wait()
	w.finalFlush(sendCtx)
	return nil
}

// Drain sends every row due now, Concurrency at a time (shared with a running Run), waits for
// those sends, and returns how many rows it handled.
func (w *Worker) Drain(ctx context.Context) (int, error) {
	var (
		wg      sync.WaitGroup
		mine    atomic.Int64
		handled int
		err     error
	)
	sendCtx := context.WithoutCancel(ctx)
	for ctx.Err() == nil {
		ended, freed := w.changes()
		w.flushHeld(ctx)
		started, free, e := w.start(ctx, sendCtx, w.cfg.Clock(), &wg, &mine)
		handled += started
		if e != nil {
			err = e
			break
		}
		if free > 0 && started == 0 && mine.Load() == 0 {
			break // nothing due and nothing of ours in flight
		}
		// Wait for a send to end: it frees a sender, and the row behind it may be due. With no
		// sender free, a claim of Run's may hold them all only for a moment: wait for that too.
		if free > 0 {
			freed = nil
		}
		select {
		case <-ctx.Done():
		case <-ended:
		case <-freed:
		}
	}
	wg.Wait()
	w.flushHeld(sendCtx)
	if err != nil {
		return handled, err
	}
	return handled, ctx.Err()
}

// start claims as many due rows as there are free senders and sends each on a goroutine of its
// own. It returns how many it started and how many senders were free.
func (w *Worker) start(ctx, sendCtx context.Context, now time.Time, wg *sync.WaitGroup, mine *atomic.Int64) (started, free int, err error) {
acquire:
	for free < cap(w.slots) {
		select {
		case w.slots <- struct{}{}:
			free++
		default:
			break acquire
		}
	}
	if free == 0 {
		return 0, 0, nil
	}
	cctx, cancel := context.WithTimeout(ctx, storeTimeout)
	ds, err := w.cfg.Store.Claim(cctx, store.Claim{
		Owner: w.owner, Now: now, Limit: free, Lease: w.cfg.Lease, TakeOver: w.mayTakeOver(), Only: w.cfg.Only,
		Unhold: len(w.cfg.Only) > 0,
	})
	cancel()
	if err != nil {
		w.storeFailed()
	}
	for range free - len(ds) {
		<-w.slots
	}
	if len(ds) < free {
		w.mu.Lock()
		close(w.freed)
		w.freed = make(chan struct{})
		w.mu.Unlock()
	}
	for _, job := range w.groups(ctx, ds) {
		// A grouped send takes one sender whatever its size: give back the others its claimed
		// rows held.
		for range job.claimed - 1 {
			<-w.slots
		}
		mine.Add(1)
		wg.Go(func() {
			w.deliver(sendCtx, job.rows)
			mine.Add(-1)
			<-w.slots
			w.signal()
		})
	}
	return len(ds), free, err
}

// job is what one sender sends: a row, or a group of rows as one message.
type job struct {
	rows    []store.Delivery
	claimed int // how many of rows Claim returned (each took a sender); the rest joined them
}

// groups turns claimed rows into jobs. Rows with a group key (an access or data alert firing
// or resolving, held for grouping.wait) are sent as one message with the rows of the same
// notifier and key queued within the wait, when there are at least grouping.min_apps of
// them; otherwise each alone.
func (w *Worker) groups(ctx context.Context, ds []store.Delivery) []job {
	g := *w.grouping.Load()
	var jobs []job
	byKey := map[[2]string][]store.Delivery{}
	var keys [][2]string
	for _, d := range ds {
		if d.GroupKey == "" || !g.On() {
			jobs = append(jobs, job{rows: []store.Delivery{d}, claimed: 1})
			continue
		}
		k := [2]string{d.Notifier, d.GroupKey}
		if byKey[k] == nil {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], d)
	}
	for _, k := range keys {
		claimed := byKey[k]
		ids := make([]int64, len(claimed))
		for i, d := range claimed {
			ids[i] = d.ID
		}
		first := claimed[0].CreatedAt
		cctx, cancel := context.WithTimeout(ctx, storeTimeout)
		more, err := w.cfg.Store.ClaimGroup(cctx, store.GroupClaim{
			Owner: w.owner, Notifier: k[0], Key: k[1], From: first.Add(-g.Wait), To: first.Add(g.Wait),
			Claimed: ids, Need: max(0, g.MinApps-len(claimed)), Lease: w.cfg.Lease,
		})
		cancel()
		if err != nil {
			w.storeFailed()
			w.cfg.Logger.Warn("could not look for rows to group with; sending alone", "notifier", k[0], "group", k[1], "error", err)
		}
		if rows := append(claimed, more...); len(rows) >= g.MinApps {
			jobs = append(jobs, job{rows: rows, claimed: len(claimed)})
			continue
		}
		for _, d := range claimed {
			jobs = append(jobs, job{rows: []store.Delivery{d}, claimed: 1})
		}
	}
	return jobs
}

// deliver sends one claimed row, or a group of them as one message, and records the outcome.
func (w *Worker) deliver(ctx context.Context, job []store.Delivery) {
	out := w.send(ctx, job)
	at := w.cfg.Clock()
	recs := make([]store.Recorded, len(job))
	for i, d := range job {
		recs[i] = store.Recorded{ID: d.ID, Outcome: out, At: at}
	}
	w.record(ctx, recs)
}

// record writes outcomes of rows this worker leases. When the database cannot take them (it is
// away), they are kept in memory and recorded later (flushHeld, before every claim), never
// sent again: a receiver that answered 200 must not see the row twice. Meanwhile the row stays
// pending and leased by this worker, so:
//   - this worker never claims it again (Claim skips its owner's rows, expired or not), and the
//     rows behind it in its (app, notifier) wait, keeping the order;
//   - another worker takes it over only once its lease has run out, and not while the
//     database has been up for less than a lease (a restart) nor while that worker itself
//     failed to reach the database within a lease (a shared outage): after an outage the
//     owner has a whole lease, retrying every second, to record what it holds;
//   - should another worker have taken it over anyway (this one alone was cut off for longer
//     than a lease), a final answer is still recorded (the row is settled and the other
//     worker's record is refused), and a retry is dropped: the row is the other worker's now.
//     That case, like a kill -9 mid-send, sends the row twice, with the same webhook-id.
func (w *Worker) record(ctx context.Context, recs []store.Recorded) {
	lost, err := w.tryRecord(ctx, recs)
	if err != nil {
		w.mu.Lock()
		w.held = append(w.held, recs...)
		n := len(w.held)
		w.mu.Unlock()
		w.cfg.Logger.Warn("could not record a delivery outcome; keeping it until the database takes it, without sending the row again",
			"held", n, "error", err)
		return
	}
	w.reportLost(lost)
}

// tryRecord records recs, noting a database that did not take them (see storeFailed).
func (w *Worker) tryRecord(ctx context.Context, recs []store.Recorded) (lost []int64, err error) {
	rctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if lost, err = w.cfg.Store.Record(rctx, w.owner, recs); err != nil {
		w.storeFailed()
	}
	return lost, err
}

// flushHeld records the outcomes kept while the database was away.
func (w *Worker) flushHeld(ctx context.Context) {
	w.mu.Lock()
	recs := w.held
	w.held = nil
	w.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	lost, err := w.tryRecord(ctx, recs)
	if err != nil {
		w.mu.Lock()
		w.held = append(recs, w.held...)
		w.mu.Unlock()
		return
	}
	w.cfg.Logger.Info("recorded the delivery outcomes kept while the database was away", "rows", len(recs)-len(lost))
	w.reportLost(lost)
}

// finalFlush gives the outcomes still held a last chance when the worker stops.
func (w *Worker) finalFlush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for w.holding() && ctx.Err() == nil {
		w.flushHeld(ctx)
		if w.holding() {
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	w.mu.Lock()
	n := len(w.held)
	w.mu.Unlock()
	if n > 0 {
		w.cfg.Logger.Error("stopping with delivery outcomes the database did not take; their rows will be sent again once their lease runs out",
			"rows", n, "lease", w.cfg.Lease)
	}
}

func (w *Worker) reportLost(lost []int64) {
	if len(lost) > 0 {
		w.cfg.Logger.Warn("delivery outcome not recorded: another worker took the row over after its lease ran out, or it was settled already",
			"outbox_ids", lost)
	}
}

func (w *Worker) nextDue(ctx context.Context) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	return w.cfg.Store.NextDue(ctx, w.owner)
}

// changes returns channels closed when a send next ends and when a claim next gives back
// senders it did not use. Take them before looking, so that nothing in between is missed.
func (w *Worker) changes() (ended, freed <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ended, w.freed
}

func (w *Worker) signal() {
	w.mu.Lock()
	close(w.ended)
	w.ended = make(chan struct{})
	w.mu.Unlock()
}

func (w *Worker) holding() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.held) > 0
}

func (w *Worker) storeFailed() {
	w.mu.Lock()
	w.cutOff = time.Now()
	w.mu.Unlock()
}

// mayTakeOver says whether this worker may take over rows whose lease ran out: not within a
// lease of its own last database failure, since their owner was likely cut off too and may
// still be holding their answers.
func (w *Worker) mayTakeOver() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cutOff.IsZero() || time.Since(w.cutOff) > w.cfg.Lease
}

// send makes one attempt at a job, a row or a group of rows sent as one message
// (notify.Group), logs and counts it, and returns the outcome the job's rows share.
func (w *Worker) send(ctx context.Context, job []store.Delivery) store.Outcome {
	d := job[0]
	log := w.cfg.Logger.With("app", d.App, "notifier", d.Notifier, "event", d.EventID, "type", d.Type, "attempt", d.Attempts+1)
	what := "notification"
	if len(job) > 1 {
		apps := make([]string, len(job))
		for i, r := range job {
			apps[i] = r.App
		}
		log = w.cfg.Logger.With("apps", apps, "notifier", d.Notifier, "event", notify.GroupID(eventIDs(job)), "type", d.Type, "attempt", maxAttempts(job)+1)
		what = "grouped notification"
	}
	out := w.attempt(ctx, job, w.cfg.Clock())
	switch out.Status {
	case store.Delivered:
		log.Info(what + " delivered")
	case store.Retry:
		log.Warn(what+" not delivered; will retry", "next_attempt", out.NextAttempt, "error", out.Error)
	case store.Dead:
		log.Error(what+" is dead: it will not be sent", "error", out.Error)
	case store.Dropped:
		log.Info("reminder dropped: a newer event of the same alert follows it")
	}
	if w.cfg.Observer != nil {
		for _, r := range job {
			w.cfg.Observer.ObserveDelivery(r.Notifier, string(out.Status))
		}
	}
	return out
}

// attempt sends a job once. A group is as old as its oldest row (max_age) and as often tried
// as its most tried one (backoff).
func (w *Worker) attempt(ctx context.Context, job []store.Delivery, now time.Time) store.Outcome {
	d, oldest, attempts := job[0], job[0].CreatedAt, maxAttempts(job)
	for _, r := range job[1:] {
		if r.CreatedAt.Before(oldest) {
			oldest = r.CreatedAt
		}
	}
	if now.Sub(oldest) > w.cfg.MaxAge {
		return store.Outcome{Status: store.Dead, Unsent: true, Error: fmt.Sprintf("not delivered within delivery.max_age (%s)", w.cfg.MaxAge)}
	}
	n, ok := (*w.notifiers.Load())[d.Notifier]
	if !ok {
		// Another process (a replica mid-rollout, poll-once with a trimmed config) may know it:
		// try again later, and let max_age retire a notifier that is really gone.
		return store.Outcome{Status: store.Retry, Unsent: true, NextAttempt: now.Add(time.Minute),
			Error: fmt.Sprintf("notifier %q is not configured in this process", d.Notifier)}
	}
	if len(job) == 1 && d.Type == notify.TypeReminder && d.Superseded {
		return store.Outcome{Status: store.Dropped}
	}
	events := make([]notify.Event, len(job))
	for i, r := range job {
		if err := json.Unmarshal(r.Payload, &events[i]); err != nil {
			return store.Outcome{Status: store.Dead, Unsent: true, Error: "stored event is not valid JSON: " + err.Error()}
		}
	}
	sctx, cancel := context.WithTimeout(ctx, w.cfg.SendTimeout)
	defer cancel()
	var err error
	if len(job) == 1 {
		err = w.notify(sctx, n, d, events[0])
	} else {
		err = n.Notify(sctx, notify.Group(events)) // a group is no app's episode: no thread
	}
	return w.outcome(err, attempts, oldest)
}

func eventIDs(job []store.Delivery) []string {
	ids := make([]string, len(job))
	for i, r := range job {
		ids[i] = r.EventID
	}
	return ids
}

func maxAttempts(job []store.Delivery) int {
	n := 0
	for _, r := range job {
		n = max(n, r.Attempts)
	}
	return n
}

// outcome classifies the answer to an attempt: delivered, dead at once for a permanent
// refusal, else a retry after the backoff or the receiver's Retry-After.
func (w *Worker) outcome(err error, attempts int, createdAt time.Time) store.Outcome {
	if err == nil {
		return store.Outcome{Status: store.Delivered}
	}
	if notify.IsPermanent(err) {
		return store.Outcome{Status: store.Dead, Error: err.Error()}
	}
	delay := w.backoff(attempts)
	if ra, ok := notify.RetryAfter(err); ok && ra > 0 {
		delay = ra
	}
	// Counted from the answer, not from the start of the attempt: Retry-After is relative to
	// when the receiver said it, and a slow answer must not shorten the wait it asked for.
	next := w.cfg.Clock().Add(delay)
	if next.Sub(createdAt) > w.cfg.MaxAge {
		// No point waiting past the deadline: the next claim will mark it dead.
		next = createdAt.Add(w.cfg.MaxAge).Add(time.Second)
	}
	return store.Outcome{Status: store.Retry, NextAttempt: next, Error: err.Error()}
}

// notify sends e; a threaded notifier gets its episode's thread, and the root of a new
// thread is remembered for the episode's later events (of this process or another).
func (w *Worker) notify(ctx context.Context, n notify.Notifier, d store.Delivery, e notify.Event) error {
	t, ok := n.(notify.Threaded)
	if !ok || e.Alert == "" || e.Alert == "balance" {
		return n.Notify(ctx, e)
	}
	th := store.Thread{Notifier: d.Notifier, App: e.App, Alert: e.Alert, Since: e.Since}
	root, err := w.cfg.Store.ThreadRoot(ctx, th)
	if err != nil {
		return err // a database blip: retried like a failed send
	}
	posted, err := t.NotifyInThread(ctx, e, root)
	if err != nil {
		return err
	}
	if root == "" && posted != "" {
		if err := w.cfg.Store.SaveThreadRoot(ctx, th, posted); err != nil {
			// Sent, but later events will start a thread of their own: worse, not wrong.
			w.cfg.Logger.Warn("could not remember the thread of a sent message", "app", e.App, "notifier", d.Notifier, "error", err)
		}
	}
	return nil
}

// backoff is BaseBackoff·2^attempts, capped, with ±20% jitter so that many rows failing at once
// do not come back at once.
func (w *Worker) backoff(attempts int) time.Duration {
	d := w.cfg.BaseBackoff
	for i := 0; i < attempts && d < w.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.cfg.MaxBackoff)
	jitter := time.Duration(rand.Int64N(int64(d)/5+1)) * 2
	return d - d/5 + jitter
}

// DeliverEvents sends the rows of the given events (and only those) until they are all
// finished or timeout passes, retrying with backoff in between, and returns how many of them
// are still pending: what `monitor poll-once` waits for before it reports.
func DeliverEvents(ctx context.Context, c Config, eventIDs []string, timeout time.Duration) (int, error) {
	if len(eventIDs) == 0 {
		return 0, nil
	}
	c.Only = eventIDs
	w := New(c)
	// Answers the database did not take are recorded before returning if at all possible:
	// otherwise their rows are sent again by the service once their lease runs out.
	defer w.finalFlush(context.WithoutCancel(ctx))
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if _, err := w.Drain(dctx); err != nil && dctx.Err() == nil {
			return 0, err
		}
		// Count with the outer context: the delivery deadline may have passed.
		pending, err := w.cfg.Store.PendingOf(ctx, eventIDs)
		if err != nil || pending == 0 {
			return pending, err
		}
		next, err := w.nextDue(ctx)
		if err != nil {
			return pending, err
		}
		wait := max(next.Sub(w.cfg.Clock()), 50*time.Millisecond)
		select {
		case <-dctx.Done():
			return pending, nil
		case <-time.After(wait):
		}
	}
}
