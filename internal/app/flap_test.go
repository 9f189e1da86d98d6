package app_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/clocktest"

	"github.com/opsbalance/engagelab-monitor/internal/app"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/poller"
)

// startClocked runs the service on clock until the test ends and returns once its start-up
// poll has been evaluated.
func (s *alertSetup) startClocked(clock *clocktest.Clock) {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	polled := make(chan struct{}, 1)
	svc := app.New(app.Options{
		Config: s.cfg, Listen: "127.0.0.1:0", MaxJitter: time.Millisecond, TickEvery: 100 * time.Millisecond,
		BaseBackoff: 100 * time.Millisecond, PollOutbox: 100 * time.Millisecond, Clock: clock.Now,
		Logger: slog.New(slog.NewTextHandler(s.logWriter(), &slog.HandlerOptions{Level: s.level})),
		Polled: func(poller.Result) {
			select {
			case polled <- struct{}{}:
			default:
			}
		},
	})
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	s.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			s.t.Errorf("service stopped with %v", err)
		}
	})
	select {
	case <-polled:
	case err := <-done:
		s.t.Fatalf("service stopped before its start-up poll: %v", err)
	case <-time.After(30 * time.Second):
		s.t.Fatal("no start-up poll within 30s")
	}
}

// A key flapping 401/200, 19 flips in 38 s: the receiver gets the first four changes, one
// flapping message, and, once the key has been stable for flap.window (the clock is moved,
// the service's timer does the rest), one message with the state it settled in. Delivery is in
// order per notifier, so the sixth message arriving as the end-of-flap one proves that none
// of the damped changes was queued. The event log keeps every transition.
func TestFlappingKeySendsOneFlappingMessageAndItsStateWhenStable(t *testing.T) {
	t.Parallel()
	s := newAlertSetup(t, "", "", noPolls)
	st := s.store()
	clock := clocktest.New(time.Now().UTC().Truncate(time.Second))
	s.startClocked(clock)
	p, err := app.Open(context.Background(), s.cfg, app.OpenOptions{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)

	revoked := fake.Failure{Status: 401, Code: 2001, Message: "invalid token"}
	for i := range 19 {
		clock.Add(2 * time.Second)
		if i%2 == 0 {
			s.fake.Fail("k-checkout", revoked)
		} else {
			s.fake.Recover("k-checkout")
		}
		res := p.Poller.Poll(context.Background(), "checkout")
		if failed := res.Failure != nil; failed != (i%2 == 0) || (res.Err != nil && !failed) {
			t.Fatalf("flip %d: failure %+v, error %v", i+1, res.Failure, res.Err)
		}
	}
	s.rc.waitDelivered(t, "/pager", 5)
	clock.Add(30 * time.Minute) // the 19th flip left the key rejected; nothing changes after it
	got := s.rc.waitDelivered(t, "/pager", 6)

	e401 := &notify.EventError{HTTPStatus: 401, Code: 2001, Message: "invalid token"}
	rejected := "checkout: EngageLab rejected the API key (HTTP 401, code 2001: invalid token)"
	fired := msg{Type: "alert.firing", Alert: "access", Rule: "auth_failed", Severity: "critical",
		Balance: "150.0000", TotalBalance: "150.0000", Message: rejected, Error: e401}
	resolved := msg{Type: "alert.resolved", Alert: "access", Rule: "auth_failed", Severity: "critical",
		Balance: "150.0000", TotalBalance: "150.0000",
		Message: "checkout: EngageLab accepts the API key again; total balance is now 150.0000 USD"}
	flapping := fired
	flapping.Type = "alert.flapping"
	flapping.Message = "checkout: access alert is flapping (5 changes in 30m); messages paused until it is stable for 30m"
	stable := fired
	stable.Message = rejected + "; stable for 30m after flapping, messages resume"
	diff(t, "messages", []msg{fired, resolved, fired, resolved, flapping, stable}, msgs(got))

	log := s.eventLog(st)
	want := []string{"alert.firing auth_failed/critical", "alert.resolved auth_failed/critical",
		"alert.firing auth_failed/critical", "alert.resolved auth_failed/critical"}
	for i := 4; i < 19; i++ {
		want = append(want, map[bool]string{true: "alert.firing auth_failed/critical silenced",
			false: "alert.resolved auth_failed/critical silenced"}[i%2 == 0])
		if i == 4 {
			want = append(want, "alert.flapping auth_failed/critical")
		}
	}
	want = append(want, "alert.firing auth_failed/critical")
	diff(t, "event log", want, log)
	if n := s.fake.Requests("k-checkout"); n != 20 {
		t.Errorf("the fake saw %d requests, want 20 (the start-up poll and 19 flips): the end came from the timer", n)
	}
}
