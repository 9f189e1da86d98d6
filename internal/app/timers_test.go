package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
)

// These tests cover what only the scheduler's timer tick (TickEvery, 200ms in the harness) can
// do. The app is on a schedule that does not fire while the test runs, so the start-up poll is
// the only poll and the fake sees exactly one request: any later event came from a tick. Without
// the tick (or with TickAll not evaluating), none of these events is ever recorded and each test
// times out waiting for it.

// noPolls keeps the app to its start-up poll: midnight UTC on February 29th, whose longest gap
// is four years, so stale_after must exceed two of those. (A yearly "0 0 1 1 *" would read
// better, but config measures gaps over one year only and rejects it as never running.)
const noPolls = `, schedule: "0 0 29 2 *", stale_after: 3000d`

func TestRemindersArriveBetweenPolls(t *testing.T) {
	t.Parallel()
	s := newAlertSetup(t, "", "", noPolls+", repeat_every: 1s")
	s.balance("80")
	s.start(s.cfg)

	got := s.rc.waitDelivered(t, "/pager", 3)
	reminder := firingWarning
	reminder.Type = "alert.reminder"
	diff(t, "first three messages", []msg{firingWarning, reminder, reminder}, msgs(got[:3]))
	if n := s.fake.Requests("k-checkout"); n != 1 {
		t.Errorf("the fake saw %d requests, want 1 (the start-up poll): the reminders must come from the timer", n)
	}
	// repeat_every counts from the last message: reminders are about 1s apart, not one per tick.
	if gap := got[2].ObservedAt.Sub(got[1].ObservedAt); gap < time.Second {
		t.Errorf("reminders %v apart, want at least repeat_every (1s)", gap)
	}
}

func TestSilenceEndsOnTheTimerWithOneReminder(t *testing.T) {
	t.Parallel()
	s := newAlertSetup(t, "", "", noPolls+", repeat_every: 0s")
	st := s.store()
	p := s.second()
	s.balance("80")
	s.start(s.cfg)
	s.rc.waitDelivered(t, "/pager", 1)

	until := time.Now().Add(1500 * time.Millisecond).Truncate(time.Microsecond) // as stored
	if err := p.Silence(context.Background(), "checkout", until, "maintenance"); err != nil {
		t.Fatal(err)
	}
	got := s.rc.waitDelivered(t, "/pager", 2)
	arrived := time.Now()
	if got[1].ObservedAt.Before(until) {
		t.Errorf("reminder observed at %v, before the silence ended at %v", got[1].ObservedAt, until)
	}
	// An observation window, not synchronisation: five more ticks must add nothing, since
	// repeat_every is 0 and the silence ends only once.
	time.Sleep(time.Second)
	reminder := firingWarning
	reminder.Type = "alert.reminder"
	diff(t, "messages", []msg{firingWarning, reminder}, msgs(s.rc.delivered(t, "/pager")))
	diff(t, "event log", []string{"alert.firing low_balance/warning", "alert.reminder low_balance/warning"}, s.eventLog(st))
	if n := s.fake.Requests("k-checkout"); n != 1 {
		t.Errorf("the fake saw %d requests, want 1 (the start-up poll): the reminder must come from the timer", n)
	}
	if d := arrived.Sub(until); d > 5*time.Second {
		t.Errorf("reminder arrived %v after the silence ended", d)
	}
}

func TestStaleFiresFromTheTimerWhilePollsHang(t *testing.T) {
	t.Parallel()
	s := newAlertSetup(t, "", "", `, schedule: "@every 1s", stale_after: 2s`)
	// Longer than stale_after: a poll that hangs cannot record its failure before stale is due.
	s.cfg.EngageLab.Timeout = 8 * time.Second
	st := s.store()
	s.start(s.cfg)
	s.waitPolls("checkout", 1)
	s.fake.Fail("k-checkout", fake.Failure{Delay: fake.Duration(20 * time.Second)})
	t.Cleanup(func() {
		// Let the hanging polls end now rather than at their timeout, so the service stops quickly.
		s.fake.Recover("k-checkout")
		s.upstream.CloseClientConnections()
	})

	got := s.rc.waitDelivered(t, "/pager", 1)
	fails, err := st.PollFailures(context.Background(), "checkout")
	if err != nil {
		t.Fatal(err)
	}
	if len(fails) != 0 {
		t.Errorf("%d poll failures recorded when stale fired, want none (the polls are still hanging): %+v", len(fails), fails)
	}
	type fired struct{ Type, Alert, Rule, Severity string }
	diff(t, "message", fired{"alert.firing", "data", "stale", "warning"},
		fired{got[0].Type, got[0].Alert, got[0].Rule, got[0].Severity})
}
