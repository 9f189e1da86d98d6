package delivery_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/oklog/ulid/v2"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/delivery"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
	slacknotify "github.com/opsbalance/engagelab-monitor/internal/notify/slack"
	webhooknotify "github.com/opsbalance/engagelab-monitor/internal/notify/webhook"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// webhookSecret makes the webhook notifier send Standard Webhooks headers, webhook-id among them.
const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// secretPath stands for the credential a webhook URL may carry; no error may show it.
const secretPath = "/hooks/T0SECRET/B0SECRET"

// receiver and request are the shared fake receiver's; ok answers every request 200.
type (
	receiver = notifytest.Receiver
	request  = notifytest.Request
)

func newReceiver(t *testing.T, answer notifytest.Script) *receiver {
	return notifytest.NewScripted(t, answer)
}

func ok(int, request) (int, http.Header, string) { return http.StatusOK, nil, "ok" }

func webhook(t *testing.T, name string, rc *receiver) notify.Notifier {
	t.Helper()
	return webhooknotify.New(webhooknotify.Config{Name: name, URL: rc.URL + secretPath + "?token=hidden", Secret: webhookSecret})
}

// outbox is a database with apps whose events are queued as an evaluation queues them.
type outbox struct {
	t   *testing.T
	url string
	st  *store.Store
	ids map[string]int64
}

func newOutbox(t *testing.T, apps ...string) *outbox {
	t.Helper()
	u := pgtest.URL(t)
	o := &outbox{t: t, url: u, st: open(t, u)}
	var err error
	if o.ids, err = o.st.EnsureApps(context.Background(), apps); err != nil {
		t.Fatal(err)
	}
	return o
}

func open(t *testing.T, dbURL string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// queue records one money event of app at at and queues it for notifiers; it returns its id.
func (o *outbox) queue(app string, typ alert.EventType, at time.Time, notifiers ...string) string {
	o.t.Helper()
	id := "evt_" + ulid.Make().String()
	body, err := json.Marshal(notify.Event{
		ID: id, Type: string(typ), App: app, Alert: "money", Rule: alert.RuleLowBalance, Severity: "warning",
		Currency: "USD", Balance: "80.0000", GiftBalance: "0.0000", TotalBalance: "80.0000", Threshold: "100.0000",
		ObservedAt: at, Since: at, Message: app + ": total balance 80.0000 USD is below the warning threshold 100.0000 USD",
	})
	if err != nil {
		o.t.Fatal(err)
	}
	pgtest.Events(o.t, o.st, o.ids[app], store.EventRecord{
		ID: id, Alert: alert.Money, Type: typ, Rule: alert.RuleLowBalance, Severity: alert.SeverityWarning,
		Since: at, At: at, Payload: body, Notifiers: notifiers,
	})
	return id
}

// rows returns the outbox rows of the given events, keyed by event id and notifier.
func (o *outbox) rows(ids ...string) map[string]store.OutboxRow {
	o.t.Helper()
	rows, err := o.st.Notifications(context.Background(), ids, 1000)
	if err != nil {
		o.t.Fatal(err)
	}
	out := map[string]store.OutboxRow{}
	for _, r := range rows {
		out[r.EventID+"/"+r.Notifier] = r
	}
	return out
}

// settled waits until none of the events' rows is pending, and returns them.
func (o *outbox) settled(ids ...string) map[string]store.OutboxRow {
	o.t.Helper()
	var rows map[string]store.OutboxRow
	notifytest.Eventually(o.t, "outbox rows to settle", func() bool {
		rows = o.rows(ids...)
		for _, r := range rows {
			if r.Status == "pending" {
				return false
			}
		}
		return len(rows) > 0
	})
	return rows
}

// run starts a worker until the test ends.
func run(t *testing.T, st *store.Store, notifiers map[string]notify.Notifier, tweak ...func(*delivery.Config)) *delivery.Worker {
	t.Helper()
	w, _ := launch(t, st, notifiers, tweak...)
	return w
}

// start runs a worker and returns a function that stops it and waits for it to end.
func start(t *testing.T, st *store.Store, notifiers map[string]notify.Notifier, tweak ...func(*delivery.Config)) func() {
	t.Helper()
	_, stop := launch(t, st, notifiers, tweak...)
	return stop
}

// launch runs a worker until stop is called or the test ends.
func launch(t *testing.T, st *store.Store, notifiers map[string]notify.Notifier, tweak ...func(*delivery.Config)) (*delivery.Worker, func()) {
	t.Helper()
	c := delivery.Config{Store: st, Notifiers: notifiers, BaseBackoff: 50 * time.Millisecond, PollEvery: 50 * time.Millisecond}
	for _, f := range tweak {
		f(&c)
	}
	w := delivery.New(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return w, stop
}

type summary struct {
	Status    string
	Attempts  int
	LastError string
}

func summarise(r store.OutboxRow) summary { return summary{r.Status, r.Attempts, r.LastError} }

func TestRetriesUntilDeliveredOnceWithTheSameWebhookID(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(n int, _ request) (int, http.Header, string) {
		if n < 3 {
			return http.StatusInternalServerError, nil, "boom"
		}
		return http.StatusOK, nil, "ok"
	})
	o := newOutbox(t, "checkout")
	id := o.queue("checkout", alert.Firing, time.Now(), "pager")
	run(t, o.st, map[string]notify.Notifier{"pager": webhook(t, "pager", rc)})

	row := o.settled(id)[id+"/pager"]
	if diff := cmp.Diff(summary{"delivered", 4, ""}, summarise(row)); diff != "" {
		t.Errorf("outbox row (-want +got):\n%s", diff)
	}
	got := rc.Requests()
	if len(got) != 4 {
		t.Fatalf("receiver got %d requests, want 4", len(got))
	}
	for i, r := range got {
		if r.WebhookID != id || r.Event(t).ID != id {
			t.Errorf("attempt %d: webhook-id %q, body id %q, want %q on every attempt", i+1, r.WebhookID, r.Event(t).ID, id)
		}
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(n int, _ request) (int, http.Header, string) {
		if n == 0 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"2"}}, "slow down"
		}
		return http.StatusOK, nil, "ok"
	})
	o := newOutbox(t, "checkout")
	id := o.queue("checkout", alert.Firing, time.Now(), "pager")
	run(t, o.st, map[string]notify.Notifier{"pager": webhook(t, "pager", rc)})

	row := o.settled(id)[id+"/pager"]
	if row.Status != "delivered" || row.Attempts != 2 {
		t.Errorf("row = %s after %d attempts, want delivered after 2", row.Status, row.Attempts)
	}
	got := rc.Requests()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(got))
	}
	if gap := got[1].At.Sub(got[0].At); gap < 2*time.Second {
		t.Errorf("second attempt came %v after the 429, want at least the 2s Retry-After asked for", gap)
	}
}

func TestPermanentRefusalIsDeadAtOnceAndDoesNotBlockTheNextEvent(t *testing.T) {
	t.Parallel()
	o := newOutbox(t, "checkout")
	var refused string
	rc := newReceiver(t, func(_ int, r request) (int, http.Header, string) {
		if r.WebhookID == refused {
			return http.StatusNotFound, nil, "no such hook"
		}
		return http.StatusOK, nil, "ok"
	})
	now := time.Now()
	refused = o.queue("checkout", alert.Firing, now, "pager")
	next := o.queue("checkout", alert.Escalated, now.Add(time.Millisecond), "pager")
	run(t, o.st, map[string]notify.Notifier{"pager": webhook(t, "pager", rc)})

	rows := o.settled(refused, next)
	want := map[string]summary{
		refused + "/pager": {"dead", 1, "webhook pager: " + rc.URL + " answered 404 Not Found"},
		next + "/pager":    {"delivered", 1, ""},
	}
	got := map[string]summary{}
	for k, r := range rows {
		got[k] = summarise(r)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outbox rows (-want +got):\n%s", diff)
	}
	for _, r := range rows {
		if strings.Contains(r.LastError, "SECRET") || strings.Contains(r.LastError, "hidden") {
			t.Errorf("last_error shows the webhook URL's credential: %q", r.LastError)
		}
	}
	var ids []string
	for _, r := range rc.Requests() {
		ids = append(ids, r.WebhookID)
	}
	if diff := cmp.Diff([]string{refused, next}, ids); diff != "" {
		t.Errorf("requests by webhook-id (-want +got):\n%s", diff)
	}
}

func TestEventsOfOneAppAndNotifierArriveInOrderDespiteRetries(t *testing.T) {
	t.Parallel()
	o := newOutbox(t, "checkout")
	rc := newReceiver(t, func(n int, _ request) (int, http.Header, string) {
		if n < 2 {
			return http.StatusServiceUnavailable, nil, "later"
		}
		return http.StatusOK, nil, "ok"
	})
	now := time.Now()
	first := o.queue("checkout", alert.Firing, now, "pager")
	second := o.queue("checkout", alert.Escalated, now.Add(time.Millisecond), "pager")
	third := o.queue("checkout", alert.Resolved, now.Add(2*time.Millisecond), "pager")
	run(t, o.st, map[string]notify.Notifier{"pager": webhook(t, "pager", rc)})

	o.settled(first, second, third)
	var got []string
	for _, r := range rc.Requests() {
		got = append(got, r.Event(t).Type+" "+r.WebhookID)
	}
	want := []string{
		"alert.firing " + first, "alert.firing " + first, "alert.firing " + first,
		"alert.escalated " + second, "alert.resolved " + third,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests in arrival order (-want +got):\n%s", diff)
	}
}

func TestTwoWorkersNeverSendARowTwice(t *testing.T) {
	t.Parallel()
	apps := []string{"a1", "a2", "a3", "a4", "a5"}
	o := newOutbox(t, apps...)
	var mu sync.Mutex
	counts := map[string]int{} // path + webhook-id -> requests
	rc := newReceiver(t, func(_ int, r request) (int, http.Header, string) {
		mu.Lock()
		counts[r.Path+" "+r.WebhookID]++
		mu.Unlock()
		time.Sleep(2 * time.Millisecond) // keeps sends overlapping
		return http.StatusOK, nil, "ok"
	})
	notifier := func(name string) notify.Notifier {
		return webhooknotify.New(webhooknotify.Config{Name: name, URL: rc.URL + "/" + name, Secret: webhookSecret})
	}
	var ids []string
	now := time.Now()
	for i := range 5 {
		for _, app := range apps {
			ids = append(ids, o.queue(app, alert.Firing, now.Add(time.Duration(i)*time.Millisecond), "a", "b"))
		}
	}

	for range 2 {
		st := open(t, o.url) // each worker with its own pool, as two processes would have
		run(t, st, map[string]notify.Notifier{"a": notifier("a"), "b": notifier("b")}, func(c *delivery.Config) {
			c.PollEvery = 5 * time.Millisecond
		})
	}

	rows := o.settled(ids...)
	if len(rows) != 50 {
		t.Fatalf("%d outbox rows, want 50", len(rows))
	}
	for k, r := range rows {
		if r.Status != "delivered" || r.Attempts != 1 {
			t.Errorf("%s: %s after %d attempts, want delivered after 1", k, r.Status, r.Attempts)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(counts) != 50 {
		t.Errorf("receiver saw %d distinct (notifier, webhook-id), want 50", len(counts))
	}
	for k, n := range counts {
		if n != 1 {
			t.Errorf("%s received %d times, want once", k, n)
		}
	}
}

func TestTooOldRowsDieUnsentAndSupersededRemindersAreDropped(t *testing.T) {
	t.Parallel()
	o := newOutbox(t, "old", "checkout")
	rc := newReceiver(t, ok)
	now := time.Now()
	old := o.queue("old", alert.Firing, now.Add(-2*time.Hour), "pager")
	reminder := o.queue("checkout", alert.Reminder, now, "pager")
	escalation := o.queue("checkout", alert.Escalated, now.Add(time.Millisecond), "pager")
	run(t, o.st, map[string]notify.Notifier{"pager": webhook(t, "pager", rc)}, func(c *delivery.Config) {
		c.MaxAge = time.Hour
	})

	got := map[string]summary{}
	for k, r := range o.settled(old, reminder, escalation) {
		got[k] = summarise(r)
	}
	want := map[string]summary{
		old + "/pager":        {"dead", 0, "not delivered within delivery.max_age (1h0m0s)"},
		reminder + "/pager":   {"dropped", 0, ""},
		escalation + "/pager": {"delivered", 1, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outbox rows (-want +got):\n%s", diff)
	}
	var ids []string
	for _, r := range rc.Requests() {
		ids = append(ids, r.WebhookID)
	}
	if diff := cmp.Diff([]string{escalation}, ids); diff != "" {
		t.Errorf("requests by webhook-id (-want +got):\n%s", diff)
	}
}

func TestSlackRateLimitIsHonoured(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(n int, _ request) (int, http.Header, string) {
		if n == 0 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}, "rate_limited"
		}
		return http.StatusOK, nil, "ok"
	})
	slack := slacknotify.New(slacknotify.Config{Name: "ops", WebhookURL: rc.URL + secretPath})
	o := newOutbox(t, "checkout")
	id := o.queue("checkout", alert.Firing, time.Now(), "ops")
	run(t, o.st, map[string]notify.Notifier{"ops": slack})

	row := o.settled(id)[id+"/ops"]
	if diff := cmp.Diff(summary{"delivered", 2, ""}, summarise(row)); diff != "" {
		t.Errorf("outbox row (-want +got):\n%s", diff)
	}
	got := rc.Requests()
	if len(got) != 2 {
		t.Fatalf("Slack got %d requests, want 2", len(got))
	}
	if gap := got[1].At.Sub(got[0].At); gap < time.Second {
		t.Errorf("second attempt came %v after the 429, want at least the 1s Retry-After asked for", gap)
	}
	var msg struct{ Text string }
	if err := json.Unmarshal(got[1].Body, &msg); err != nil {
		t.Fatal(err)
	}
	if want := ":warning: Warning checkout: total balance 80.0000 USD is below the warning threshold 100.0000 USD"; msg.Text != want {
		t.Errorf("Slack fallback text = %q, want %q", msg.Text, want)
	}
}

func TestSlackChannelNotFoundIsDead(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(int, request) (int, http.Header, string) {
		return http.StatusOK, http.Header{"Content-Type": {"application/json"}}, `{"ok":false,"error":"channel_not_found"}`
	})
	slack := slacknotify.New(slacknotify.Config{Name: "ops-bot", Token: "xoxb-secret-token", Channel: "C0123456789", APIURL: rc.URL})
	o := newOutbox(t, "checkout")
	now := time.Now()
	refused := o.queue("checkout", alert.Firing, now, "ops-bot")
	next := o.queue("checkout", alert.Escalated, now.Add(time.Millisecond), "ops-bot")
	run(t, o.st, map[string]notify.Notifier{"ops-bot": slack})

	got := map[string]summary{}
	for k, r := range o.settled(refused, next) {
		got[k] = summarise(r)
	}
	refusal := "slack ops-bot: Slack refused the message: channel_not_found"
	want := map[string]summary{refused + "/ops-bot": {"dead", 1, refusal}, next + "/ops-bot": {"dead", 1, refusal}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outbox rows (-want +got):\n%s", diff)
	}
	reqs := rc.Requests()
	if len(reqs) != 2 {
		t.Fatalf("Slack got %d requests, want one per event", len(reqs))
	}
	form, err := url.ParseQuery(string(reqs[0].Body))
	if err != nil {
		t.Fatal(err)
	}
	if reqs[0].Path != "/api/chat.postMessage" || form.Get("channel") != "C0123456789" ||
		reqs[0].Header.Get("Authorization") != "Bearer xoxb-secret-token" {
		t.Errorf("request = %s channel=%q auth=%q, want chat.postMessage to C0123456789 with the bot token",
			reqs[0].Path, form.Get("channel"), reqs[0].Header.Get("Authorization"))
	}
}

func TestRowsBehindARetryingRowWaitForIt(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(int, request) (int, http.Header, string) {
		return http.StatusServiceUnavailable, http.Header{"Retry-After": {"3600"}}, "down for maintenance"
	})
	o := newOutbox(t, "checkout")
	now := time.Now()
	first := o.queue("checkout", alert.Firing, now, "pager")
	o.queue("checkout", alert.Escalated, now.Add(time.Millisecond), "pager")
	w := delivery.New(delivery.Config{Store: o.st, Notifiers: map[string]notify.Notifier{"pager": webhook(t, "pager", rc)}})

	n, err := w.Drain(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Drain = %d, %v; want 1 row handled (the second waits behind the first)", n, err)
	}
	if got := len(rc.Requests()); got != 1 {
		t.Errorf("receiver got %d requests, want 1", got)
	}
	if r := o.rows(first)[first+"/pager"]; r.Status != "pending" || r.Attempts != 1 {
		t.Errorf("first row = %s after %d attempts, want pending after 1", r.Status, r.Attempts)
	}
	// The queued row is due already but cannot go before the first: the worker must sleep
	// until the first is due, not wake every few milliseconds.
	due, err := o.st.NextDue(context.Background(), "another worker")
	if err != nil {
		t.Fatal(err)
	}
	if wait := time.Until(due); wait < 59*time.Minute {
		t.Errorf("next due in %v, want the hour the receiver asked for", wait)
	}
}

// A row for a notifier this process does not know waits for a process that does (a replica
// mid-rollout, or a poll-once with a trimmed config must not kill it).
func TestRowsForAnUnknownNotifierWaitInsteadOfDying(t *testing.T) {
	t.Parallel()
	o := newOutbox(t, "checkout")
	id := o.queue("checkout", alert.Firing, time.Now(), "pager")
	w := delivery.New(delivery.Config{Store: o.st, Notifiers: map[string]notify.Notifier{}})
	if n, err := w.Drain(context.Background()); err != nil || n != 1 {
		t.Fatalf("Drain = %d, %v; want the row handled once", n, err)
	}
	r := o.rows(id)[id+"/pager"]
	if r.Status != "pending" || r.Attempts != 0 || r.LastError != `notifier "pager" is not configured in this process` {
		t.Errorf("row = %+v; want it pending, unattempted, with the reason", r)
	}
	// A process that knows the notifier sends it once it is due again.
	rc := newReceiver(t, ok)
	if _, err := o.st.Pool().Exec(context.Background(), `UPDATE outbox SET next_attempt_at = now()`); err != nil {
		t.Fatal(err)
	}
	run(t, o.st, map[string]notify.Notifier{"pager": webhook(t, "pager", rc)})
	if got := o.settled(id)[id+"/pager"]; got.Status != "delivered" || got.Attempts != 1 {
		t.Errorf("row = %+v, want delivered at the first real attempt", got)
	}
	if len(rc.Requests()) != 1 {
		t.Errorf("%d requests, want 1", len(rc.Requests()))
	}
}

// poll-once delivers only what its own polls caused.
func TestOnlyLimitsAWorkerToItsEvents(t *testing.T) {
	t.Parallel()
	o := newOutbox(t, "a", "b")
	mine := o.queue("a", alert.Firing, time.Now(), "pager")
	theirs := o.queue("b", alert.Firing, time.Now(), "pager")
	rc := newReceiver(t, ok)
	w := delivery.New(delivery.Config{Store: o.st, Notifiers: map[string]notify.Notifier{"pager": webhook(t, "pager", rc)}, Only: []string{mine}})
	if n, err := w.Drain(context.Background()); err != nil || n != 1 {
		t.Fatalf("Drain = %d, %v; want exactly its own row", n, err)
	}
	rows := o.rows(mine, theirs)
	if rows[mine+"/pager"].Status != "delivered" || rows[theirs+"/pager"].Status != "pending" {
		t.Errorf("mine %s, theirs %s; want delivered and pending", rows[mine+"/pager"].Status, rows[theirs+"/pager"].Status)
	}
}

// A receiver that hangs holds up only its own rows: the others go out meanwhile.
func TestASlowReceiverDoesNotHoldUpTheOthers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := newReceiver(t, func(int, request) (int, http.Header, string) {
		<-release
		return http.StatusOK, nil, "ok"
	})
	fast := newReceiver(t, ok)
	o := newOutbox(t, "a")
	o.queue("a", alert.Firing, time.Now(), "slow")
	quick := o.queue("a", alert.Firing, time.Now(), "fast")
	run(t, o.st, map[string]notify.Notifier{"slow": webhook(t, "slow", slow), "fast": webhook(t, "fast", fast)})
	t.Cleanup(func() { close(release) }) // runs before the worker's cleanup, which waits for the send
	if got := o.settled(quick)[quick+"/fast"].Status; got != "delivered" {
		t.Errorf("fast row %s while the slow receiver hangs, want delivered", got)
	}
}
