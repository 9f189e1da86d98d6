package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/notify"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// Marks shared by replicas in the database.
const (
	markClaimed   = "heartbeat.claimed"   // a replica took this period's ping
	markSucceeded = "heartbeat.succeeded" // the URL last answered 2xx
)

// pingTimeout bounds one call of the heartbeat URL.
const pingTimeout = 10 * time.Second

// Beat is the result of one heartbeat check.
type Beat struct {
	At      time.Time
	Healthy bool
	// Overdue are the apps not polled within their interval and slack, and not failing with
	// an alert that reached someone.
	Overdue []string
	// OutboxAge is the age of the oldest pending notification; 0 when none is pending.
	OutboxAge time.Duration
	Pinged    bool  // this process called the URL and it answered 2xx
	Skipped   bool  // healthy, but another replica pinged within this period
	Err       error // the check or the ping failed; it never contains the URL
}

// Reason says in one sentence why a cycle was not healthy; empty when it was.
func (b Beat) Reason(maxOutboxAge time.Duration) string {
	var parts []string
	if len(b.Overdue) > 0 {
		parts = append(parts, fmt.Sprintf("%d app(s) not polled on time: %s", len(b.Overdue), strings.Join(b.Overdue, ", ")))
	}
	if b.OutboxAge > maxOutboxAge {
		parts = append(parts, fmt.Sprintf("the oldest pending notification is %s old (heartbeat.max_outbox_age %s)",
			b.OutboxAge.Round(time.Second), maxOutboxAge))
	}
	return strings.Join(parts, "; ")
}

// Heartbeat checks the cycle as of the clock's now and, when it was healthy and no replica
// pinged within this period, calls the heartbeat URL. Every outcome but a quiet success is
// one log line.
func (w *Watcher) Heartbeat(ctx context.Context) Beat {
	cfg := w.config() // one config for the whole check, whatever a reload does meanwhile
	hb := cfg.Heartbeat
	log := w.cfg.Logger.With("component", "heartbeat")
	now := w.cfg.Clock()
	b := Beat{At: now}
	if hb == nil {
		return b
	}
	if err := w.check(ctx, cfg, now, &b); err != nil {
		b.Err = err
		if ctx.Err() == nil {
			log.Warn("heartbeat withheld: the health check failed", "error", err)
		}
		return b
	}
	if !b.Healthy {
		log.Warn("heartbeat withheld: the cycle was not healthy", "reason", b.Reason(hb.MaxOutboxAge),
			"overdue_apps", b.Overdue, "outbox_oldest_pending", b.OutboxAge.Round(time.Second))
		return b
	}
	// One ping per period across replicas: a replica checking within 90 % of a period after
	// another one's ping leaves it at that.
	prev, ok, err := w.cfg.Store.ClaimMark(ctx, markClaimed, now, now.Add(-hb.Every*9/10))
	if err != nil {
		b.Err = err
		log.Warn("heartbeat withheld: the health check failed", "error", err)
		return b
	}
	if !ok {
		b.Skipped = true
		log.Debug("heartbeat: another replica pinged within this period")
		return b
	}
	if err := w.ping(ctx, hb, len(cfg.Apps), b); err != nil {
		b.Err = err
		log.Warn("heartbeat ping failed; the next period tries again", "error", err)
		// Let another replica try before this one's next period.
		if rerr := w.cfg.Store.ReleaseMark(context.WithoutCancel(ctx), markClaimed, now, prev); rerr != nil {
			log.Warn("could not release the heartbeat claim", "error", rerr)
		}
		return b
	}
	b.Pinged = true
	if err := w.cfg.Store.SetMark(ctx, markSucceeded, now); err != nil {
		log.Warn("heartbeat sent, but its time could not be recorded for the metric", "error", err)
	}
	log.Debug("heartbeat sent")
	return b
}

// check fills b: the apps overdue, the outbox age, and whether that is healthy.
//
// An app is on time when its last poll (failed or not) is no older than its interval plus
// slack, measured from the later of that poll and the process start; slack is half the
// interval (at least a minute) plus engagelab.timeout, for the jitter and a slow answer.
// An app polled late whose access or data alert fires and reached a notifier counts as on
// time: it is failing, and someone has been told.
func (w *Watcher) check(ctx context.Context, cfg *config.Config, now time.Time, b *Beat) error {
	names := make([]string, len(cfg.Apps))
	for i, a := range cfg.Apps {
		names[i] = a.Name
	}
	health, err := w.cfg.Store.PollHealth(ctx, names)
	if err != nil {
		return err
	}
	for i, h := range health {
		app := cfg.Apps[i]
		last := h.LastPolledAt
		if last.Before(w.cfg.Started) {
			last = w.cfg.Started
		}
		limit := app.Interval + max(app.Interval/2, time.Minute) + cfg.EngageLab.Timeout
		if now.Sub(last) > limit && !h.Told {
			b.Overdue = append(b.Overdue, h.Name)
		}
	}
	ob, err := w.cfg.Store.OutboxStats(ctx)
	if err != nil {
		return err
	}
	if !ob.OldestPending.IsZero() {
		b.OutboxAge = max(0, now.Sub(ob.OldestPending))
	}
	b.Healthy = len(b.Overdue) == 0 && b.OutboxAge <= cfg.Heartbeat.MaxOutboxAge
	return nil
}

// ping calls the URL once. A POST carries a one-line summary, which healthchecks.io shows
// beside the ping.
func (w *Watcher) ping(ctx context.Context, hb *config.Heartbeat, apps int, b Beat) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	raw := hb.URL.Reveal()
	var body io.Reader
	if hb.Method == http.MethodPost {
		body = strings.NewReader(fmt.Sprintf("%d apps polled on time; oldest pending notification %s\n",
			apps, b.OutboxAge.Round(time.Second)))
	}
	req, err := http.NewRequestWithContext(ctx, hb.Method, raw, body)
	if err != nil {
		return scrub(err, raw)
	}
	req.Header.Set("User-Agent", "engagelab-monitor")
	if body != nil {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return scrub(err, raw)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("heartbeat URL at %s answered HTTP %d", notify.RedactURL(raw), resp.StatusCode)
	}
	return nil
}

// scrub words a failed call without the URL, whose path is the check's credential: net/http
// puts the whole URL into its errors.
func scrub(err error, raw string) error {
	msg := notify.RedactErr(err).Error()
	origin := notify.RedactURL(raw)
	msg = strings.ReplaceAll(msg, raw, origin)
	if i := strings.Index(raw, "://"); i >= 0 {
		if j := strings.IndexByte(raw[i+3:], '/'); j >= 0 {
			if rest := raw[i+3+j:]; len(rest) > 1 {
				msg = strings.ReplaceAll(msg, rest, "/***")
			}
		}
	}
	return errors.New("heartbeat URL at " + origin + ": " + msg)
}

var lastSuccessDesc = prometheus.NewDesc("engagelab_heartbeat_last_success_timestamp_seconds",
	"Unix time of the last heartbeat ping that the URL answered with 2xx, by any replica; absent before the first.", nil, nil)

// Collector exports the time of the last successful heartbeat, read from the database at
// scrape time so that every replica shows the same value.
func Collector(st *store.Store) prometheus.Collector { return collector{st} }

type collector struct{ st *store.Store }

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- lastSuccessDesc }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	at, err := c.st.Mark(ctx, markSucceeded)
	if err != nil || at.IsZero() {
		return // the store collector counts scrape errors; this gauge is then absent
	}
	ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, float64(at.UnixMilli())/1000)
}
