package pgtest

import (
	"context"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Snapshot stores snap for app as history, without evaluating any alert.
func Snapshot(t testing.TB, st *store.Store, appID int64, snap balance.Snapshot) {
	t.Helper()
	if err := st.WithAppLock(context.Background(), appID, func(ctx context.Context, tx *store.AppTx) error {
		return tx.InsertSnapshot(ctx, snap)
	}); err != nil {
		t.Fatalf("store snapshot: %v", err)
	}
}

// Events records events of app with their outbox rows, as an evaluation would.
func Events(t testing.TB, st *store.Store, appID int64, events ...store.EventRecord) {
	t.Helper()
	if err := st.WithAppLock(context.Background(), appID, func(ctx context.Context, tx *store.AppTx) error {
		for _, e := range events {
			if err := tx.InsertEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("record events: %v", err)
	}
}

// Change applies change to app's state under its lock and saves it.
func Change(t testing.TB, st *store.Store, appID int64, change func(*store.AppState)) {
	t.Helper()
	if err := st.WithAppLock(context.Background(), appID, func(ctx context.Context, tx *store.AppTx) error {
		s := tx.State()
		change(&s)
		return tx.SaveState(ctx, s)
	}); err != nil {
		t.Fatalf("change app state: %v", err)
	}
}
