// Package poller turns a configured app into observations: on each app's schedule
// (Scheduler) or on demand (poll-once) it fetches the balance from EngageLab, classifies what
// came back, and hands the snapshot or failure to the evaluator, which stores and judges it.
// It neither writes SQL nor decides alerts nor delivers notifications.
package poller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Balancer fetches one app's balance from its product's API; *engagelab.Client is one.
type Balancer interface {
	Balance(ctx context.Context, product balance.Product, devKey, devSecret string) (balance.Snapshot, error)
}

// Evaluator stores and judges one poll's result; *evaluate.Evaluator is one.
type Evaluator interface {
	Observe(ctx context.Context, app string, snap *balance.Snapshot, fail *balance.Failure) ([]store.EventRecord, error)
}

// Observer is told about every poll, for metrics.
type Observer interface {
	ObservePoll(app, result string, took time.Duration)
}

// Config configures a Poller.
type Config struct {
	Client    Balancer
	Evaluator Evaluator
	Apps      []config.App
	Timeout   time.Duration    // per poll, retries included; default 10s
	Clock     func() time.Time // default time.Now; the evaluator's, so times agree to the microsecond
	Logger    *slog.Logger
	Observer  Observer // optional
	// MaxConcurrency is how many requests to EngageLab are in flight at once (default 16). A
	// poll waiting for its result to be stored holds none: see InFlight.
	MaxConcurrency int
}

// InFlight is how many polls a caller should run at once for maxConcurrency requests to
// EngageLab: four times as many, so that while the polls of one group commit wait for the
// database the next requests go out, and the polls finishing meanwhile make the next group
// larger (fewer statements per poll; measured at 10,000 apps: half the database's CPU).
func InFlight(maxConcurrency int) int { return 4 * max(maxConcurrency, 1) }

// Poller polls apps. It is safe for concurrent use.
type Poller struct {
	cfg      Config
	apps     map[string]*config.App // into cfg.Apps: a copy per app would be 10,000 copies
	upstream chan struct{}          // a place per request to EngageLab in flight

	// failing is each failing app's failure as last logged ("auth_failed/401/2001"), so a
	// revoked key logs one WARN line when it starts failing (or fails differently) and one INFO
	// line when it works again, not a line per poll for days.
	mu      sync.Mutex
	failing map[string]string
}

// New checks the configuration and returns a Poller.
func New(c Config) (*Poller, error) {
	if c.Client == nil || c.Evaluator == nil {
		return nil, errors.New("poller: client and evaluator are required")
	}
	c.Timeout = cmp.Or(c.Timeout, 10*time.Second)
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.MaxConcurrency = cmp.Or(max(c.MaxConcurrency, 0), 16)
	p := &Poller{cfg: c, apps: make(map[string]*config.App, len(c.Apps)), failing: map[string]string{},
		upstream: make(chan struct{}, c.MaxConcurrency)}
	for i := range c.Apps {
		p.apps[c.Apps[i].Name] = &c.Apps[i]
	}
	return p, nil
}

// Result is what one poll did.
type Result struct {
	App      string
	Snapshot *balance.Snapshot
	Failure  *balance.Failure
	Err      error // the poll's error (also described by Failure), or a storage error
	Events   []store.EventRecord
	Took     time.Duration
}

// Poll fetches app's balance now and hands the result to the evaluator.
func (p *Poller) Poll(ctx context.Context, name string) Result {
	app, ok := p.apps[name]
	if !ok {
		return Result{App: name, Err: fmt.Errorf("poll %s: no such app in the configuration", name)}
	}
	select {
	case p.upstream <- struct{}{}:
	case <-ctx.Done():
		return Result{App: name, Err: fmt.Errorf("poll %s: %w", name, ctx.Err())}
	}
	start := p.cfg.Clock()
	bal, err := func() (balance.Snapshot, error) {
		defer func() { <-p.upstream }() // a panic in the client must not keep the place
		pctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
		return p.cfg.Client.Balance(pctx, app.Product, app.DevKey, app.DevSecret.Reveal())
	}()
	at := p.cfg.Clock()
	res := Result{App: name, Took: at.Sub(start)}
	log := p.cfg.Logger.With("app", name)

	if err != nil {
		var ee *engagelab.Error
		f := &balance.Failure{At: at, Kind: balance.Unclassified, Message: err.Error()}
		if errors.As(err, &ee) {
			f.Kind, f.HTTPStatus, f.Code, f.Message = ee.Kind, ee.HTTPStatus, ee.Code, ee.Message
		}
		if ctx.Err() != nil && (ee == nil || ee.Kind == balance.Timeout) {
			// Shutting down, not an upstream problem: record nothing.
			res.Err = fmt.Errorf("poll %s: %w", name, ctx.Err())
			return res
		}
		res.Failure, res.Err = f, fmt.Errorf("poll %s: %w", name, err)
		if p.logged(name, fmt.Sprintf("%s/%d/%d", f.Kind, f.HTTPStatus, f.Code)) {
			log.Warn("poll failed", "kind", f.Kind, "http_status", f.HTTPStatus, "code", f.Code, "error", err)
		} else {
			log.Debug("poll failed again", "kind", f.Kind, "http_status", f.HTTPStatus, "code", f.Code, "error", err)
		}
	} else {
		if p.logged(name, "") {
			log.Info("poll works again")
		}
		bal.PolledAt = at
		res.Snapshot = &bal
		log.Debug("polled", "total_balance", bal.TotalBalance.StringFixed(4), "took", res.Took)
		if !bal.Consistent() {
			// Stored as returned: the upstream computed it at one instant, and we do not "fix" money.
			log.Warn("total_balance differs from balance + gift_balance; stored as returned",
				"currency", bal.Currency, "balance", bal.Balance.StringFixed(4),
				"gift_balance", bal.GiftBalance.StringFixed(4), "total_balance", bal.TotalBalance.StringFixed(4))
		}
	}

	// Storing must not be cut short by a shutdown that arrives mid-poll: finish it.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer scancel()
	events, serr := p.cfg.Evaluator.Observe(sctx, name, res.Snapshot, res.Failure)
	res.Events = events
	if serr != nil {
		res.Err = errors.Join(res.Err, fmt.Errorf("poll %s: %w", name, serr))
		log.Error("storing poll result failed", "error", serr)
	}
	if p.cfg.Observer != nil {
		result := "success"
		switch {
		case res.Failure != nil:
			result = string(res.Failure.Kind)
		case serr != nil:
			result = "not_stored" // the upstream answered but the database did not take it
		}
		p.cfg.Observer.ObservePoll(name, result, res.Took)
	}
	return res
}

// Names lists the configured apps in config order.
func (p *Poller) Names() []string {
	out := make([]string, 0, len(p.cfg.Apps))
	for _, a := range p.cfg.Apps {
		out = append(out, a.Name)
	}
	return out
}

// logged records app's failure signature ("" for a success) and reports whether it differs
// from the last one: whether this poll is news for the log.
func (p *Poller) logged(app, failure string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing[app] == failure {
		return false
	}
	if failure == "" {
		delete(p.failing, app)
	} else {
		p.failing[app] = failure
	}
	return true
}
