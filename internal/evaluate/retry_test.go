package evaluate_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// A poll whose group fails is evaluated again, alone, from the poll as it came: a balance in
// another currency, which the first run turned into an upstream change for the alerts, is
// still stored as history the second time.
func TestAPollRunAgainAloneIsEvaluatedFromScratch(t *testing.T) {
	cfg, err := config.Parse([]byte(`
database: {url: "postgres://unused"}
defaults: {thresholds: {warning: "100", critical: "20"}, notify: []}
apps:
  - {name: a, dev_key: k, dev_secret: s}
  - {name: b, dev_key: k, dev_secret: s}
  - {name: z, dev_key: k, dev_secret: s}
`), func(string) (string, bool) { return "", false }, ".")
	if err != nil {
		t.Fatal(err)
	}
	st := pgtest.New(t)
	ctx := context.Background()
	ids, err := st.EnsureApps(ctx, []string{"a", "b", "z"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	ev, err := evaluate.New(evaluate.Config{Store: st, Apps: cfg.Apps, AppIDs: ids, Clock: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	dup := store.EventRecord{ID: "evt_dup", Alert: alert.Money, Type: alert.Firing, Rule: "low_balance",
		Severity: alert.SeverityWarning, Since: at, At: at, Payload: []byte(`{}`), Notifiers: []string{"ops"}}
	pgtest.Events(t, st, ids["b"], dup)
	waiting := func(n int) {
		notifytest.Eventually(t, fmt.Sprintf("%d polls waiting", n), func() bool { _, _, w := st.GroupStats(); return w == n })
	}

	// A group kept open while a's EUR poll and b's failing unit gather for the next one.
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = st.WithAppLockGrouped(ctx, ids["z"], nil, func(context.Context, *store.AppTx) error {
			close(started)
			<-release
			return nil
		})
	})
	<-started
	var errA, errB error
	wg.Go(func() {
		d := decimal.RequireFromString("50.0000")
		_, errA = ev.Observe(ctx, "a", &balance.Snapshot{PolledAt: at, Currency: "EUR", Balance: d, GiftBalance: decimal.Zero, TotalBalance: d}, nil)
	})
	waiting(1)
	wg.Go(func() {
		errB = st.WithAppLockGrouped(ctx, ids["b"], nil, func(ctx context.Context, tx *store.AppTx) error { return tx.InsertEvent(ctx, dup) })
	})
	waiting(2)
	close(release)
	wg.Wait()
	if errA != nil || errB == nil {
		t.Fatalf("a: %v (want stored), b: %v (want the duplicate event refused)", errA, errB)
	}
	var snap string
	if err := st.Pool().QueryRow(ctx, `SELECT currency || ' ' || total_balance::text FROM balance_snapshots WHERE app_id = $1`, ids["a"]).Scan(&snap); err != nil || snap != "EUR 50.0000" {
		t.Errorf("a's snapshot: %q (%v), want EUR 50.0000 stored as history", snap, err)
	}
	var kind string
	if err := st.Pool().QueryRow(ctx, `SELECT last_failure->>'kind' FROM app_state WHERE app_id = $1`, ids["a"]).Scan(&kind); err != nil || kind != string(balance.InvalidResponse) {
		t.Errorf("a's last failure for the alerts: %q (%v), want %s", kind, err, balance.InvalidResponse)
	}
}
