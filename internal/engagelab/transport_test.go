package engagelab_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
)

// balanceServer answers every request with a balance after hold, counting the TCP
// connections it accepts and the requests it serves at once.
func balanceServer(t *testing.T, hold time.Duration) (*httptest.Server, *atomic.Int32, *fake.Peak) {
	t.Helper()
	var conns atomic.Int32
	peak := &fake.Peak{Hold: hold}
	srv := httptest.NewUnstartedServer(peak.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"currency":"USD","balance":"1.0000","gift_balance":"0.0000","total_balance":"1.0000"}`))
	})))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns, peak
}

// TestConnectionsReused polls 200 times, 8 at a time, in bursts as a schedule makes them
// (every app due at the same instant, then nothing), and counts the TCP connections the
// server saw: the client keeps max_concurrency idle connections, so there are at most 8.
// Go's default transport keeps 2 idle and so dials 6 new ones for every burst.
func TestConnectionsReused(t *testing.T) {
	const (
		polls       = 200
		concurrency = 8
	)
	srv, conns, _ := balanceServer(t, time.Millisecond) // long enough for the polls to overlap

	run := func(c *engagelab.Client) int32 {
		conns.Store(0)
		for range polls / concurrency {
			var wg sync.WaitGroup
			for range concurrency {
				wg.Go(func() {
					if _, err := c.Balance(ctxWithTimeout(t, 10*time.Second), balance.ProductOTP, testKey, testSecret); err != nil {
						t.Errorf("Balance: %v", err)
					}
				})
			}
			wg.Wait()
		}
		return conns.Load()
	}

	if got := run(engagelab.New(srv.URL, engagelab.WithMaxConcurrency(concurrency))); got > concurrency {
		t.Errorf("%d polls at concurrency %d opened %d connections, want at most %d", polls, concurrency, got, concurrency)
	}
	// The same load through Go's default transport, to show the test can tell the difference.
	def := engagelab.New(srv.URL, engagelab.WithHTTPClient(&http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}))
	if got := run(def); got <= 2*concurrency {
		t.Errorf("Go's default transport opened only %d connections: the test no longer shows what it is about", got)
	} else {
		t.Logf("Go's default transport opened %d connections", got)
	}
}

// A caller sending more requests at once than WithMaxConcurrency said gets no more
// connections: the extra requests wait for one (the poller's own limit keeps it from
// happening; this is what makes a late idle connection no reason to dial another).
func TestConnectionsCappedAtMaxConcurrency(t *testing.T) {
	srv, conns, peak := balanceServer(t, 20*time.Millisecond)
	c := engagelab.New(srv.URL, engagelab.WithMaxConcurrency(4))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := c.Balance(ctxWithTimeout(t, 10*time.Second), balance.ProductOTP, testKey, testSecret); err != nil {
				t.Errorf("Balance: %v", err)
			}
		})
	}
	wg.Wait()
	if got := conns.Load(); got > 4 {
		t.Errorf("16 requests at once with max_concurrency 4 opened %d connections, want at most 4", got)
	}
	if got := peak.Most(); got > 4 {
		t.Errorf("%d requests reached the server at once, want at most 4", got)
	}
}
