package app_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
)

// An upstream outage on twelve apps is one message and one grouped resolve per notifier; each
// app's alert, its events and its outbox rows stay its own.
func TestAnUpstreamOutageOnTwelveAppsIsOneMessage(t *testing.T) {
	t.Parallel()
	var apps []fake.App
	var names, yamlApps []string
	for i := range 12 {
		name := fmt.Sprintf("app%02d", i)
		apps = append(apps, fake.App{Name: name, DevKey: "k-" + name, DevSecret: "s-" + name, Balance: "500", Gift: "0"})
		names = append(names, name)
		yamlApps = append(yamlApps, fmt.Sprintf("  - {name: %s, dev_key: k-%s, dev_secret: s-%s, notify: [pager]}", name, name, name))
	}
	h := newHarness(t, apps...)
	rc := newHook(t)
	upstream := httptest.NewServer(h.fake)
	t.Cleanup(upstream.Close)
	cfg := h.config(upstream.URL, fmt.Sprintf(`
grouping: {min_apps: 3, wait: 2s}
notifiers: [{name: pager, type: webhook, url: "%s/pager", secret: %s}]
apps:
%s
`, rc.URL, hookSecret, strings.Join(yamlApps, "\n")))
	h.start(cfg)
	for _, n := range names {
		h.waitPolls(n, 1)
	}

	for _, n := range names {
		h.fake.Fail("k-"+n, fake.Failure{Status: 500, Code: 1000, Message: "internal error"})
	}
	fired := rc.waitDelivered(t, "/pager", 1)
	firing := fired[0]
	if want := "upstream error 1000 on 12 apps: app00, app01, app02, app03, app04, app05, app06, app07, app08, app09, … and 2 more"; firing.Message != want ||
		firing.Type != notify.TypeFiring || firing.Group == nil || !sameApps(firing.Group.Apps, names) || len(firing.Group.Events) != 12 {
		t.Fatalf("first message %q (type %s, group %+v)\nwant %q naming all 12", firing.Message, firing.Type, firing.Group, want)
	}
	if want := (notify.EventError{HTTPStatus: 500, Code: 1000, Message: "internal error"}); firing.Error == nil || *firing.Error != want {
		t.Errorf("grouped error %+v, want %+v", firing.Error, want)
	}

	for _, n := range names {
		h.fake.Recover("k-" + n)
	}
	got := rc.waitDelivered(t, "/pager", 2)
	resolved := got[1]
	if resolved.Type != notify.TypeResolved || resolved.Group == nil || !sameApps(resolved.Group.Apps, names) ||
		!strings.HasPrefix(resolved.Message, "polling EngageLab works again on 12 apps: ") {
		t.Fatalf("second message %q (type %s): want one grouped resolve of all 12", resolved.Message, resolved.Type)
	}
	h.mu.Lock()
	polled := h.polled["app00"]
	h.mu.Unlock()
	h.waitPolls("app00", polled+3) // nothing else arrives meanwhile
	if n := len(rc.delivered(t, "/pager")); n != 2 {
		t.Errorf("receiver got %d messages, want 2 (one grouped firing, one grouped resolve)", n)
	}

	// Per app, nothing changed: its own firing and resolve in the event log, each outbox row
	// delivered once.
	st := (&alertSetup{harness: h}).store()
	for _, n := range names {
		events, err := st.Events(context.Background(), n, time.Time{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		var log []string
		for _, e := range slices.Backward(events) {
			log = append(log, e.Type+" "+e.Rule)
		}
		if want := []string{"alert.firing poll_failing", "alert.resolved poll_failing"}; !slices.Equal(log, want) {
			t.Errorf("%s's events %v, want %v", n, log, want)
		}
	}
	rows, err := st.Notifications(context.Background(), nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for _, r := range rows {
		if r.Status == "delivered" && r.Attempts == 1 {
			delivered++
		}
	}
	if delivered != 24 || len(rows) != 24 {
		t.Errorf("%d of %d outbox rows delivered after one attempt, want all 24", delivered, len(rows))
	}
}

func sameApps(got, want []string) bool {
	got = slices.Clone(got)
	slices.Sort(got)
	return slices.Equal(got, want)
}
