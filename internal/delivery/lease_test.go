package delivery_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/delivery"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
	webhooknotify "github.com/opsbalance/engagelab-monitor/internal/notify/webhook"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// hang answers 200 once release is closed; hanging tells when the first request arrived.
type hang struct {
	release chan struct{}
	hanging chan struct{}
	once    sync.Once
}

func newHang(t *testing.T) (*hang, *receiver) {
	h := &hang{release: make(chan struct{}), hanging: make(chan struct{})}
	rc := newReceiver(t, func(int, request) (int, http.Header, string) {
		h.once.Do(func() { close(h.hanging) })
		<-h.release
		return http.StatusOK, nil, "ok"
	})
	return h, rc
}

// endAtCleanup answers the hung request when the test ends. Call it after starting the
// worker: cleanups run last in, first out, and the worker's waits for the hung send.
func (h *hang) endAtCleanup(t *testing.T) { t.Cleanup(func() { close(h.release) }) }

func (h *hang) waitHanging(t *testing.T) {
	t.Helper()
	select {
	case <-h.hanging:
	case <-time.After(15 * time.Second):
		t.Fatal("the hanging receiver got no request")
	}
}

// stillHanging fails the test when the hung request was answered already.
func (h *hang) stillHanging(t *testing.T, what string) {
	t.Helper()
	select {
	case <-h.release:
		t.Errorf("%s only after the hung request ended", what)
	default:
	}
}

// A message to another notifier goes out within a second while one receiver hangs, woken by
// the evaluation that queued it (the worker's own poll is a minute away).
func TestAHungReceiverDoesNotDelayAnotherNotifier(t *testing.T) {
	t.Parallel()
	h, slow := newHang(t)
	fast := newReceiver(t, ok)
	o := newOutbox(t, "checkout")
	w := run(t, o.st, map[string]notify.Notifier{"slow": webhook(t, "slow", slow), "fast": webhook(t, "fast", fast)},
		func(c *delivery.Config) { c.PollEvery = time.Minute })
	h.endAtCleanup(t)
	o.queue("checkout", alert.Firing, time.Now(), "slow")
	w.Wake()
	h.waitHanging(t)

	queued := time.Now()
	id := o.queue("checkout", alert.Firing, time.Now(), "fast")
	w.Wake()
	var got []request
	notifytest.Eventually(t, "the fast receiver's request", func() bool {
		got = fast.Requests()
		return len(got) > 0
	})
	if got[0].WebhookID != id {
		t.Fatalf("fast receiver got %q, want %q", got[0].WebhookID, id)
	}
	if delay := got[0].At.Sub(queued); delay > time.Second {
		t.Errorf("the fast notifier's message came %v after it was queued while another receiver hung, want within 1s", delay)
	}
	h.stillHanging(t, "the fast notifier's message came")
}

// A retry comes at the time its receiver asked for, while another notifier's send still hangs.
func TestRetriesRunAtTheirDueTimeWhileAnotherSendHangs(t *testing.T) {
	t.Parallel()
	h, slow := newHang(t)
	flaky := newReceiver(t, func(n int, _ request) (int, http.Header, string) {
		if n < 2 {
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}}, "busy"
		}
		return http.StatusOK, nil, "ok"
	})
	o := newOutbox(t, "a", "b")
	o.queue("a", alert.Firing, time.Now(), "slow")
	id := o.queue("b", alert.Firing, time.Now(), "flaky")
	run(t, o.st, map[string]notify.Notifier{"slow": webhook(t, "slow", slow), "flaky": webhook(t, "flaky", flaky)})
	h.endAtCleanup(t)
	h.waitHanging(t)

	if got := o.settled(id)[id+"/flaky"]; got.Status != "delivered" || got.Attempts != 3 {
		t.Errorf("flaky row = %s after %d attempts, want delivered at the third", got.Status, got.Attempts)
	}
	h.stillHanging(t, "the retries came")
	reqs := flaky.Requests()
	if len(reqs) != 3 {
		t.Fatalf("flaky receiver got %d requests, want 3", len(reqs))
	}
	for i := 1; i < 3; i++ {
		if gap := reqs[i].At.Sub(reqs[i-1].At); gap < time.Second {
			t.Errorf("attempt %d came %v after the one before, want at least the 1s Retry-After", i+1, gap)
		}
	}
}

// 200 rows of 8 apps to one receiver taking half a second each go out 4 at a time, each once,
// in order per app.
func TestABacklogDrainsFourAtATimeInOrderPerApp(t *testing.T) {
	t.Parallel()
	var inFlight, most atomic.Int64
	rc := newReceiver(t, func(int, request) (int, http.Header, string) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(500 * time.Millisecond)
		inFlight.Add(-1)
		return http.StatusOK, nil, "ok"
	})
	apps := []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"}
	o := newOutbox(t, apps...)
	order := map[string][]string{} // app -> event ids in the order queued
	var ids []string
	now := time.Now()
	for i := range 25 {
		for _, app := range apps {
			id := o.queue(app, alert.Firing, now.Add(time.Duration(i)*time.Millisecond), "pager")
			order[app] = append(order[app], id)
			ids = append(ids, id)
		}
	}
	run(t, o.st, map[string]notify.Notifier{"pager": webhook(t, "pager", rc)})

	// 200 × 0.5 s / 4 = 25 s; the bound only keeps a broken worker from hanging the test.
	deadline := time.Now().Add(3 * time.Minute)
	for len(rc.Requests()) < 200 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	rows := o.settled(ids...)
	if len(rows) != 200 {
		t.Fatalf("%d outbox rows, want 200", len(rows))
	}
	for k, r := range rows {
		if r.Status != "delivered" || r.Attempts != 1 {
			t.Errorf("%s: %s after %d attempts, want delivered after 1", k, r.Status, r.Attempts)
		}
	}
	if got := most.Load(); got != 4 {
		t.Errorf("at most %d requests in flight at once, want 4", got)
	}
	got := map[string][]string{}
	seen := map[string]int{}
	for _, r := range rc.Requests() {
		e := r.Event(t)
		got[e.App] = append(got[e.App], r.WebhookID)
		seen[r.WebhookID]++
	}
	if len(seen) != 200 {
		t.Errorf("receiver saw %d distinct webhook-ids, want 200", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s received %d times, want once", id, n)
		}
	}
	for _, app := range apps {
		if fmt.Sprint(got[app]) != fmt.Sprint(order[app]) {
			t.Errorf("%s: received in order %v, want %v", app, got[app], order[app])
		}
	}
}

// The database stops while a send is in flight: the receiver's 200 cannot be recorded. It is
// kept until the database is back, even after the row's lease ran out, and the row is sent
// once, by neither this replica nor another that lived through the same outage.
func TestADatabaseStopDuringASendSendsItOnce(t *testing.T) {
	t.Parallel()
	o := newOutbox(t, "checkout")
	viaProxy, px := pgtest.Proxied(t, o.url)

	var cut sync.Once
	rc := newReceiver(t, func(int, request) (int, http.Header, string) {
		cut.Do(func() { px.SetDown(true) }) // the database goes away while the request is on its way
		return http.StatusOK, nil, "ok"
	})
	const lease = 3 * time.Second
	var stops []func()
	for range 2 { // two replicas, each with its own pool behind the proxy
		st := open(t, viaProxy)
		stops = append(stops, start(t, st, map[string]notify.Notifier{"pager": webhook(t, "pager", rc)}, func(c *delivery.Config) {
			c.Lease = lease
		}))
	}
	id := o.queue("checkout", alert.Firing, time.Now(), "pager")
	notifytest.Eventually(t, "the request", func() bool { return len(rc.Requests()) > 0 })

	// Keep the database away until the row's lease has run out.
	notifytest.Eventually(t, "the lease to run out", func() bool {
		var expired bool
		err := o.st.Pool().QueryRow(context.Background(),
			`SELECT lease_until < now() FROM outbox WHERE event_id = $1`, id).Scan(&expired)
		return err == nil && expired
	})
	if r := o.rows(id)[id+"/pager"]; r.Status != "pending" {
		t.Fatalf("row is %s while the database is away, want pending", r.Status)
	}
	px.SetDown(false)

	row := o.settled(id)[id+"/pager"]
	if diff := fmt.Sprint(summarise(row)); diff != fmt.Sprint(summary{"delivered", 1, ""}) {
		t.Errorf("row = %s, want delivered after 1 attempt", diff)
	}
	for _, stop := range stops {
		stop() // waits for any send in flight, so a second one would be seen below
	}
	if got := len(rc.Requests()); got != 1 {
		t.Errorf("receiver got %d requests, want 1", got)
	}
}

// A replica killed mid-send leaves its lease behind: once it runs out, another replica sends
// the row again, with the same webhook-id (at least once).
func TestAnExpiredLeaseOfACrashedReplicaIsSentAgainWithTheSameWebhookID(t *testing.T) {
	t.Parallel()
	o := newOutbox(t, "checkout")
	id := o.queue("checkout", alert.Firing, time.Now(), "pager")
	claimed, err := o.st.Claim(context.Background(), store.Claim{Owner: "crashed", Now: time.Now(), Limit: 10, Lease: time.Second, TakeOver: true})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim = %d rows, %v; want the row", len(claimed), err)
	}
	rc := newReceiver(t, ok)
	run(t, o.st, map[string]notify.Notifier{"pager": webhook(t, "pager", rc)}, func(c *delivery.Config) { c.Lease = time.Second })

	if got := o.settled(id)[id+"/pager"]; got.Status != "delivered" || got.Attempts != 1 {
		t.Errorf("row = %s after %d attempts, want delivered", got.Status, got.Attempts)
	}
	if r := rc.Only(t); r.WebhookID != id {
		t.Errorf("webhook-id %q, want the event id %q", r.WebhookID, id)
	}
}

// The send holds no transaction open: a database that ends idle transactions after 100 ms
// does not disturb a receiver that takes longer (as neither would PgBouncer in transaction
// mode, which gives the session to someone else between transactions).
func TestASlowSendNeedsNoOpenTransaction(t *testing.T) {
	t.Parallel()
	o := newOutbox(t, "checkout")
	u, err := url.Parse(o.url)
	if err != nil {
		t.Fatal(err)
	}
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += "options=-c%20idle_in_transaction_session_timeout%3D100"
	st := open(t, u.String())
	var timeout string
	if err := st.Pool().QueryRow(context.Background(), `SHOW idle_in_transaction_session_timeout`).Scan(&timeout); err != nil || timeout != "100ms" {
		t.Fatalf("idle_in_transaction_session_timeout = %q, %v; want 100ms", timeout, err)
	}
	rc := newReceiver(t, func(int, request) (int, http.Header, string) {
		time.Sleep(400 * time.Millisecond)
		return http.StatusOK, nil, "ok"
	})
	id := o.queue("checkout", alert.Firing, time.Now(), "pager")
	run(t, st, map[string]notify.Notifier{"pager": webhook(t, "pager", rc)})
	if got := o.settled(id)[id+"/pager"]; got.Status != "delivered" || got.Attempts != 1 {
		t.Errorf("row = %s after %d attempts, want delivered at the first", got.Status, got.Attempts)
	}
	rc.Only(t)
}

// A reload swaps the notifiers of a running worker.
func TestSetNotifiersTakesEffectWhileRunning(t *testing.T) {
	t.Parallel()
	o := newOutbox(t, "checkout")
	old := newReceiver(t, ok)
	w := run(t, o.st, map[string]notify.Notifier{"pager": webhook(t, "pager", old)})
	replacement := newReceiver(t, ok)
	w.SetNotifiers(map[string]notify.Notifier{
		"pager": webhooknotify.New(webhooknotify.Config{Name: "pager", URL: replacement.URL, Secret: webhookSecret}),
	})
	id := o.queue("checkout", alert.Firing, time.Now(), "pager")
	w.Wake()
	o.settled(id)
	if r := replacement.Only(t); r.WebhookID != id {
		t.Errorf("the new notifier got %q, want %q", r.WebhookID, id)
	}
	if n := len(old.Requests()); n != 0 {
		t.Errorf("the replaced notifier got %d requests, want none", n)
	}
}
