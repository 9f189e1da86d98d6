package poller

import (
	"context"
	"log/slog"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/store"
)

const (
	// claimWindow is how long the first claim of a batch waits for others: 10,000 apps on
	// "@every 1m" come due 167 a second, so a batch holds about 8 of them; at start-up every
	// app comes due at once and a batch is full at once. A poll starts at most this late.
	claimWindow = 50 * time.Millisecond
	// claimBatch bounds a statement's arrays.
	claimBatch = 1000
)

type claimRequest struct {
	claim  store.SlotClaim
	answer chan bool
}

// claimBatcher gathers the slot claims of polls that come due together and makes them in one
// statement (SlotClaimer.ClaimSlots), instead of one INSERT per poll.
type claimBatcher struct {
	slots SlotClaimer
	log   *slog.Logger
	reqs  chan claimRequest
}

func newClaimBatcher(slots SlotClaimer, log *slog.Logger) *claimBatcher {
	return &claimBatcher{slots: slots, log: log, reqs: make(chan claimRequest)}
}

// claim says whether this process polls app at slot: true when it claimed the slot, or when
// it could not tell (the database failed: polling twice beats not polling), false when
// another replica has it. Without a claimer, or without a slot, every slot is this process's.
func (b *claimBatcher) claim(ctx context.Context, app string, slot time.Time) bool {
	if b == nil || b.slots == nil || slot.IsZero() {
		return true
	}
	r := claimRequest{claim: store.SlotClaim{App: app, Slot: slot}, answer: make(chan bool, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return false
	}
	ok := <-r.answer
	if !ok {
		b.log.Debug("slot already polled by another replica", "app", app, "slot", slot)
	}
	return ok
}

// run makes the claims asked of it until ctx ends; every request taken is answered.
func (b *claimBatcher) run(ctx context.Context) {
	for {
		var batch []claimRequest
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-ctx.Done():
			return
		}
		window := time.NewTimer(claimWindow)
	gather:
		for len(batch) < claimBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			case <-window.C:
				break gather
			}
		}
		window.Stop()
		claims := make([]store.SlotClaim, len(batch))
		for i, r := range batch {
			claims[i] = r.claim
		}
		// The claims outlive a shutdown that arrives meanwhile: their polls are under way.
		got, err := b.slots.ClaimSlots(context.WithoutCancel(ctx), claims)
		if err != nil {
			b.log.Error("claim poll slots failed; polling anyway", "apps", len(claims), "error", err)
		}
		for i, r := range batch {
			r.answer <- err != nil || got[i]
		}
	}
}
