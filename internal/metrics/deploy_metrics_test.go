package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// scrape serves m's registry as /metrics does and parses the text with Prometheus's parser.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// series lists a family as sorted "label=value,... value" lines.
func series(fams map[string]*dto.MetricFamily, name string) []string {
	var out []string
	for _, m := range fams[name].GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
		out = append(out, strings.Join(ls, ",")+" "+decimal.NewFromFloat(v).String())
	}
	sort.Strings(out)
	return out
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestBuildInfoAndThresholds(t *testing.T) {
	st := pgtest.New(t)
	limit := d("200")
	cfg := &config.Config{Apps: []config.App{
		{Name: "checkout", Amount: "total_balance", Warning: d("500"), Critical: d("100.25"), OverdraftLimit: &limit},
		{Name: "login-eu", Amount: "balance", Warning: d("100"), Critical: d("20")},
	}}
	m := New(st, cfg, WithVersion("v1.2.3"))
	fams := scrape(t, m)

	if diff := cmp.Diff([]string{"goversion=" + runtime.Version() + ",version=v1.2.3 1"}, series(fams, "engagelab_build_info")); diff != "" {
		t.Errorf("build_info (-want +got):\n%s", diff)
	}
	wantThresholds := []string{
		"app=checkout,kind=total_balance,level=critical 100.25",
		"app=checkout,kind=total_balance,level=overdraft_limit -200",
		"app=checkout,kind=total_balance,level=warning 500",
		"app=login-eu,kind=balance,level=critical 20",
		"app=login-eu,kind=balance,level=warning 100",
	}
	if diff := cmp.Diff(wantThresholds, series(fams, "engagelab_threshold")); diff != "" {
		t.Errorf("thresholds (-want +got):\n%s", diff)
	}
	if got := fams["engagelab_threshold"].GetType(); got != dto.MetricType_GAUGE {
		t.Errorf("threshold type = %v", got)
	}

	// The thresholds come from the config: they stay while the database is away.
	st.Close()
	fams = scrape(t, m)
	if diff := cmp.Diff(wantThresholds, series(fams, "engagelab_threshold")); diff != "" {
		t.Errorf("thresholds with the database closed (-want +got):\n%s", diff)
	}
	if len(series(fams, "engagelab_build_info")) != 1 {
		t.Errorf("build_info missing with the database closed")
	}
}

func TestBuildInfoVersionDefaultsToDev(t *testing.T) {
	m := New(pgtest.New(t), &config.Config{})
	if diff := cmp.Diff([]string{"goversion=" + runtime.Version() + ",version=dev 1"}, series(scrape(t, m), "engagelab_build_info")); diff != "" {
		t.Errorf("build_info (-want +got):\n%s", diff)
	}
}

// engagelab_silenced is 1 while an app is silenced and 0 otherwise, for every configured app
// the store knows, so that a rule can use `unless on(app) engagelab_silenced == 1`.
func TestSilenced(t *testing.T) {
	st := pgtest.New(t)
	ctx := context.Background()
	ids, err := st.EnsureApps(ctx, []string{"checkout", "signup", "expired", "removed"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	silence := func(app string, until time.Time) {
		t.Helper()
		if err := st.WithAppLock(ctx, ids[app], func(ctx context.Context, tx *store.AppTx) error {
			s := tx.State()
			s.Alerts.SilencedUntil = until
			s.SilenceReason = "recharge ordered"
			return tx.SaveState(ctx, s)
		}); err != nil {
			t.Fatal(err)
		}
	}
	silence("checkout", now.Add(2*time.Hour))
	silence("expired", now.Add(-time.Minute))
	silence("removed", now.Add(2*time.Hour))
	m := New(st, &config.Config{Apps: []config.App{{Name: "checkout"}, {Name: "signup"}, {Name: "expired"}}})
	m.collector.now = func() time.Time { return now }

	want := []string{"app=checkout 1", "app=expired 0", "app=signup 0"}
	if diff := cmp.Diff(want, series(scrape(t, m), "engagelab_silenced")); diff != "" {
		t.Errorf("silenced (-want +got):\n%s", diff)
	}
	// The silence ends by itself.
	m.collector.now = func() time.Time { return now.Add(3 * time.Hour) }
	want = []string{"app=checkout 0", "app=expired 0", "app=signup 0"}
	if diff := cmp.Diff(want, series(scrape(t, m), "engagelab_silenced")); diff != "" {
		t.Errorf("silenced after the end (-want +got):\n%s", diff)
	}
}
