package delivery_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/delivery"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// queueAccess records an access alert event of app at at, as an evaluation with grouping on
// queues it: its rows for grouped notifiers wait `wait` under the group key.
func (o *outbox) queueAccess(app string, typ alert.EventType, rule string, at time.Time, wait time.Duration, notifiers ...string) string {
	o.t.Helper()
	id := "evt_" + ulid.Make().String()
	body, err := json.Marshal(notify.Event{
		ID: id, Type: string(typ), App: app, Alert: "access", Rule: rule, Severity: "critical",
		ObservedAt: at, Since: at, Error: &notify.EventError{HTTPStatus: 401, Code: 2001, Message: "invalid token"},
		Message: app + ": EngageLab rejected the API key (HTTP 401, code 2001: invalid token)",
	})
	if err != nil {
		o.t.Fatal(err)
	}
	pgtest.Events(o.t, o.st, o.ids[app], store.EventRecord{
		ID: id, Alert: alert.Access, Type: typ, Rule: rule, Severity: alert.SeverityCritical,
		Since: at, At: at, Payload: body, Notifiers: notifiers,
		Grouped: notifiers, GroupKey: string(typ) + "/access/" + rule, GroupWait: wait,
	})
	return id
}

func grouping(minApps int, wait time.Duration) func(*delivery.Config) {
	return func(c *delivery.Config) { c.Grouping = config.Grouping{MinApps: minApps, Wait: wait} }
}

// Four apps whose key is rejected within the wait make one message per notifier, naming them
// all, with a group object; each outbox row is still its own, delivered once. An unrelated
// money event is not held.
func TestOneRuleOnManyAppsIsOneMessage(t *testing.T) {
	t.Parallel()
	o := newOutbox(t, "a", "b", "c", "d", "e")
	rc := newReceiver(t, ok)
	const wait = 400 * time.Millisecond
	at := time.Now().UTC().Truncate(time.Microsecond)
	var ids []string
	for i, app := range []string{"c", "a", "d", "b"} {
		ids = append(ids, o.queueAccess(app, alert.Firing, alert.RuleAuthFailed, at.Add(time.Duration(i)*50*time.Millisecond), wait, "hook"))
	}
	money := o.queue("e", alert.Firing, at, "hook")
	run(t, o.st, map[string]notify.Notifier{"hook": webhook(t, "hook", rc)}, grouping(3, wait))

	rows := o.settled(append(ids, money)...)
	reqs := rc.Requests()
	if len(reqs) != 2 {
		t.Fatalf("receiver got %d requests, want 2 (the money event, then one grouped message)", len(reqs))
	}
	if e := reqs[0].Event(t); e.App != "e" || !reqs[0].At.Before(at.Add(wait)) {
		t.Errorf("first request %s at %s: want e's money event at once, not held", e.App, reqs[0].At)
	}
	g := reqs[1].Event(t)
	want := "EngageLab rejected the API key on 4 apps: a, b, c, d"
	if g.Message != want || g.Group == nil || strings.Join(g.Group.Apps, ",") != "a,b,c,d" || len(g.Group.Events) != 4 ||
		g.Type != "alert.firing" || g.Rule != "auth_failed" || g.App != "" {
		t.Errorf("grouped message %+v\nwant %q", g, want)
	}
	if reqs[1].WebhookID != "evt_grp_"+strings.TrimPrefix(ids[0], "evt_") {
		t.Errorf("webhook-id %q, want evt_grp_ and the first event's id", reqs[1].WebhookID)
	}
	if reqs[1].At.Before(at.Add(wait)) {
		t.Errorf("grouped message sent at %s, before the wait ended at %s", reqs[1].At, at.Add(wait))
	}
	for _, id := range ids {
		if r := rows[id+"/hook"]; r.Status != "delivered" || r.Attempts != 1 {
			t.Errorf("row %s: %s after %d attempts, want delivered after 1", id, r.Status, r.Attempts)
		}
	}
}

// Fewer apps than grouping.min_apps go out alone, each once its wait is over; so do
// different rules and different notifiers, each grouped on its own.
func TestGroupsFormPerRuleAndNotifier(t *testing.T) {
	t.Parallel()
	o := newOutbox(t, "a", "b", "c", "d", "e")
	hook, chat := newReceiver(t, ok), newReceiver(t, ok)
	const wait = 300 * time.Millisecond
	at := time.Now().UTC().Truncate(time.Microsecond)
	var ids []string
	for _, app := range []string{"a", "b", "c"} { // three: grouped, for both notifiers
		ids = append(ids, o.queueAccess(app, alert.Firing, alert.RuleAuthFailed, at, wait, "hook", "chat"))
	}
	for _, app := range []string{"d", "e"} { // two of another rule: each alone
		ids = append(ids, o.queueAccess(app, alert.Firing, alert.RuleAppUnavailable, at, wait, "hook"))
	}
	run(t, o.st, map[string]notify.Notifier{"hook": webhook(t, "hook", hook), "chat": webhook(t, "chat", chat)}, grouping(3, wait))
	o.settled(ids...)

	var got []string
	for _, r := range hook.Requests() {
		e := r.Event(t)
		if e.Group != nil {
			got = append(got, "group:"+strings.Join(e.Group.Apps, ","))
		} else {
			got = append(got, e.App+":"+e.Rule)
		}
		if r.At.Before(at.Add(wait)) {
			t.Errorf("%s sent at %s, before its wait ended", got[len(got)-1], r.At)
		}
	}
	slices.Sort(got)
	if want := []string{"d:app_unavailable", "e:app_unavailable", "group:a,b,c"}; !slices.Equal(got, want) {
		t.Errorf("hook got %v, want %v", got, want)
	}
	if r := chat.Only(t).Event(t); r.Group == nil || strings.Join(r.Group.Apps, ",") != "a,b,c" {
		t.Errorf("chat got %+v, want the group of a, b, c", r)
	}
}

// A grouped message the receiver refuses for a while is retried as one message, with the same
// webhook-id, and every row counts the attempts.
func TestAGroupIsRetriedWhole(t *testing.T) {
	t.Parallel()
	o := newOutbox(t, "a", "b", "c")
	rc := newReceiver(t, func(n int, _ request) (int, http.Header, string) {
		if n < 2 {
			return http.StatusServiceUnavailable, nil, "busy"
		}
		return http.StatusOK, nil, "ok"
	})
	at := time.Now().UTC().Truncate(time.Microsecond)
	var ids []string
	for _, app := range []string{"a", "b", "c"} {
		ids = append(ids, o.queueAccess(app, alert.Resolved, alert.RuleAuthFailed, at, 100*time.Millisecond, "hook"))
	}
	run(t, o.st, map[string]notify.Notifier{"hook": webhook(t, "hook", rc)}, grouping(3, 100*time.Millisecond))
	rows := o.settled(ids...)

	reqs := rc.Requests()
	if len(reqs) != 3 {
		t.Fatalf("receiver got %d requests, want 3 (two refused, one accepted)", len(reqs))
	}
	for _, r := range reqs {
		if r.WebhookID != reqs[0].WebhookID {
			t.Errorf("webhook-ids %q and %q differ between attempts of one group", reqs[0].WebhookID, r.WebhookID)
		}
		if e := r.Event(t); e.Message != "EngageLab accepts the API keys again on 3 apps: a, b, c" {
			t.Errorf("message %q", e.Message)
		}
	}
	for _, id := range ids {
		if r := rows[id+"/hook"]; r.Status != "delivered" || r.Attempts != 3 {
			t.Errorf("row %s: %s after %d attempts, want delivered after 3", id, r.Status, r.Attempts)
		}
	}
}

// With grouping off (or before a reload turns it on) held rows go out one by one.
func TestGroupingOffSendsEachAlone(t *testing.T) {
	t.Parallel()
	o := newOutbox(t, "a", "b", "c")
	rc := newReceiver(t, ok)
	at := time.Now().UTC().Truncate(time.Microsecond)
	var ids []string
	for _, app := range []string{"a", "b", "c"} {
		ids = append(ids, o.queueAccess(app, alert.Firing, alert.RuleAuthFailed, at, 50*time.Millisecond, "hook"))
	}
	run(t, o.st, map[string]notify.Notifier{"hook": webhook(t, "hook", rc)})
	o.settled(ids...)
	if n := len(rc.Requests()); n != 3 {
		t.Errorf("receiver got %d requests, want 3", n)
	}
	notifytest.Eventually(t, "nothing else", func() bool { return len(rc.Requests()) == 3 })
}
