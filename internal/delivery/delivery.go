// Package delivery sends the outbox: it claims due rows from the store, hands each to its
// notifier, and records the outcome with exponential backoff and jitter, honouring
// Retry-After. Permanent refusals and rows older than max_age become dead at once without
// holding up the rows behind them. Notifiers themselves make one attempt and never retry.
package delivery

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

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
	Notifiers map[string]notify.Notifier
	MaxAge    time.Duration // default 24h
	// BaseBackoff is the first retry delay; it doubles per attempt up to MaxBackoff.
	BaseBackoff time.Duration // default 5s
	MaxBackoff  time.Duration // default 1h
	PollEvery   time.Duration // how often an idle worker looks for due rows; default 2s
	SendTimeout time.Duration // per attempt; default 30s
	// Concurrency is how many rows are sent at once, so one slow receiver does not hold up
	// the others; default 4. Rows of one (app, notifier) still go one at a time, in order.
	Concurrency int
	// Only, when set, limits the worker to the rows of these events (poll-once).
	Only     []string
	Clock    func() time.Time
	Logger   *slog.Logger
	Observer Observer
}

// Worker delivers outbox rows. Several workers (in one or several processes) may run on one
// database: the store's row locks keep them from sending a row twice.
type Worker struct {
	cfg  Config
	wake chan struct{}
	// notifiers is cfg.Notifiers, replaced whole by SetNotifiers (a config reload).
	notifiers atomic.Pointer[map[string]notify.Notifier]
}

// New fills defaults.
func New(c Config) *Worker {
	c.MaxAge = cmp.Or(c.MaxAge, 24*time.Hour)
	c.BaseBackoff = cmp.Or(c.BaseBackoff, 5*time.Second)
	c.MaxBackoff = cmp.Or(c.MaxBackoff, time.Hour)
	c.PollEvery = cmp.Or(c.PollEvery, 2*time.Second)
	c.SendTimeout = cmp.Or(c.SendTimeout, 30*time.Second)
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Worker{cfg: c, wake: make(chan struct{}, 1)}
	w.notifiers.Store(&c.Notifiers)
	return w
}

// SetNotifiers replaces the notifiers by name (a config reload). A send in progress finishes
// with the notifier it started with; the next row gets the new one.
func (w *Worker) SetNotifiers(n map[string]notify.Notifier) { w.notifiers.Store(&n) }

// Wake makes a waiting Run look for due rows now.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. An attempt in progress when ctx ends is finished first; if the
// process dies mid-attempt instead, the row's transaction rolls back and it is sent again later
// (at least once, never lost; receivers drop duplicates by webhook-id).
func (w *Worker) Run(ctx context.Context) error {
	failing := 0 // store errors in a row: back off and log less while the database is away
	for {
		wait := w.cfg.PollEvery
		if _, err := w.Drain(ctx); err != nil && ctx.Err() == nil {
			failing++
			if failing == 1 || failing%10 == 0 {
				w.cfg.Logger.Error("delivery failed; the outbox keeps every row until it can be sent", "error", err, "failures_in_a_row", failing)
			}
			wait = min(w.cfg.PollEvery<<min(failing, 5), 30*time.Second)
		} else {
			if failing > 0 {
				w.cfg.Logger.Info("delivery works again", "after_failures", failing)
			}
			failing = 0
			if next, err := w.cfg.Store.NextDue(ctx); err == nil && !next.IsZero() {
				wait = min(wait, max(next.Sub(w.cfg.Clock()), 10*time.Millisecond))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-w.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// Drain sends every row due now, Concurrency at a time, and returns how many rows it handled.
func (w *Worker) Drain(ctx context.Context) (int, error) {
	var (
		n    atomic.Int64
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	// A send that has started is finished (it is bounded by SendTimeout) even when ctx ends,
	// so that a shutdown does not cut a request in half and send it again later.
	sendCtx := context.WithoutCancel(ctx)
	for range w.cfg.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				found, err := w.cfg.Store.DeliverOne(sendCtx, w.cfg.Clock(), w.cfg.Only, w.send)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				if !found {
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return int(n.Load()), errs[0] // the same database error, as many times as there are senders
	}
	return int(n.Load()), ctx.Err()
}

func (w *Worker) send(ctx context.Context, d store.Delivery) store.Outcome {
	now := w.cfg.Clock()
	log := w.cfg.Logger.With("app", d.App, "notifier", d.Notifier, "event", d.EventID, "type", d.Type, "attempt", d.Attempts+1)
	out := w.attempt(ctx, d, now)
	switch out.Status {
	case store.Delivered:
		log.Info("notification delivered")
	case store.Retry:
		log.Warn("notification not delivered; will retry", "next_attempt", out.NextAttempt, "error", out.Error)
	case store.Dead:
		log.Error("notification is dead: it will not be sent", "error", out.Error)
	case store.Dropped:
		log.Info("reminder dropped: a newer event of the same alert follows it")
	}
	if w.cfg.Observer != nil {
		w.cfg.Observer.ObserveDelivery(d.Notifier, string(out.Status))
	}
	return out
}

func (w *Worker) attempt(ctx context.Context, d store.Delivery, now time.Time) store.Outcome {
	if now.Sub(d.CreatedAt) > w.cfg.MaxAge {
		return store.Outcome{Status: store.Dead, Unsent: true, Error: fmt.Sprintf("not delivered within delivery.max_age (%s)", w.cfg.MaxAge)}
	}
	n, ok := (*w.notifiers.Load())[d.Notifier]
	if !ok {
		// Another process (a replica mid-rollout, poll-once with a trimmed config) may know it:
		// try again later, and let max_age retire a notifier that is really gone.
		return store.Outcome{Status: store.Retry, Unsent: true, NextAttempt: now.Add(time.Minute),
			Error: fmt.Sprintf("notifier %q is not configured in this process", d.Notifier)}
	}
	if d.Type == notify.TypeReminder && d.Superseded {
		return store.Outcome{Status: store.Dropped}
	}
	var e notify.Event
	if err := json.Unmarshal(d.Payload, &e); err != nil {
		return store.Outcome{Status: store.Dead, Unsent: true, Error: "stored event is not valid JSON: " + err.Error()}
	}
	sctx, cancel := context.WithTimeout(ctx, w.cfg.SendTimeout)
	err := w.notify(sctx, n, d, e)
	cancel()
	if err == nil {
		return store.Outcome{Status: store.Delivered}
	}
	if notify.IsPermanent(err) {
		return store.Outcome{Status: store.Dead, Error: err.Error()}
	}
	delay := w.backoff(d.Attempts)
	if ra, ok := notify.RetryAfter(err); ok && ra > 0 {
		delay = ra
	}
	// Counted from the answer, not from the start of the attempt: Retry-After is relative to
	// when the receiver said it, and a slow answer must not shorten the wait it asked for.
	next := w.cfg.Clock().Add(delay)
	if next.Sub(d.CreatedAt) > w.cfg.MaxAge {
		// No point waiting past the deadline: the next claim will mark it dead.
		next = d.CreatedAt.Add(w.cfg.MaxAge).Add(time.Second)
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
		next, err := w.cfg.Store.NextDue(ctx)
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
