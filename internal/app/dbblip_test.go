package app_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

func readyz(t *testing.T, addr string) int {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The database goes away for a while: the service keeps running, says it is not ready, and
// stores polls again once the database is back, without a restart.
func TestServiceRidesOutADatabaseOutage(t *testing.T) {
	h := newHarness(t, fake.App{Name: "checkout", DevKey: "k", DevSecret: "s", Balance: "500"})
	upstream := httptest.NewServer(h.fake)
	defer upstream.Close()
	direct := h.dbURL
	var px *pgtest.Proxy
	h.dbURL, px = pgtest.Proxied(t, direct)
	cfg := h.config(upstream.URL, `apps: [{name: checkout, dev_key: k, dev_secret: s}]`)
	h.dbURL = direct
	h.start(cfg)
	h.waitPolls("checkout", 2)
	if got := readyz(t, h.addr); got != http.StatusOK {
		t.Fatalf("readyz = %d before the outage", got)
	}

	px.SetDown(true)
	h.mu.Lock()
	before := h.polled["checkout"]
	h.mu.Unlock()
	h.waitPolls("checkout", before+2) // polls go on; storing them fails
	if got := readyz(t, h.addr); got != http.StatusServiceUnavailable {
		t.Errorf("readyz = %d during the outage, want 503", got)
	}
	back := time.Now()
	px.SetDown(false)
	h.mu.Lock()
	before = h.polled["checkout"]
	h.mu.Unlock()
	h.waitPolls("checkout", before+3)
	if got := readyz(t, h.addr); got != http.StatusOK {
		t.Errorf("readyz = %d after the outage, want 200", got)
	}

	st, err := store.Open(context.Background(), direct, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pts, err := st.Snapshots(context.Background(), "checkout", back, time.Now().Add(time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) < 2 {
		t.Errorf("%d snapshots stored after the database came back, want at least 2", len(pts))
	}
}
