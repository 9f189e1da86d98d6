package app_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
)

// notYetExported are metric names that the dashboard or the rules may use before the service
// exports them (a contracted metric whose change has not landed yet), each with a comment
// saying which. It is empty: the spend metrics it held (engagelab_spend_rate_per_hour,
// engagelab_runway_seconds, engagelab_spent_total, engagelab_topped_up_total) are exported
// now. A name left here after the service exports it fails the test.
var notYetExported = []string{}

var metricName = regexp.MustCompile(`\bengagelab_[a-zA-Z0-9_]+`)

// dashboardExprs returns every PromQL expression in the Grafana dashboard: panel targets and
// template variable queries.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/grafana/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Type       string
				Definition string
			}
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("dashboard panel %q has an empty query", p.Title)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Type == "query" {
			exprs = append(exprs, v.Definition)
		}
	}
	return exprs
}

// rulesExprs returns the expression of every rule in the Prometheus rules file.
func rulesExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("rules.yml: %v", err)
	}
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Expr == "" {
				t.Errorf("rule %s has no expression", r.Alert)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs
}

// The dashboard and the alerting rules use only metrics that the running service exports (or
// that are contracted and listed in notYetExported). A renamed metric, or a typo in a panel,
// fails here rather than as an empty panel or an alert that never fires.
func TestDashboardAndRulesUseExportedMetrics(t *testing.T) {
	t.Parallel()
	// Draining, so that the spend series (rates, runway) have something to say.
	h := newHarness(t, fake.App{Name: "low", DevKey: "k-low", DevSecret: "s-low", Balance: "50", DrainPerMinute: "60"})
	upstream := httptest.NewServer(h.fake)
	t.Cleanup(upstream.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(hook.Close)
	h.start(h.config(upstream.URL, `
notifiers: [{name: hook, type: webhook, url: "`+hook.URL+`/hook"}]
apps:
  - {name: low, dev_key: k-low, dev_secret: s-low, overdraft_limit: "200", notify: [hook], runway: {min_history: 1s}}
`))
	// Polls, a firing alert, a delivery and a known runway: then every family the service has
	// shows up.
	var fams map[string]*dto.MetricFamily
	waitUntil(t, "polls, a firing alert, a delivery and a runway in /metrics", func() bool {
		fams = scrape(t, h.addr)
		return fams["engagelab_alert_firing"] != nil && fams["engagelab_notifications_total"] != nil &&
			fams["engagelab_balance"] != nil && fams["engagelab_runway_seconds"] != nil
	})

	exported := map[string]bool{}
	for name, f := range fams {
		exported[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				exported[name+suffix] = true
			}
		}
	}
	for _, name := range notYetExported {
		if exported[name] {
			t.Errorf("%s is exported now: remove it from notYetExported in %s", name, "internal/app/deploy_test.go")
		}
	}

	for file, exprs := range map[string][]string{
		"deploy/grafana/dashboard.json": dashboardExprs(t),
		"deploy/prometheus/rules.yml":   rulesExprs(t),
	} {
		used := map[string]bool{}
		for _, e := range exprs {
			for _, name := range metricName.FindAllString(e, -1) {
				used[name] = true
			}
		}
		if len(used) < 5 {
			t.Errorf("%s: found only %d engagelab_ metric names in %d expressions; is the file read right?", file, len(used), len(exprs))
		}
		var unknown []string
		for name := range used {
			if !exported[name] && !slices.Contains(notYetExported, name) {
				unknown = append(unknown, name)
			}
		}
		sort.Strings(unknown)
		if len(unknown) > 0 {
			var have []string
			for name := range exported {
				if strings.HasPrefix(name, "engagelab_") {
					have = append(have, name)
				}
			}
			sort.Strings(have)
			t.Errorf("%s uses metrics the service does not export: %v\nexported: %v", file, unknown, have)
		}
	}
}
