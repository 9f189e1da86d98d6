package evaluate_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// A steady drain of 60 USD/h gives a runway alert whose message carries the rate and the
// time it runs dry; a recharge is a balance.topup event for the notifier that opted in, and
// lifts the runway enough to resolve it.
func TestRunwayAndTopupThroughTheLedger(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) // a Wednesday
	now := t0
	ev, _, _ := setupYAML(t, &now, `
defaults: {thresholds: {warning: "100", critical: "20"}, stale_after: 1h}
notifiers:
  - {name: ops, type: webhook, url: "http://127.0.0.1:1/ops"}
  - {name: finance, type: webhook, url: "http://127.0.0.1:1/finance"}
apps: [{name: a, dev_key: k, dev_secret: s, notify: [ops, finance]}]
`, func(cfg *config.Config) { cfg.Notifiers[1].Events = []string{"topup"} })
	ctx := context.Background()
	var all []store.EventRecord
	observe := func(total string) {
		t.Helper()
		events, err := ev.Observe(ctx, "a", snap(now, total), nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, events...)
	}
	// 1000.0000 at 10:00, then 10 USD less every 10 minutes: 60 USD/h.
	for i := range 8 {
		now = t0.Add(time.Duration(i) * 10 * time.Minute)
		observe(dec(1000 - 10*i))
	}
	if len(all) != 1 {
		t.Fatalf("events = %+v, want one runway firing once there is an hour of history", all)
	}
	var body notify.Event
	if err := json.Unmarshal(all[0].Payload, &body); err != nil {
		t.Fatal(err)
	}
	// At 11:00, with an hour of history: 940.0000 left at 60.0000 USD/h (the 1 h rate, with
	// less than a day of history) is 15 h 40 min, dry at Thu 02:40 UTC.
	want := "a: runway low (critical): total balance 940.0000 USD left; at 60.0000 USD/h it runs dry in about 16 h (Thu 02:40 UTC)"
	if body.Type != "alert.firing" || body.Rule != "runway_low" || body.Severity != "critical" || body.Message != want {
		t.Errorf("runway event = %s %s/%s %q\nwant alert.firing runway_low/critical %q", body.Type, body.Rule, body.Severity, body.Message, want)
	}
	if sp := body.Spend; sp == nil || sp.RunwaySeconds == nil || *sp.RunwaySeconds != 56400 || sp.BurnRate != "60.0000" ||
		sp.RunsDryAt == nil || !sp.RunsDryAt.Equal(time.Date(2026, 11, 26, 2, 40, 0, 0, time.UTC)) {
		t.Errorf("spend = %+v, want runway 56400 s at 60.0000 USD/h, dry at 02:40", sp)
	}
	if d := cmp.Diff([]string{"ops", "finance"}, all[0].Notifiers); d != "" {
		t.Errorf("runway notifiers (-want +got):\n%s", d)
	}

	// A recharge of 5000: the finance notifier (events: [topup]) hears of it, ops does not;
	// 5930 at 60/h is 98.8 h, above 72 h × 1.25: the runway alert resolves.
	all = nil
	now = now.Add(10 * time.Minute)
	observe("5930.0000")
	var got []string
	for _, e := range all {
		var b notify.Event
		if err := json.Unmarshal(e.Payload, &b); err != nil {
			t.Fatal(err)
		}
		got = append(got, b.Type+" "+b.Rule+" -> "+join(e.Notifiers)+": "+b.Message)
	}
	if d := cmp.Diff([]string{
		"alert.resolved runway_low -> ops,finance: a: runway low resolved; total balance is now 5930.0000 USD",
		"balance.topup topup -> finance: a: recharged +5000.0000 USD (paid +5000.0000, gift +0.0000), total now 5930.0000 USD",
	}, got); d != "" {
		t.Errorf("after the recharge (-want +got):\n%s", d)
	}
}

func dec(v int) string { return strconv.Itoa(v) + ".0000" }

func join(s []string) string { return strings.Join(s, ",") }

// A day of steady spend (6 USD/h) is the baseline; an hour of SMS pumping (150 USD) fires
// abnormal_spend with the window's spend against the usual one, and the alert resolves when
// the spend is back to normal.
func TestPumpingFiresAbnormalSpend(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	now := t0
	ev, _, _ := setupYAML(t, &now, `
defaults: {thresholds: {warning: "100", critical: "20"}, stale_after: 1h, runway: off}
notifiers: [{name: ops, type: webhook, url: "http://127.0.0.1:1/ops"}]
apps: [{name: a, dev_key: k, dev_secret: s, notify: [ops]}]
`, nil)
	total := 10000
	var events []string
	step := func(spent int) {
		t.Helper()
		now = now.Add(10 * time.Minute)
		total -= spent
		recs, err := ev.Observe(context.Background(), "a", snap(now, dec(total)), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			var b notify.Event
			if err := json.Unmarshal(r.Payload, &b); err != nil {
				t.Fatal(err)
			}
			events = append(events, now.Format("15:04")+" "+b.Type+" "+b.Rule+": "+b.Message)
		}
	}
	if _, err := ev.Observe(context.Background(), "a", snap(now, dec(total)), nil); err != nil {
		t.Fatal(err)
	}
	for range 6 * 25 { // 25 hours at 1 USD per 10 minutes
		step(1)
	}
	if len(events) != 0 {
		t.Fatalf("steady spend caused %q", events)
	}
	for range 6 { // an hour of pumping: 25 USD per 10 minutes
		step(25)
	}
	for range 12 { // back to normal
		step(1)
	}
	want := []string{
		// 01:20: the last hour holds 2 pumped intervals and 4 normal ones (54 USD): over
		// 5 × the usual 6 USD (30) and over drain.min (20).
		"01:20 alert.firing abnormal_spend: a: abnormal spend: 54.0000 USD in the last 1 h, against a usual 6.0000 USD for such a window (median of the last 7 days); check for SMS pumping",
		// 02:50 still holds 30 USD (above 80 % of 30); at 03:00 the window holds only normal
		// spend again (6 USD).
		"03:00 alert.resolved abnormal_spend: a: abnormal spend resolved; total balance is now 9694.0000 USD",
	}
	if d := cmp.Diff(want, events); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
}
