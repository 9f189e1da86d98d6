package poller_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/poller"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// countingClaims counts the statements the scheduler's claims take.
type countingClaims struct {
	st         *store.Store
	statements atomic.Int32
	mu         sync.Mutex
	slots      map[string]time.Time
}

func (c *countingClaims) ClaimSlots(ctx context.Context, claims []store.SlotClaim) ([]bool, error) {
	c.statements.Add(1)
	c.mu.Lock()
	for _, cl := range claims {
		c.slots[cl.App] = cl.Slot
	}
	c.mu.Unlock()
	return c.st.ClaimSlots(ctx, claims)
}

// At start-up every app comes due at once: their slots are claimed in bulk, not one INSERT per
// poll, and the slot is the scheduler's clock's minute, so replicas starting together agree.
func TestStartUpClaimsSlotsInBulk(t *testing.T) {
	const apps = 60
	f := fake.New(fake.Scenario{Apps: fakeApps(apps)}, nil)
	upstream := httptest.NewServer(f)
	defer upstream.Close()
	st, p, cfgApps, ev := setupEvery(t, "8760h", apps, engagelab.New(upstream.URL)) // a year: no scheduled poll comes due during the test
	claims := &countingClaims{st: st, slots: map[string]time.Time{}}
	clock := time.Date(2026, 11, 26, 10, 5, 41, 250_000_000, time.UTC)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var polled atomic.Int32
	s := poller.NewScheduler(poller.SchedulerConfig{Poller: p, Timers: ev, Slots: claims, Apps: cfgApps, MaxConcurrency: 2,
		Clock: func() time.Time { return clock },
		Polled: func(poller.Result) {
			if polled.Add(1) == apps {
				cancel()
			}
		}})
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := polled.Load(); n != apps {
		t.Fatalf("%d of %d apps polled at start-up", n, apps)
	}
	if n := claims.statements.Load(); n > apps/2 {
		t.Errorf("%d claim statements for %d start-up polls, want them in bulk", n, apps)
	}
	want := time.Date(2026, 11, 26, 10, 5, 0, 0, time.UTC)
	for app, slot := range claims.slots {
		if !slot.Equal(want) {
			t.Errorf("%s claimed %s, want the clock's minute %s", app, slot.Format(time.RFC3339Nano), want.Format(time.RFC3339))
		}
	}
	if len(claims.slots) != apps {
		t.Errorf("%d apps claimed a slot, want %d", len(claims.slots), apps)
	}
	// A second replica starting at the same instant finds every slot taken: it polls nothing.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	var again atomic.Int32
	s2 := poller.NewScheduler(poller.SchedulerConfig{Poller: p, Timers: ev, Slots: st, Apps: cfgApps, MaxConcurrency: 2,
		Clock: func() time.Time { return clock }, Polled: func(poller.Result) { again.Add(1) }})
	if err := s2.Run(ctx2); err != nil {
		t.Fatal(err)
	}
	if n := again.Load(); n != 0 {
		t.Errorf("a second replica polled %d apps whose start-up slot was claimed", n)
	}
}
