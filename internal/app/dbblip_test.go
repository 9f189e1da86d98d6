package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// proxy forwards TCP to Postgres and can cut every connection, as a database restart or a
// network blip does.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(u, c); u.Close() }()
		go func() { _, _ = io.Copy(c, u); c.Close() }()
	}
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

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
	u, _ := url.Parse(direct)
	px := newProxy(t, u.Host)
	u.Host = px.ln.Addr().String()
	h.dbURL = u.String()
	cfg := h.config(upstream.URL, `apps: [{name: checkout, dev_key: k, dev_secret: s}]`)
	h.dbURL = direct
	h.start(cfg)
	h.waitPolls("checkout", 2)
	if got := readyz(t, h.addr); got != http.StatusOK {
		t.Fatalf("readyz = %d before the outage", got)
	}

	px.setDown(true)
	h.mu.Lock()
	before := h.polled["checkout"]
	h.mu.Unlock()
	h.waitPolls("checkout", before+2) // polls go on; storing them fails
	if got := readyz(t, h.addr); got != http.StatusServiceUnavailable {
		t.Errorf("readyz = %d during the outage, want 503", got)
	}
	back := time.Now()
	px.setDown(false)
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
