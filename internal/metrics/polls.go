package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var pollsDesc = prometheus.NewDesc("engagelab_polls_total",
	"Balance polls by app and result (success or the failure kind).", []string{"app", "result"}, nil)

// pollCounts is engagelab_polls_total. A CounterVec keeps a counter, its label pairs and a
// created timestamp per series: 550 B an app, at 10,000 apps a quarter of the service's live
// heap, and so twice that at the peak of a GC cycle. Here a series is a count and the time it
// was created; its labels are made at scrape time. Series are never removed, as a CounterVec's
// were not: an app dropped by a reload keeps its counts.
type pollCounts struct {
	mu      sync.RWMutex
	success map[string]*pollCount    // by app: every configured app's, from the start
	other   map[[2]string]*pollCount // by app and failure kind: made at the first such poll
}

type pollCount struct {
	n       atomic.Uint64
	created int64 // Unix nanoseconds
}

func newPollCounts() *pollCounts {
	return &pollCounts{success: map[string]*pollCount{}, other: map[[2]string]*pollCount{}}
}

// ensure makes the success series of apps, at 0, that do not have one yet.
func (p *pollCounts) ensure(apps []string) {
	now := time.Now().UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range apps {
		if p.success[a] == nil {
			p.success[a] = &pollCount{created: now}
		}
	}
}

func (p *pollCounts) inc(app, result string) {
	p.mu.RLock()
	var c *pollCount
	if result == "success" {
		c = p.success[app]
	} else {
		c = p.other[[2]string{app, result}]
	}
	p.mu.RUnlock()
	if c == nil {
		c = p.create(app, result)
	}
	c.n.Add(1)
}

func (p *pollCounts) create(app, result string) *pollCount {
	p.mu.Lock()
	defer p.mu.Unlock()
	if result == "success" {
		if p.success[app] == nil {
			p.success[app] = &pollCount{created: time.Now().UnixNano()}
		}
		return p.success[app]
	}
	k := [2]string{app, result}
	if p.other[k] == nil {
		p.other[k] = &pollCount{created: time.Now().UnixNano()}
	}
	return p.other[k]
}

func (p *pollCounts) Describe(ch chan<- *prometheus.Desc) { ch <- pollsDesc }

func (p *pollCounts) Collect(ch chan<- prometheus.Metric) {
	type series struct {
		app, result string
		c           *pollCount
	}
	// Sent after the lock is let go: a scrape must not hold up the polls that count.
	p.mu.RLock()
	all := make([]series, 0, len(p.success)+len(p.other))
	for app, c := range p.success {
		all = append(all, series{app, "success", c})
	}
	for k, c := range p.other {
		all = append(all, series{k[0], k[1], c})
	}
	p.mu.RUnlock()
	for _, s := range all {
		ch <- prometheus.MustNewConstMetricWithCreatedTimestamp(pollsDesc, prometheus.CounterValue,
			float64(s.c.n.Load()), time.Unix(0, s.c.created), s.app, s.result)
	}
}
