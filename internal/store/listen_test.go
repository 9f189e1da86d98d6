package store_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Notifications queued by another process (another pool here) wake this process's worker.
func TestListenOutboxWakesOnAnotherProcesssRows(t *testing.T) {
	url := pgtest.URL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() *store.Store {
		s, err := store.Open(ctx, url, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	listener, writer := open(), open()
	ids, err := writer.EnsureApps(ctx, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	woken := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() { defer close(done); listener.ListenOutbox(ctx, func() { woken <- struct{}{} }) }()
	select { // the first wake says the listener is listening
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("listener never started")
	}
	now := time.Now()
	pgtest.Events(t, writer, ids["a"], store.EventRecord{ID: "evt_x", Alert: alert.Money, Type: alert.Firing,
		Rule: "low_balance", Severity: alert.SeverityWarning, Since: now, At: now, Payload: []byte(`{}`), Notifiers: []string{"ops"}})
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("queued notifications did not wake the listener")
	}
	cancel()
	<-done
}
