package poller_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
	"github.com/opsbalance/engagelab-monitor/internal/poller"
)

// max_concurrency bounds the requests to EngageLab, not the polls: a poll whose result waits
// for the database holds no place, so the other polls' requests go on meanwhile.
func TestAPollWaitingForTheDatabaseHoldsNoUpstreamPlace(t *testing.T) {
	f := fake.New(fake.Scenario{Apps: fakeApps(8)}, nil)
	var answered atomic.Int32
	peak := &fake.Peak{Hold: 50 * time.Millisecond}
	upstream := httptest.NewServer(peak.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.ServeHTTP(w, r)
		answered.Add(1)
	})))
	defer upstream.Close()
	st, _, apps, ev := setupEvery(t, "1h", 8, engagelab.New(upstream.URL))
	p, err := poller.New(poller.Config{Evaluator: ev, Client: engagelab.New(upstream.URL), Apps: apps, MaxConcurrency: 2})
	if err != nil {
		t.Fatal(err)
	}

	// app0's state row is locked elsewhere: its result (and those grouped after it) wait.
	ctx := context.Background()
	tx, err := st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM app_state s JOIN apps a ON a.id = s.app_id WHERE a.name = 'app0' FOR UPDATE OF s`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]poller.Result, 8)
	for i, a := range apps {
		wg.Go(func() { results[i] = p.Poll(ctx, a.Name) })
	}
	notifytest.Eventually(t, "every request answered while app0's result waits", func() bool { return answered.Load() == 8 })
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, r := range results {
		if r.Err != nil || r.Snapshot == nil {
			t.Errorf("%s: %v", r.App, r.Err)
		}
	}
	if got := peak.Most(); got != 2 {
		t.Errorf("at most %d requests were in flight, want exactly max_concurrency = 2", got)
	}
	var stored int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM balance_snapshots`).Scan(&stored); err != nil || stored != 8 {
		t.Errorf("%d snapshots stored (%v), want 8", stored, err)
	}
}
