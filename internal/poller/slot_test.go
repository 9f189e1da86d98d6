package poller

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSlotAtIsTheScheduledTimeEvenWhenTheJobRunsLate(t *testing.T) {
	// checkout's offset is 54.873 s within a minute (see TestEveryOffsetIsFixedByTheAppName).
	tests := []struct {
		spec     string
		interval time.Duration
		now      string
		want     string
	}{
		{"@every 1m", time.Minute, "2026-11-26T10:05:55.250Z", "2026-11-26T10:05:54.873Z"},
		{"@every 1m", time.Minute, "2026-11-26T10:06:54.872Z", "2026-11-26T10:05:54.873Z"},
		{"@every 1m", time.Minute, "2026-11-26T10:06:54.873Z", "2026-11-26T10:06:54.873Z"},
		{"*/10 * * * *", 10 * time.Minute, "2026-11-26T10:20:03.5Z", "2026-11-26T10:20:00Z"},
		{"*/10 * * * *", 10 * time.Minute, "2026-11-26T10:29:59Z", "2026-11-26T10:20:00Z"},
		{"*/20 * * * * *", 20 * time.Second, "2026-11-26T10:00:41.7Z", "2026-11-26T10:00:40Z"},
		{"0 9 * * 1-5", 72 * time.Hour, "2026-11-30T09:00:02Z", "2026-11-30T09:00:00Z"},
	}
	for _, tt := range tests {
		sched, err := config.CronParser.Parse(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		got := slotAt(Aligned(sched, "checkout"), at(t, tt.now), tt.interval)
		if !got.Equal(at(t, tt.want)) {
			t.Errorf("%s at %s: slot %s, want %s", tt.spec, tt.now, got.Format(time.RFC3339Nano), tt.want)
		}
	}
}

// The offset is a pure function of the name: replicas, restarts and releases all compute the
// same slots. These values are pinned: changing the hash would make two releases running side
// by side (a rolling update) claim different slots and poll twice.
func TestEveryOffsetIsFixedByTheAppName(t *testing.T) {
	for _, tt := range []struct {
		app   string
		every time.Duration
		want  time.Duration
	}{
		{"checkout", time.Minute, 54873 * time.Millisecond},
		{"checkout", 10 * time.Second, 4873 * time.Millisecond},
		{"signup", time.Minute, 56137 * time.Millisecond},
		{"app0", time.Hour, 2*time.Minute + 27572*time.Millisecond},
		{"app0", time.Millisecond, 0},
	} {
		if got := offset(tt.app, tt.every); got != tt.want {
			t.Errorf("offset(%s, %s) = %s, want %s", tt.app, tt.every, got, tt.want)
		}
	}
}

// 10,000 apps on "@every 1m": each fires once a minute at its own offset, and every second of
// the minute has about as many polls as any other (flat load, no burst at :00).
func TestEverySchedulesAreSpreadOverTheInterval(t *testing.T) {
	sched, err := config.CronParser.Parse("@every 1m")
	if err != nil {
		t.Fatal(err)
	}
	const apps = 10000
	clock := at(t, "2026-11-26T10:00:00Z")
	perSecond := make([]int, 60)
	for i := range apps {
		s := Aligned(sched, fmt.Sprintf("app%05d", i))
		next := s.Next(clock)
		if d := next.Sub(clock); d <= 0 || d > time.Minute {
			t.Fatalf("app%05d: next poll %s after %s", i, next.Format(time.RFC3339Nano), clock.Format(time.RFC3339))
		}
		if after := s.Next(next); after.Sub(next) != time.Minute {
			t.Fatalf("app%05d: polls at %s then %s, want a minute apart", i, next.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano))
		}
		// A job that runs late, anywhere before the next activation, claims the slot it was
		// scheduled for: the one every replica computes.
		if got := slotAt(s, next.Add(59*time.Second), time.Minute); !got.Equal(next) {
			t.Fatalf("app%05d: running 59 s late claims %s, want %s", i, got.Format(time.RFC3339Nano), next.Format(time.RFC3339Nano))
		}
		perSecond[next.Sub(clock.Truncate(time.Minute))/time.Second%60]++
	}
	// 166.7 a second on average; a fair hash stays well within ±40 % of it in every second.
	for sec, n := range perSecond {
		if n < 100 || n > 233 {
			t.Errorf("second %d of the minute has %d of %d polls, want about %d", sec, n, apps, apps/60)
		}
	}
}

// Claims made in bulk by two replicas at once: each (app, slot) is granted to exactly one of
// them, a claim repeated within a batch once, and an app that is not registered never.
func TestClaimSlotsGrantsEachSlotOnceAcrossReplicas(t *testing.T) {
	st := pgtest.New(t)
	ctx := context.Background()
	var names []string
	for i := range 200 {
		names = append(names, fmt.Sprintf("app%d", i))
	}
	if _, err := st.EnsureApps(ctx, names); err != nil {
		t.Fatal(err)
	}
	slot := at(t, "2026-11-26T10:05:54.873Z")
	var claims []store.SlotClaim
	for _, n := range names {
		claims = append(claims, store.SlotClaim{App: n, Slot: slot}, store.SlotClaim{App: n, Slot: slot.Add(time.Minute)})
	}
	granted := make([][]bool, 4)
	var wg sync.WaitGroup
	for r := range granted {
		wg.Go(func() {
			// Each replica asks in its own order, in batches of 50, so the batches overlap.
			mine := append([]store.SlotClaim(nil), claims[r*len(claims)/4:]...)
			mine = append(mine, claims[:r*len(claims)/4]...)
			for i := 0; i < len(mine); i += 50 {
				got, err := st.ClaimSlots(ctx, mine[i:i+50])
				if err != nil {
					t.Error(err)
					return
				}
				granted[r] = append(granted[r], got...)
			}
		})
	}
	wg.Wait()
	total := 0
	for _, g := range granted {
		for _, ok := range g {
			if ok {
				total++
			}
		}
	}
	if total != len(claims) {
		t.Errorf("%d claims granted across 4 replicas, want each of the %d slots once", total, len(claims))
	}
	got, err := st.ClaimSlots(ctx, []store.SlotClaim{
		{App: "app0", Slot: slot.Add(2 * time.Minute)}, {App: "app0", Slot: slot.Add(2 * time.Minute)},
		{App: "nobody", Slot: slot}, {App: "app1", Slot: slot},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, false, false}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("claims of a new slot twice, an unknown app, a taken slot: %v, want %v", got, want)
	}
	var stored int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM poll_slots WHERE slot = $1`, slot).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != len(names) {
		t.Errorf("%d rows for the slot %s, want %d (the slot kept to the millisecond)", stored, slot.Format(time.RFC3339Nano), len(names))
	}
}
