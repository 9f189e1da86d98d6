// Package retention removes data older than the configured retention on a schedule, so the
// database stops growing without long locks: whole weekly partitions of snapshots, other rows
// in small batches. It also makes the snapshot partitions of the weeks ahead. What is kept is
// the store's business (see store.Prune); this package only decides when and how far back.
package retention

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Config configures a Pruner.
type Config struct {
	Store     *store.Store
	Snapshots time.Duration // snapshots, failed polls and finished notifications; required
	Events    time.Duration // the event log; required
	Every     time.Duration // default 1h
	BatchSize int           // rows per DELETE; default 5000
	Clock     func() time.Time
	Logger    *slog.Logger
}

// Pruner runs store.Prune periodically.
type Pruner struct{ cfg Config }

// New validates c and fills defaults.
func New(c Config) (*Pruner, error) {
	if c.Store == nil || c.Snapshots <= 0 || c.Events <= 0 {
		return nil, errors.New("retention: store and positive retention periods are required")
	}
	if c.Every <= 0 {
		c.Every = time.Hour
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 5000
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return &Pruner{cfg: c}, nil
}

// PruneOnce makes the snapshot partitions of the coming weeks (so that no poll waits for
// one), removes everything past retention as of the clock's now, and packs the snapshot
// index of weeks that are over (store.PackSnapshotPartitions).
func (p *Pruner) PruneOnce(ctx context.Context) (store.PruneCounts, error) {
	now := p.cfg.Clock()
	// A failure here is not a reason to keep old data: the weeks ahead are made hours before
	// they are needed, and a row without a partition still lands in the DEFAULT one.
	ensureErr := p.cfg.Store.EnsureSnapshotPartitions(ctx, now)
	// Slots only matter while replicas might still poll them: a day is plenty.
	slots := now.Add(-min(p.cfg.Snapshots, 24*time.Hour))
	c, err := p.cfg.Store.Prune(ctx, now.Add(-p.cfg.Snapshots), now.Add(-p.cfg.Events), slots, p.cfg.BatchSize)
	if c != (store.PruneCounts{}) {
		p.cfg.Logger.Info("deleted old rows", "snapshot_partitions", c.SnapshotPartitions, "snapshots", c.Snapshots,
			"rollups", c.Rollups, "failed_polls", c.Failures, "poll_slots", c.Slots, "notifications", c.Notifications,
			"events", c.Events)
	}
	// After the drops, so that no week is rebuilt only to be dropped.
	packed, packErr := p.cfg.Store.PackSnapshotPartitions(ctx, now)
	if packed > 0 {
		p.cfg.Logger.Info("packed the snapshot index of past weeks", "partitions", packed)
	}
	return c, errors.Join(ensureErr, err, packErr)
}

// Run prunes now and then every Every until ctx ends.
func (p *Pruner) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Every)
	defer t.Stop()
	for {
		if _, err := p.PruneOnce(ctx); err != nil && ctx.Err() == nil {
			p.cfg.Logger.Error("retention failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
