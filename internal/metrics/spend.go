package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/spend"
)

var (
	spendRateDesc = prometheus.NewDesc("engagelab_spend_rate_per_hour",
		"Spend per hour over the trailing window (1h, 24h, 7d), top-ups excluded, from the hourly ledger; absent while unknown. "+
			"The 1h window is the ledger's current and previous hour (60 to 120 minutes).",
		[]string{"app", "window"}, nil)
	runwayDesc = prometheus.NewDesc("engagelab_runway_seconds",
		"Time until the app's chosen amount reaches its floor at the 24h rate (1h rate under a day of history); absent while unknown or infinite.",
		[]string{"app"}, nil)
	spentTotalDesc = prometheus.NewDesc("engagelab_spent_total",
		"Money spent since the app was first seen, in its currency.", []string{"app"}, nil)
	toppedUpTotalDesc = prometheus.NewDesc("engagelab_topped_up_total",
		"Money topped up (recharges and gift grants) since the app was first seen, in its currency.", []string{"app"}, nil)
)

// collectSpend reports the spend series of every configured app from two queries, whatever
// the number of apps: the running totals (app_state) and the ledger sums (spend_ledger_1h).
func (c *storeCollector) collectSpend(ctx context.Context, ch chan<- prometheus.Metric, configured map[string]bool) error {
	sums, err := c.st.SpendSummaries(ctx)
	if err != nil {
		return err
	}
	for name, s := range sums {
		if !configured[name] {
			continue
		}
		// The only place amounts become floats: Prometheus has no other type.
		ch <- prometheus.MustNewConstMetric(spentTotalDesc, prometheus.CounterValue, s.Spent.InexactFloat64(), name)
		ch <- prometheus.MustNewConstMetric(toppedUpTotalDesc, prometheus.CounterValue, s.ToppedUp.InexactFloat64(), name)
	}
	now := c.now()
	ledger, err := c.st.AllLedgerSums(ctx, now)
	if err != nil {
		return err
	}
	for _, l := range ledger {
		app, ok := c.apps.Load().byName[l.Name]
		if !ok || !l.Known {
			continue
		}
		st := spend.FromLedgerSums(now, l.FirstAt, l.Spent1h, l.Spent24h, l.Spent7d)
		for _, w := range []struct {
			name string
			rate *decimal.Decimal
		}{{"1h", st.Rate1h}, {"24h", st.Rate24h}, {"7d", st.Rate7d}} {
			if w.rate != nil {
				ch <- prometheus.MustNewConstMetric(spendRateDesc, prometheus.GaugeValue, w.rate.InexactFloat64(), l.Name, w.name)
			}
		}
		latest := &balance.Snapshot{Balance: l.Balance, TotalBalance: l.TotalBalance}
		if rw := evaluate.RunwayOf(*app, st, latest); rw.Known && !rw.Infinite {
			ch <- prometheus.MustNewConstMetric(runwayDesc, prometheus.GaugeValue, rw.Left.Seconds(), l.Name)
		}
	}
	return nil
}
