// Package metrics exposes the monitor's Prometheus metrics. Counters (polls, deliveries) live
// in this process; every gauge (balances, last success, firing alerts, outbox) is read from the
// store at scrape time, so all replicas behind one database report the same values. It owns a
// registry of its own; the HTTP package serves it.
package metrics

import (
	"cmp"
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// scrapeTimeout bounds the store reads of one scrape: Prometheus gives up after its own
// scrape_timeout (10 s by default), and a hung database must not pile up goroutines.
const scrapeTimeout = 5 * time.Second

// Metrics holds the in-process counters and a collector that reads gauges from the store at
// scrape time (so replicas agree).
type Metrics struct {
	reg           *prometheus.Registry
	polls         *pollCounts
	pollDuration  prometheus.Histogram
	notifications *prometheus.CounterVec
	collector     *storeCollector
	// As Prometheus and Alertmanager export them: whether the last load of the config file
	// (at start or a reload) succeeded, and when one last did.
	reloadOK, reloadAt prometheus.Gauge
}

// Option changes what New builds.
type Option func(*options)

type options struct{ version string }

// WithVersion sets the version label of engagelab_build_info ("dev" without it).
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// New builds the metrics of the apps in cfg. The store is read at each scrape.
func New(st *store.Store, cfg *config.Config, opts ...Option) *Metrics {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	o.version = cmp.Or(o.version, "dev")
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "engagelab_build_info",
		Help:        "Always 1; the labels say which build of the monitor runs.",
		ConstLabels: prometheus.Labels{"version": o.version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	m := &Metrics{
		reg:   prometheus.NewRegistry(),
		polls: newPollCounts(),
		// One histogram for every app, as the metrics contract has it: one per app would be
		// 10 series × 10,000 apps, and the largest part of the service's memory.
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "engagelab_poll_duration_seconds",
			Help:    "Time taken by one balance poll, retries included.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engagelab_notifications_total",
			Help: "Notification attempts by notifier and result (delivered, retry, dead, dropped).",
		}, []string{"notifier", "result"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "engagelab_config_last_reload_successful",
			Help: "1 if the last load of the config file (at start or a reload) succeeded, 0 if it was refused and the running config stayed.",
		}),
		reloadAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "engagelab_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful load of the config file (at start or a reload).",
		}),
	}
	m.collector = &storeCollector{st: st, now: time.Now}
	m.SetConfig(cfg)
	m.reg.MustRegister(m.polls, m.pollDuration, m.notifications, m.collector, buildInfo, thresholdCollector{m.collector}, m.reloadOK, m.reloadAt,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetConfig makes the metrics follow the apps of cfg (a reload): their thresholds, and the
// gauges read from the store, which leave out apps no longer configured.
func (m *Metrics) SetConfig(cfg *config.Config) {
	apps := &appSet{names: make([]string, 0, len(cfg.Apps)), byName: make(map[string]*config.App, len(cfg.Apps))} // into cfg.Apps, not 10,000 copies
	for i, a := range cfg.Apps {
		apps.names = append(apps.names, a.Name)
		apps.byName[a.Name] = &cfg.Apps[i]
	}
	// Present from the start at 0, so rate() and increase() see the first poll.
	m.polls.ensure(apps.names)
	m.collector.apps.Store(apps)
}

// ConfigLoaded records a load of the config file at at: ok, or refused (at is then unused).
func (m *Metrics) ConfigLoaded(ok bool, at time.Time) {
	if !ok {
		m.reloadOK.Set(0)
		return
	}
	m.reloadOK.Set(1)
	m.reloadAt.Set(float64(at.UnixMilli()) / 1000)
}

// SetClock sets the clock that scrape-time values (outbox age, spend rates, runway) are
// measured at; time.Now by default. Call it before serving.
func (m *Metrics) SetClock(now func() time.Time) { m.collector.now = now }

// Registry is the registry to serve; it is not the global default one.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObservePoll counts one poll of app. result is "success" or the failure kind.
func (m *Metrics) ObservePoll(app, result string, took time.Duration) {
	m.polls.inc(app, result)
	m.pollDuration.Observe(took.Seconds())
}

// ObserveDelivery counts one delivery outcome: delivered, retry, dead or dropped.
func (m *Metrics) ObserveDelivery(notifier, result string) {
	m.notifications.WithLabelValues(notifier, result).Inc()
}

var (
	balanceDesc = prometheus.NewDesc("engagelab_balance",
		"Amounts of the latest stored snapshot (kind: balance, gift_balance, total_balance).",
		[]string{"app", "currency", "kind"}, nil)
	lastSuccessDesc = prometheus.NewDesc("engagelab_last_success_timestamp_seconds",
		"Unix time of the app's last successful poll.", []string{"app"}, nil)
	firingDesc = prometheus.NewDesc("engagelab_alert_firing",
		"1 while the alert fires at this rule and severity; absent otherwise.",
		[]string{"app", "alert", "rule", "severity"}, nil)
	pendingDesc = prometheus.NewDesc("engagelab_outbox_pending",
		"Notifications waiting in the outbox.", nil, nil)
	oldestDesc = prometheus.NewDesc("engagelab_outbox_oldest_pending_seconds",
		"Age of the oldest pending notification; 0 when none is pending.", nil, nil)
	silencedDesc = prometheus.NewDesc("engagelab_silenced",
		"1 while the app's notifications are silenced, else 0 (state is still tracked).", []string{"app"}, nil)
	scrapeErrorsDesc = prometheus.NewDesc("engagelab_scrape_errors_total",
		"Scrapes whose store reads failed; the gauges read from the store are then missing.", nil, nil)
)

// storeCollector reads the gauges from the store at each scrape.
type storeCollector struct {
	st     *store.Store
	apps   atomic.Pointer[appSet] // SetConfig replaces it
	now    func() time.Time
	errors atomic.Int64
}

// appSet is the configured apps, in config order and by name.
type appSet struct {
	names  []string
	byName map[string]*config.App
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{balanceDesc, lastSuccessDesc, firingDesc, silencedDesc, pendingDesc, oldestDesc, scrapeErrorsDesc,
		spendRateDesc, runwayDesc, spentTotalDesc, toppedUpTotalDesc} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if err := c.collect(ctx, ch); err != nil {
		c.errors.Add(1)
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorsDesc, prometheus.CounterValue, float64(c.errors.Load()))
}

func (c *storeCollector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	statuses, err := c.st.AppStatuses(ctx)
	if err != nil {
		return err
	}
	outbox, err := c.st.OutboxStats(ctx)
	if err != nil {
		return err
	}
	apps := c.apps.Load().names
	configured := make(map[string]bool, len(apps))
	for _, a := range apps {
		configured[a] = true
	}
	for _, s := range statuses {
		// An app removed from the config keeps its rows but is no longer monitored.
		if !configured[s.Name] {
			continue
		}
		if sn := s.Latest; sn != nil {
			// The only place amounts become floats: Prometheus has no other type.
			ch <- prometheus.MustNewConstMetric(balanceDesc, prometheus.GaugeValue, sn.Balance.InexactFloat64(), s.Name, sn.Currency, "balance")
			ch <- prometheus.MustNewConstMetric(balanceDesc, prometheus.GaugeValue, sn.GiftBalance.InexactFloat64(), s.Name, sn.Currency, "gift_balance")
			ch <- prometheus.MustNewConstMetric(balanceDesc, prometheus.GaugeValue, sn.TotalBalance.InexactFloat64(), s.Name, sn.Currency, "total_balance")
		}
		if !s.LastSuccessAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, float64(s.LastSuccessAt.UnixMilli())/1000, s.Name)
		}
		for _, f := range s.Firing {
			ch <- prometheus.MustNewConstMetric(firingDesc, prometheus.GaugeValue, 1, s.Name, f.Alert, f.Rule, f.Severity)
		}
		silenced := 0.0
		if s.SilencedUntil.After(c.now()) {
			silenced = 1
		}
		ch <- prometheus.MustNewConstMetric(silencedDesc, prometheus.GaugeValue, silenced, s.Name)
	}
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(outbox.Pending))
	oldest := 0.0
	if !outbox.OldestPending.IsZero() {
		oldest = max(0, c.now().Sub(outbox.OldestPending).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, oldest)
	return c.collectSpend(ctx, ch, configured)
}

// thresholdCollector exports each app's configured money thresholds, so that a dashboard can draw them
// beside engagelab_balance and a Prometheus rule can compare against them. They come from the
// config, not the store, so they stay while the database is away. The kind label names the
// amount that the level is compared with (the app's `amount` for warning and critical;
// total_balance for overdraft_limit), so `engagelab_balance < on(app, kind) engagelab_threshold`
// matches one series per app.
//
// They are made at scrape time from the configured apps (SetConfig's), rather than held as a
// gauge per app and level (30,000 of them at 10,000 apps) for the process's life.
type thresholdCollector struct{ c *storeCollector }

var thresholdDesc = prometheus.NewDesc("engagelab_threshold",
	"Configured money thresholds by app and level (warning, critical; overdraft_limit as a negative amount); kind is the amount compared.",
	[]string{"app", "kind", "level"}, nil)

func (t thresholdCollector) Describe(ch chan<- *prometheus.Desc) { ch <- thresholdDesc }

func (t thresholdCollector) Collect(ch chan<- prometheus.Metric) {
	apps := t.c.apps.Load()
	for _, name := range apps.names {
		a := apps.byName[name]
		// The only place thresholds become floats: Prometheus has no other type.
		ch <- prometheus.MustNewConstMetric(thresholdDesc, prometheus.GaugeValue, a.Warning.InexactFloat64(), a.Name, a.Amount, "warning")
		ch <- prometheus.MustNewConstMetric(thresholdDesc, prometheus.GaugeValue, a.Critical.InexactFloat64(), a.Name, a.Amount, "critical")
		if a.OverdraftLimit != nil {
			ch <- prometheus.MustNewConstMetric(thresholdDesc, prometheus.GaugeValue, a.OverdraftLimit.Neg().InexactFloat64(), a.Name, "total_balance", "overdraft_limit")
		}
	}
}
