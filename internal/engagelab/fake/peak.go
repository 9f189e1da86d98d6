package fake

import (
	"net/http"
	"sync/atomic"
	"time"
)

// Peak wraps a handler to count the requests it serves at once, each held for Hold first
// (long enough for requests to overlap): tests of concurrency limits read Most.
type Peak struct {
	Hold time.Duration

	requests, inFlight, most atomic.Int32
}

// Wrap returns h counted by p.
func (p *Peak) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		n := p.inFlight.Add(1)
		defer p.inFlight.Add(-1)
		for m := p.most.Load(); n > m && !p.most.CompareAndSwap(m, n); m = p.most.Load() {
		}
		time.Sleep(p.Hold)
		h.ServeHTTP(w, r)
	})
}

// Most is the most requests served at once so far.
func (p *Peak) Most() int { return int(p.most.Load()) }

// Requests is how many requests have come.
func (p *Peak) Requests() int { return int(p.requests.Load()) }
