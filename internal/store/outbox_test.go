package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// claimed names the rows of a claim as app/notifier/event.
func claimed(t *testing.T, ds []store.Delivery, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		out = append(out, d.App+"/"+d.Notifier+"/"+d.EventID)
	}
	return out
}

func TestClaimLeasesTheOldestRowOfEachAppAndNotifierAndRecordChecksTheLease(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	ids, err := s.EnsureApps(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, app := range []string{"a", "a", "b"} {
		pgtest.Events(t, s, ids[app], store.EventRecord{
			ID: fmt.Sprintf("evt_%d", i+1), Alert: alert.Money, Type: alert.Firing, Rule: "low_balance", Severity: alert.SeverityWarning,
			Since: now, At: now.Add(time.Duration(i) * time.Millisecond), Payload: []byte(`{}`), Notifiers: []string{"ops"},
		})
	}
	// A takeover also waits until the database has been up for a lease: the short lease of
	// the taking claims keeps a freshly started test server from holding them up.
	claim := func(owner string, takeOver bool) []string {
		lease := time.Minute
		if takeOver {
			lease = time.Millisecond
		}
		ds, err := s.Claim(ctx, store.Claim{Owner: owner, Now: now.Add(time.Second), Limit: 10, Lease: lease, TakeOver: takeOver})
		return claimed(t, ds, err)
	}

	// One row per (app, notifier): evt_2 waits behind evt_1, leased or not.
	if got := fmt.Sprint(claim("w1", false)); got != "[a/ops/evt_1 b/ops/evt_3]" {
		t.Fatalf("first claim = %s, want the oldest row of each app", got)
	}
	if got := claim("w2", false); len(got) != 0 {
		t.Fatalf("second claim = %v, want nothing while w1 leases the heads", got)
	}
	rowID := map[string]int64{}
	rows, err := s.Notifications(ctx, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		rowID[r.EventID] = r.ID
	}

	// A retry by someone who does not hold the lease is refused; the holder's is written.
	lost, err := s.Record(ctx, "w2", []store.Recorded{{ID: rowID["evt_1"], Outcome: store.Outcome{Status: store.Retry, NextAttempt: now.Add(time.Hour), Error: "503"}}})
	if err != nil || fmt.Sprint(lost) != fmt.Sprint([]int64{rowID["evt_1"]}) {
		t.Fatalf("w2's retry of w1's row: lost %v, %v; want it refused", lost, err)
	}
	lost, err = s.Record(ctx, "w1", []store.Recorded{
		{ID: rowID["evt_1"], Outcome: store.Outcome{Status: store.Delivered}, At: now},
		{ID: rowID["evt_3"], Outcome: store.Outcome{Status: store.Retry, NextAttempt: now.Add(time.Hour), Error: "503"}},
	})
	if err != nil || len(lost) != 0 {
		t.Fatalf("w1's record: lost %v, %v; want both written", lost, err)
	}
	if got := fmt.Sprint(claim("w2", false)); got != "[a/ops/evt_2]" {
		t.Errorf("claim after evt_1 was delivered = %s, want evt_2 (evt_3 is due in an hour)", got)
	}

	// An expired lease of another owner is taken over only with TakeOver; never by its owner.
	if _, err := s.Pool().Exec(ctx, `UPDATE outbox SET lease_until = now() - interval '1 second' WHERE lease_owner = 'w2'`); err != nil {
		t.Fatal(err)
	}
	if got := claim("w2", true); len(got) != 0 {
		t.Errorf("owner's claim of its own expired lease = %v, want nothing: it still holds the row", got)
	}
	if got := claim("w3", false); len(got) != 0 {
		t.Errorf("claim without TakeOver = %v, want nothing", got)
	}
	// Nor while the database has been up for less than a lease: after a restart the owner
	// gets a whole lease to record the answer it kept while the database was away.
	var uptime time.Duration
	if err := s.Pool().QueryRow(ctx, `SELECT now() - pg_postmaster_start_time()`).Scan(&uptime); err != nil {
		t.Fatal(err)
	}
	ds, err := s.Claim(ctx, store.Claim{Owner: "w3", Now: now.Add(time.Second), Limit: 10, Lease: uptime + time.Hour, TakeOver: true})
	if got := claimed(t, ds, err); len(got) != 0 {
		t.Errorf("takeover with a lease longer than the database's uptime = %v, want nothing", got)
	}
	if got := fmt.Sprint(claim("w3", true)); got != "[a/ops/evt_2]" {
		t.Errorf("claim with TakeOver = %s, want the expired row", got)
	}
	// The old owner's retry is refused now, but its final answer is still the truth.
	lost, err = s.Record(ctx, "w2", []store.Recorded{{ID: rowID["evt_2"], Outcome: store.Outcome{Status: store.Retry, NextAttempt: now}}})
	if err != nil || len(lost) != 1 {
		t.Errorf("old owner's retry: lost %v, %v; want it refused", lost, err)
	}
	lost, err = s.Record(ctx, "w2", []store.Recorded{{ID: rowID["evt_2"], Outcome: store.Outcome{Status: store.Delivered}, At: now}})
	if err != nil || len(lost) != 0 {
		t.Errorf("old owner's 200: lost %v, %v; want it written", lost, err)
	}
	lost, err = s.Record(ctx, "w3", []store.Recorded{{ID: rowID["evt_2"], Outcome: store.Outcome{Status: store.Delivered}, At: now}})
	if err != nil || len(lost) != 1 {
		t.Errorf("new owner's record of a settled row: lost %v, %v; want it refused", lost, err)
	}
	got := map[string]string{}
	for _, r := range mustNotifications(t, s) {
		got[r.EventID] = fmt.Sprintf("%s/%d", r.Status, r.Attempts)
	}
	if want := "map[evt_1:delivered/1 evt_2:delivered/1 evt_3:pending/1]"; fmt.Sprint(got) != want {
		t.Errorf("rows = %v, want %s", got, want)
	}
}

func mustNotifications(t *testing.T, s *store.Store) []store.OutboxRow {
	t.Helper()
	rows, err := s.Notifications(context.Background(), nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
