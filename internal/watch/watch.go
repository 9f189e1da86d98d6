// Package watch watches the watcher: it pings the configured heartbeat URL only after a healthy
// cycle (every app polled on time, or failing with an alert that reached someone, and no
// notification waiting too long), so a dead-man's switch such as healthchecks.io pages when the
// monitor stops working; and it queues the daily digest of every app through the outbox.
//
// It reads the database, not this process's memory, so any replica may ping and replicas
// agree on what is healthy; it neither polls nor sends notifications itself.
package watch

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Config configures a Watcher.
type Config struct {
	Store  *store.Store
	Config *config.Config // its Heartbeat and Digest; nil sections are off
	// Client calls the heartbeat URL; default one that times out after 10 s and follows no
	// redirect.
	Client *http.Client
	// Tick is how often Run looks whether a heartbeat or the digest is due; default 15s.
	Tick    time.Duration
	Clock   func() time.Time
	Started time.Time // when the process started; default the clock at New
	Logger  *slog.Logger
}

// Watcher runs the heartbeat and the digest.
type Watcher struct {
	cfg      Config
	live     atomic.Pointer[config.Config] // cfg.Config, replaced whole by a reload
	mu       sync.Mutex                    // guards nextBeat against SetConfig
	nextBeat time.Time
	digested string // the date of the last digest seen queued, so a day is checked once
}

// New validates c and fills defaults.
func New(c Config) (*Watcher, error) {
	if c.Store == nil || c.Config == nil {
		return nil, errors.New("watch: store and config are required")
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Client == nil {
		c.Client = notify.NewHTTPClient(10 * time.Second)
	}
	c.Tick = cmp.Or(c.Tick, 15*time.Second)
	if c.Started.IsZero() {
		c.Started = c.Clock()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{cfg: c}
	w.live.Store(c.Config)
	if hb := c.Config.Heartbeat; hb != nil {
		// The first check waits a whole period: the start-up polls need their moment.
		w.nextBeat = c.Started.Add(hb.Every)
	}
	return w, nil
}

// config is the configuration in effect: the start's, or the last reload's.
func (w *Watcher) config() *config.Config { return w.live.Load() }

// SetConfig applies a reloaded config from the next cycle on; safe while Run runs. A heartbeat
// that was off, or whose period changed, is next checked a whole period from now.
func (w *Watcher) SetConfig(c *config.Config) {
	old := w.live.Swap(c)
	if hb := c.Heartbeat; hb != nil && (old.Heartbeat == nil || old.Heartbeat.Every != hb.Every) {
		w.mu.Lock()
		w.nextBeat = w.cfg.Clock().Add(hb.Every)
		w.mu.Unlock()
	}
}

// Enabled reports whether there is anything to run: a heartbeat or a digest.
func (w *Watcher) Enabled() bool {
	c := w.config()
	return c.Heartbeat != nil || c.Digest != nil
}

// Run checks every Tick until ctx ends; with neither a heartbeat nor a digest configured it
// only waits, since a reload may add one.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.Tick)
	defer t.Stop()
	for {
		w.Cycle(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Cycle runs what is due at the clock's now: the heartbeat check, and the day's digest.
// Failures are logged; the next cycle tries again.
func (w *Watcher) Cycle(ctx context.Context) {
	now := w.cfg.Clock()
	w.mu.Lock()
	hb := w.config().Heartbeat
	beat := hb != nil && !now.Before(w.nextBeat)
	if beat {
		w.nextBeat = now.Add(hb.Every)
	}
	w.mu.Unlock()
	if beat {
		w.Heartbeat(ctx)
	}
	if w.config().Digest != nil {
		if _, err := w.Digest(ctx); err != nil && ctx.Err() == nil {
			w.cfg.Logger.Error("daily digest not queued; will try again", "error", err)
		}
	}
}
