package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/app"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// hook is a webhook receiver (the shared one): it answers 503 while down, else 204.
type hook struct {
	*notifytest.Receiver
	down atomic.Bool
}

func newHook(t *testing.T) *hook {
	t.Helper()
	h := &hook{}
	h.Receiver = notifytest.NewReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		if h.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return h
}

func (h *hook) setDown(down bool) { h.down.Store(down) }

// delivered lists the events accepted at path, in arrival order.
func (h *hook) delivered(t *testing.T, path string) []notify.Event { return h.Events(t, path) }

// waitDelivered waits until path has accepted n events and returns them.
func (h *hook) waitDelivered(t *testing.T, path string, n int) []notify.Event {
	t.Helper()
	var got []notify.Event
	waitUntil(t, fmt.Sprintf("%d deliveries to %s", n, path), func() bool {
		got = h.delivered(t, path)
		return len(got) >= n
	})
	return got
}

// waitUntil is the shared waiter.
var waitUntil = notifytest.Eventually

// msg is what a person reads in a webhook event; ids and times vary per run.
type msg struct {
	Type, Alert, Rule, Severity, PreviousRule, PreviousSeverity string
	Balance, TotalBalance, Threshold, Message                   string
	Error                                                       *notify.EventError
}

func msgs(events []notify.Event) []msg {
	var out []msg
	for _, e := range events {
		out = append(out, msg{e.Type, e.Alert, e.Rule, e.Severity, e.PreviousRule, e.PreviousSeverity,
			e.Balance, e.TotalBalance, e.Threshold, e.Message, e.Error})
	}
	return out
}

const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// alertSetup is one app, checkout, starting at a healthy 150.0000 USD, watched by the service
// with the given notifiers; appExtra is added to the app's YAML map.
type alertSetup struct {
	*harness
	rc       *hook
	upstream *httptest.Server
	cfg      *config.Config
}

func newAlertSetup(t *testing.T, notifiers, notify, appExtra string) *alertSetup {
	t.Helper()
	h := newHarness(t, fake.App{Name: "checkout", DevKey: "k-checkout", DevSecret: "s-checkout", Balance: "150", Gift: "0"})
	s := &alertSetup{harness: h, rc: newHook(t)}
	s.upstream = httptest.NewServer(h.fake)
	t.Cleanup(s.upstream.Close)
	if notifiers == "" {
		notifiers = fmt.Sprintf(`[{name: pager, type: webhook, url: "%s/pager", secret: %s}]`, s.rc.URL, hookSecret)
		notify = "[pager]"
	}
	s.cfg = h.config(s.upstream.URL, fmt.Sprintf(`
notifiers: %s
apps:
  - {name: checkout, dev_key: k-checkout, dev_secret: s-checkout, notify: %s%s}
`, notifiers, notify, appExtra))
	return s
}

func (s *alertSetup) polls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polled["checkout"]
}

// morePolls waits for n more scheduled polls of checkout.
func (s *alertSetup) morePolls(n int) { s.waitPolls("checkout", s.polls()+n) }

func (s *alertSetup) balance(paid string) { s.fake.SetBalance("k-checkout", paid, "0") }

func (s *alertSetup) store() *store.Store {
	s.t.Helper()
	st, err := store.Open(context.Background(), s.dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(st.Close)
	return st
}

// eventLog lists checkout's recorded events oldest first as "type rule/severity", with
// " silenced" appended to silenced ones.
func (s *alertSetup) eventLog(st *store.Store) []string {
	s.t.Helper()
	events, err := st.Events(context.Background(), "checkout", time.Time{}, 1000)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, e := range slices.Backward(events) {
		line := e.Type + " " + e.Rule + "/" + e.Severity
		if e.Silenced {
			line += " silenced"
		}
		out = append(out, line)
	}
	return out
}

// second opens the service a second time on the same database, as `monitor poll-once` or
// `monitor silence` in another process would.
func (s *alertSetup) second() *app.App {
	s.t.Helper()
	a, err := app.Open(context.Background(), s.cfg, app.OpenOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(a.Close)
	return a
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

var (
	firingWarning = msg{Type: "alert.firing", Alert: "money", Rule: "low_balance", Severity: "warning",
		Balance: "80.0000", TotalBalance: "80.0000", Threshold: "100.0000",
		Message: "checkout: total balance 80.0000 USD is below the warning threshold 100.0000 USD"}
	escalatedCritical = msg{Type: "alert.escalated", Alert: "money", Rule: "low_balance", Severity: "critical",
		PreviousRule: "low_balance", PreviousSeverity: "warning",
		Balance: "10.0000", TotalBalance: "10.0000", Threshold: "20.0000",
		Message: "checkout: total balance 10.0000 USD is below the critical threshold 20.0000 USD"}
	// resolvedAt150 is the resolve of a recharge from the threshold's level back to 150.
	resolvedAt150 = func(severity, threshold string) msg {
		recharged := map[string]string{"warning": "70.0000", "critical": "140.0000"}[severity]
		return msg{Type: "alert.resolved", Alert: "money", Rule: "low_balance", Severity: severity,
			Balance: "150.0000", TotalBalance: "150.0000", Threshold: threshold,
			Message: "checkout: low balance resolved: recharged +" + recharged + " USD, total now 150.0000 USD"}
	}
)

func TestLowBalanceLadderSendsOneMessagePerTransition(t *testing.T) {
	t.Parallel()
	s := newAlertSetup(t, "", "", "")
	s.start(s.cfg)
	s.waitPolls("checkout", 1)

	s.balance("80")
	s.rc.waitDelivered(t, "/pager", 1)
	s.morePolls(3) // at the same balance: nothing new
	diff(t, "messages after the drop", []msg{firingWarning}, msgs(s.rc.delivered(t, "/pager")))

	s.balance("10")
	s.rc.waitDelivered(t, "/pager", 2)
	s.balance("150")
	got := s.rc.waitDelivered(t, "/pager", 3)
	s.morePolls(2)
	diff(t, "messages", []msg{firingWarning, escalatedCritical, resolvedAt150("critical", "20.0000")},
		msgs(s.rc.delivered(t, "/pager")))
	for i, r := range s.rc.Requests() {
		if e := r.Event(t); r.WebhookID != e.ID {
			t.Errorf("request %d: webhook-id %q, body id %q", i, r.WebhookID, e.ID)
		}
	}
	if got[0].Since != got[2].Since {
		t.Errorf("since changed within one episode: firing %v, resolve %v", got[0].Since, got[2].Since)
	}
}

func TestRevokedKeyIsOneAuthFailedAlertAndNoDataAlerts(t *testing.T) {
	t.Parallel()
	// stale_after is two poll intervals: without the access alert, stale would fire within 3s.
	s := newAlertSetup(t, "", "", ", stale_after: 2s")
	st := s.store()
	s.start(s.cfg)
	s.waitPolls("checkout", 1)

	s.fake.Fail("k-checkout", fake.Failure{Status: 401, Code: 2002, Message: "token expired"})
	s.rc.waitDelivered(t, "/pager", 1)
	s.morePolls(5) // past 3 failed polls and past stale_after
	want := msg{Type: "alert.firing", Alert: "access", Rule: "auth_failed", Severity: "critical",
		Balance: "150.0000", TotalBalance: "150.0000",
		Message: "checkout: EngageLab rejected the API key (HTTP 401, code 2002: token expired)",
		Error:   &notify.EventError{HTTPStatus: 401, Code: 2002, Message: "token expired"}}
	diff(t, "messages", []msg{want}, msgs(s.rc.delivered(t, "/pager")))
	diff(t, "event log", []string{"alert.firing auth_failed/critical"}, s.eventLog(st))
	// At once: the alert fired on the first failed poll, not after a count.
	fails, err := st.PollFailures(context.Background(), "checkout")
	if err != nil {
		t.Fatal(err)
	}
	events, err := st.Events(context.Background(), "checkout", time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(fails) != 1 || len(events) != 1 || !events[0].At.Equal(fails[0].FirstAt) {
		t.Errorf("auth_failed fired at %v; failed polls %+v: want it at the first failed poll", events[0].At, fails)
	}
}

func TestUpstreamErrorsDoNotResolveLowBalance(t *testing.T) {
	t.Parallel()
	s := newAlertSetup(t, "", "", "")
	st := s.store()
	s.start(s.cfg)
	s.balance("80")
	s.rc.waitDelivered(t, "/pager", 1)

	s.fake.Fail("k-checkout", fake.Failure{Status: 500, Code: 1000, Message: "internal error"})
	s.morePolls(4)
	diff(t, "event log", []string{"alert.firing low_balance/warning", "alert.firing poll_failing/warning"}, s.eventLog(st))
	firing, err := st.FiringAlerts(context.Background(), "checkout")
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, f := range firing {
		rules = append(rules, f.Alert+" "+f.Rule+"/"+f.Severity)
	}
	diff(t, "firing alerts", []string{"money low_balance/warning", "data poll_failing/warning"}, rules)
}

func TestRestartNeitherRepeatsNorForgetsAFiringAlert(t *testing.T) {
	t.Parallel()
	s := newAlertSetup(t, "", "", "")
	st := s.store()
	stop := s.start(s.cfg)
	s.balance("80")
	s.rc.waitDelivered(t, "/pager", 1)
	stop()

	s.start(s.cfg)
	s.morePolls(3)
	diff(t, "messages after the restart", []msg{firingWarning}, msgs(s.rc.delivered(t, "/pager")))
	firing, err := st.FiringAlerts(context.Background(), "checkout")
	if err != nil {
		t.Fatal(err)
	}
	if len(firing) != 1 || firing[0].Rule != "low_balance" || firing[0].Severity != "warning" {
		t.Fatalf("firing alerts after the restart = %+v, want low_balance/warning", firing)
	}

	s.balance("150")
	s.rc.waitDelivered(t, "/pager", 2)
	diff(t, "messages", []msg{firingWarning, resolvedAt150("warning", "100.0000")}, msgs(s.rc.delivered(t, "/pager")))
}

func TestNotificationQueuedBeforeARestartIsDeliveredOnceAfterIt(t *testing.T) {
	t.Parallel()
	s := newAlertSetup(t, "", "", "")
	st := s.store()
	s.rc.setDown(true)
	stop := s.start(s.cfg)
	s.balance("80")
	waitUntil(t, "a refused attempt", func() bool { return len(s.rc.Requests()) > 0 })
	stop()
	s.rc.setDown(false)

	s.start(s.cfg)
	got := s.rc.waitDelivered(t, "/pager", 1)
	s.morePolls(2)
	diff(t, "messages", []msg{firingWarning}, msgs(s.rc.delivered(t, "/pager")))
	for i, r := range s.rc.Requests() {
		if r.WebhookID != got[0].ID {
			t.Errorf("attempt %d carried webhook-id %q, want %q on every attempt", i+1, r.WebhookID, got[0].ID)
		}
	}
	rows, err := st.Notifications(context.Background(), []string{got[0].ID}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Status != "delivered" {
		t.Errorf("outbox rows = %+v, want one delivered", rows)
	}
}

func TestSilencedAppRecordsEventsAndAnnouncesThemOnUnsilence(t *testing.T) {
	t.Parallel()
	s := newAlertSetup(t, "", "", "")
	st := s.store()
	p := s.second()
	ctx := context.Background()
	if err := p.Silence(ctx, "checkout", time.Now().Add(time.Hour), "maintenance"); err != nil {
		t.Fatal(err)
	}
	s.start(s.cfg)
	s.balance("80")
	waitUntil(t, "the silenced firing to be recorded", func() bool { return len(s.eventLog(st)) > 0 })
	s.morePolls(2)
	diff(t, "event log while silenced", []string{"alert.firing low_balance/warning silenced"}, s.eventLog(st))
	if n := len(s.rc.Requests()); n != 0 {
		t.Fatalf("receiver got %d requests while the app was silenced", n)
	}

	if err := p.Unsilence(ctx, "checkout"); err != nil {
		t.Fatal(err)
	}
	s.rc.waitDelivered(t, "/pager", 1)
	s.morePolls(2)
	// It fired while silenced: nobody has heard of it, so the end of the silence announces it
	// as a firing, not as a reminder of something never said.
	diff(t, "messages", []msg{firingWarning}, msgs(s.rc.delivered(t, "/pager")))
	diff(t, "event log", []string{"alert.firing low_balance/warning silenced", "alert.firing low_balance/warning"}, s.eventLog(st))
}

func TestPollOnceBesideTheServiceFiresOnce(t *testing.T) {
	t.Parallel()
	s := newAlertSetup(t, "", "", "")
	st := s.store()
	p := s.second()
	s.start(s.cfg)
	s.waitPolls("checkout", 1)

	s.balance("80")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if res := p.Poller.Poll(context.Background(), "checkout"); res.Err != nil {
				t.Errorf("poll: %v", res.Err)
			}
		})
	}
	wg.Wait()
	s.morePolls(2)
	s.rc.waitDelivered(t, "/pager", 1)
	diff(t, "event log", []string{"alert.firing low_balance/warning"}, s.eventLog(st))
	diff(t, "messages", []msg{firingWarning}, msgs(s.rc.delivered(t, "/pager")))
}

// Failed polls store no snapshot, so nothing but the lock on the app's state row orders them:
// four concurrent failed polls beside the service's own must still fire auth_failed once.
// (With the lock taken out of store.Apply, 7 of 8 runs recorded two to four firings.)
func TestConcurrentFailedPollsFireAuthFailedOnce(t *testing.T) {
	t.Parallel()
	s := newAlertSetup(t, "", "", "")
	st := s.store()
	p := s.second()
	s.start(s.cfg)
	s.waitPolls("checkout", 1)

	s.fake.Fail("k-checkout", fake.Failure{Status: 401, Code: 2001, Message: "invalid token"})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if res := p.Poller.Poll(context.Background(), "checkout"); res.Failure == nil || res.Failure.Kind != "auth_failed" {
				t.Errorf("poll = %+v, want an auth failure", res.Failure)
			}
		})
	}
	wg.Wait()
	s.morePolls(2)
	s.rc.waitDelivered(t, "/pager", 1)
	want := msg{Type: "alert.firing", Alert: "access", Rule: "auth_failed", Severity: "critical",
		Balance: "150.0000", TotalBalance: "150.0000",
		Message: "checkout: EngageLab rejected the API key (HTTP 401, code 2001: invalid token)",
		Error:   &notify.EventError{HTTPStatus: 401, Code: 2001, Message: "invalid token"}}
	diff(t, "event log", []string{"alert.firing auth_failed/critical"}, s.eventLog(st))
	diff(t, "messages", []msg{want}, msgs(s.rc.delivered(t, "/pager")))
}

func TestMinSeverityRoutesOnlyCriticalButAlwaysTheResolveOfWhatWasTold(t *testing.T) {
	t.Parallel()
	s := newAlertSetup(t, "", "", "")
	s.cfg = s.config(s.upstream.URL, fmt.Sprintf(`
notifiers:
  - {name: all, type: webhook, url: "%[1]s/all"}
  - {name: pager, type: webhook, url: "%[1]s/pager", min_severity: critical}
apps:
  - {name: checkout, dev_key: k-checkout, dev_secret: s-checkout, notify: [all, pager]}
`, s.rc.URL))
	s.start(s.cfg)
	s.waitPolls("checkout", 1)

	// Warning, critical, back to warning, resolved; then a warning-only episode.
	for i, paid := range []string{"80", "10", "50", "150", "80", "150"} {
		s.balance(paid)
		s.rc.waitDelivered(t, "/all", i+1)
	}
	s.morePolls(1)
	types := func(path string) []string {
		var out []string
		for _, e := range s.rc.delivered(t, path) {
			out = append(out, e.Type+" "+e.Severity)
		}
		return out
	}
	diff(t, "messages to all", []string{"alert.firing warning", "alert.escalated critical", "alert.deescalated warning",
		"alert.resolved warning", "alert.firing warning", "alert.resolved warning"}, types("/all"))
	diff(t, "messages to pager (min_severity critical)", []string{"alert.escalated critical", "alert.deescalated warning",
		"alert.resolved warning"}, types("/pager"))
}
