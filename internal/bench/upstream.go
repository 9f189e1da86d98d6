package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
)

// Upstream stats, as the fake's process reports them on GET /_bench/stats.
type upstreamStats struct {
	Conns    int64 `json:"conns"`    // TCP connections accepted so far
	Requests int64 `json:"requests"` // balance requests answered so far
}

// appName, devKey and devSecret name the i-th benchmark app, in the config and the fake alike.
func appName(i int) string   { return fmt.Sprintf("app%05d", i) }
func devKey(i int) string    { return fmt.Sprintf("key%05d", i) }
func devSecret(i int) string { return fmt.Sprintf("secret%05d", i) }

// ServeFake serves the fake EngageLab API for n apps on 127.0.0.1 until ctx ends, counting
// accepted connections and answered requests. It runs in a process of its own (cmd/bench
// starts one), so that the CPU it spends is not counted as the monitor's or the bare loop's.
// ready is called with the address once it accepts connections.
func ServeFake(ctx context.Context, n int, ready func(addr string)) error {
	var sc fake.Scenario
	for i := range n {
		// Balances well above the thresholds and a slow drain: polls store snapshots and
		// raise no alert, as on a quiet day.
		sc.Apps = append(sc.Apps, fake.App{Name: appName(i), DevKey: devKey(i), DevSecret: devSecret(i),
			Balance: "5000.0000", Gift: "12.5000", DrainPerMinute: "0.0100"})
	}
	f := fake.New(sc, nil)
	var st upstreamStats
	mux := http.NewServeMux()
	mux.Handle("/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		atomic.AddInt64(&st.Requests, 1)
		f.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /_bench/stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(upstreamStats{Conns: atomic.LoadInt64(&st.Conns), Requests: atomic.LoadInt64(&st.Requests)})
	})
	// A webhook receiver for the monitor's notifier, answering 200 to anything.
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			atomic.AddInt64(&st.Conns, 1)
		}
	}}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	ready(ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func fetchStats(ctx context.Context, base string) (upstreamStats, error) {
	var st upstreamStats
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_bench/stats", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	return st, json.NewDecoder(res.Body).Decode(&st)
}

// bareLoop GETs every app's balance once, conc at a time, with a client keeping conc idle
// connections: the least any poller can do over HTTP, the ceiling of the poll figure.
func bareLoop(ctx context.Context, base string, n, conc int) error {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost, t.MaxIdleConns = conc, 2*conc
	hc := &http.Client{Transport: t, Timeout: 30 * time.Second}
	defer t.CloseIdleConnections()
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		errs = make(chan error, conc)
	)
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/balance", nil)
				req.SetBasicAuth(devKey(i), devSecret(i))
				res, err := hc.Do(req)
				if err == nil {
					var body struct {
						TotalBalance string `json:"total_balance"`
					}
					err = json.NewDecoder(res.Body).Decode(&body)
					res.Body.Close()
					if err == nil && res.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", res.StatusCode)
					}
				}
				if err != nil {
					errs <- fmt.Errorf("bare GET of %s: %w", appName(i), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// rtProxy forwards TCP connections to a Postgres server and counts round trips: a client
// sending after the server last spoke (or first) starts one. Pipelined statements (a pgx
// batch) are one round trip, as they cost one network wait.
type rtProxy struct {
	ln     net.Listener
	target string
	trips  atomic.Int64
	wg     sync.WaitGroup
}

func newRTProxy(target string) (*rtProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &rtProxy{ln: ln, target: target}
	p.wg.Go(p.accept)
	return p, nil
}

func (p *rtProxy) Addr() string { return p.ln.Addr().String() }

func (p *rtProxy) Close() { p.ln.Close(); p.wg.Wait() }

func (p *rtProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *rtProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	var clientSpoke atomic.Bool // the last bytes went client → server
	done := make(chan struct{}, 2)
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if !clientSpoke.Swap(true) {
					p.trips.Add(1)
				}
				if _, werr := server.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				clientSpoke.Store(false)
				if _, werr := client.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	<-done
}
