package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/httpapi"
	"github.com/opsbalance/engagelab-monitor/internal/logtest"
	"github.com/opsbalance/engagelab-monitor/internal/metrics"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
)

// spendNow is the clock of the spend tests: ten minutes after drain's last poll.
var spendNow = time.Date(2026, 11, 26, 12, 10, 0, 0, time.UTC)

// newSpendEnv serves three apps seeded through the evaluator (so the ledger is booked as in
// production):
//   - drain: from 500.0000 at 2026-11-25T10:00Z, 1.0000 spent every 30 minutes, with a
//     recharge at 2026-11-26T06:00Z that shows as +99 (100 paid in, 1 spent in the interval),
//     last poll at 12:00 (548.0000); overdraft_limit 100; its day starts in Asia/Shanghai (UTC+8);
//   - idle: one poll at 12:00, 100.0000 (ten minutes of history: runway unknown);
//   - never: never polled.
func newSpendEnv(t *testing.T) *env {
	t.Helper()
	cfg, err := config.Parse([]byte(`
database: {url: "postgres://unused"}
defaults: {thresholds: {warning: "10", critical: "5"}, stale_after: 1h, notify: []}
apps:
  - {name: drain, dev_key: k, dev_secret: s, overdraft_limit: "100", spend_day_timezone: Asia/Shanghai}
  - {name: idle, dev_key: k, dev_secret: s}
  - {name: never, dev_key: k, dev_secret: s}
`), func(string) (string, bool) { return "", false }, ".")
	if err != nil {
		t.Fatal(err)
	}
	st := pgtest.New(t)
	ids, err := st.EnsureApps(context.Background(), []string{"drain", "idle", "never"})
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return spendNow }
	ev, err := evaluate.New(evaluate.Config{Store: st, Apps: cfg.Apps, AppIDs: ids, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for k := 0; k <= 52; k++ {
		total := 500 - k
		if k >= 40 {
			total += 100
		}
		seedSnap(t, ev, "drain", t0.Add(time.Duration(k)*30*time.Minute), total)
	}
	seedSnap(t, ev, "idle", time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), 100)

	m := metrics.New(st, cfg)
	m.SetClock(clock)
	e := &env{st: st, cfg: cfg, ids: ids, logs: &logtest.Buffer{}, metrics: m}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Store: st, Config: cfg, Metrics: m, Clock: clock,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil))}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func seedSnap(t *testing.T, ev *evaluate.Evaluator, app string, at time.Time, total int) {
	t.Helper()
	s := &balance.Snapshot{PolledAt: at, Currency: "USD", Balance: d(strconv.Itoa(total)), GiftBalance: d("0"), TotalBalance: d(strconv.Itoa(total))}
	if _, err := ev.Observe(context.Background(), app, s, nil); err != nil {
		t.Fatal(err)
	}
}

func decode(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

func TestAppsSpend(t *testing.T) {
	e := newSpendEnv(t)
	res := e.get(t, "/api/v1/apps")
	if res.status != 200 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var got struct {
		Apps []struct {
			Name  string         `json:"name"`
			Spend map[string]any `json:"spend"`
		} `json:"apps"`
	}
	decode(t, res.body, &got)
	want := map[string]map[string]any{
		// 24 h rate: 48.0000 spent in the ledger hours from 2026-11-25T12:00Z, over the 24 h 10 min
		// since; runway: (548 + 100) / 1.9862 per hour; today began at 16:00Z (midnight in Shanghai).
		"drain": {"burn_rate_1h": "2.0000", "burn_rate_24h": "1.9862", "burn_rate_7d": "1.9490",
			"runway_seconds": float64(1174504), "runs_dry_at": "2026-12-10T02:25:04Z", "spent_today": "40.0000",
			"last_topup": map[string]any{"at": "2026-11-26T06:00:00Z", "amount": "99.0000"}},
		"idle": {"burn_rate_1h": "0.0000", "burn_rate_24h": "0.0000", "burn_rate_7d": "0.0000",
			"runway_seconds": nil, "runs_dry_at": nil, "spent_today": "0.0000", "last_topup": nil},
		"never": {"burn_rate_1h": nil, "burn_rate_24h": nil, "burn_rate_7d": nil,
			"runway_seconds": nil, "runs_dry_at": nil, "spent_today": "0.0000", "last_topup": nil},
	}
	for _, a := range got.Apps {
		if diff := cmp.Diff(want[a.Name], a.Spend); diff != "" {
			t.Errorf("%s spend (-want +got):\n%s", a.Name, diff)
		}
	}
	if len(got.Apps) != 3 {
		t.Errorf("%d apps, want 3", len(got.Apps))
	}
}

func TestLedgerEndpoint(t *testing.T) {
	e := newSpendEnv(t)
	check(t, e.get(t, "/api/v1/apps/drain/ledger?from=2026-11-26T04:00:00Z&to=2026-11-26T08:00:00Z&step=1h"), 200,
		`{"app":"drain","from":"2026-11-26T04:00:00Z","to":"2026-11-26T08:00:00Z","step":"1h","points":[`+
			`{"t":"2026-11-26T04:00:00Z","spent":"2.0000","topped_up":"0.0000","gift_expired":"0.0000","first_total":"465.0000","last_total":"463.0000"},`+
			`{"t":"2026-11-26T05:00:00Z","spent":"2.0000","topped_up":"0.0000","gift_expired":"0.0000","first_total":"463.0000","last_total":"461.0000"},`+
			`{"t":"2026-11-26T06:00:00Z","spent":"1.0000","topped_up":"99.0000","gift_expired":"0.0000","first_total":"461.0000","last_total":"559.0000"},`+
			`{"t":"2026-11-26T07:00:00Z","spent":"2.0000","topped_up":"0.0000","gift_expired":"0.0000","first_total":"559.0000","last_total":"557.0000"}]}`+"\n")
	// Days: the invariant holds per day (500 − 27 = 473; 473 + 99 − 24 = 548).
	day := `/api/v1/apps/drain/ledger?from=2026-11-25T00:00:00Z&to=2026-11-27T00:00:00Z&step=1d`
	check(t, e.get(t, day), 200,
		`{"app":"drain","from":"2026-11-25T00:00:00Z","to":"2026-11-27T00:00:00Z","step":"1d","points":[`+
			`{"t":"2026-11-25T00:00:00Z","spent":"27.0000","topped_up":"0.0000","gift_expired":"0.0000","first_total":"500.0000","last_total":"473.0000"},`+
			`{"t":"2026-11-26T00:00:00Z","spent":"24.0000","topped_up":"99.0000","gift_expired":"0.0000","first_total":"473.0000","last_total":"548.0000"}]}`+"\n")
	csvBody := "t,spent,topped_up,gift_expired,first_total,last_total\n" +
		"2026-11-25T00:00:00Z,27.0000,0.0000,0.0000,500.0000,473.0000\n" +
		"2026-11-26T00:00:00Z,24.0000,99.0000,0.0000,473.0000,548.0000\n"
	check(t, e.get(t, day+"&format=csv"), 200, csvBody)
	res := e.do(t, "GET", day, "", "", "Accept: text/csv")
	check(t, res, 200, csvBody)
	if ct := res.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	// Default: the last 24 h by hour; an app with no ledger yet has no points.
	res = e.get(t, "/api/v1/apps/drain/ledger")
	if res.status != 200 || strings.Count(res.body, `"t":`) != 25 { // 11-25T12:00 ... 11-26T12:00
		t.Errorf("default range: %d %s, want 25 hourly points", res.status, res.body)
	}
	check(t, e.get(t, "/api/v1/apps/never/ledger?step=1d"), 200,
		`{"app":"never","from":"2026-11-25T12:10:00Z","to":"2026-11-26T12:10:00Z","step":"1d","points":[]}`+"\n")

	for path, want := range map[string]string{
		"/api/v1/apps/drain/ledger?step=5m":                                           `{"error":"step must be 1h or 1d, not 5m"}`,
		"/api/v1/apps/drain/ledger?from=yesterday":                                    `{"error":"from must be an RFC 3339 time, like 2026-11-26T10:00:00Z"}`,
		"/api/v1/apps/drain/ledger?to=now":                                            `{"error":"to must be an RFC 3339 time, like 2026-11-26T10:00:00Z"}`,
		"/api/v1/apps/drain/ledger?from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z": `{"error":"the start of the range must be before its end"}`,
		"/api/v1/apps/drain/ledger?format=xml":                                        `{"error":"format must be json or csv"}`,
		"/api/v1/apps/drain/ledger?from=2020-01-01T00:00:00Z&step=1h":                 `{"error":"step 1h gives more than 10000 buckets in the range: use a larger step or narrow the range"}`,
	} {
		check(t, e.get(t, path), 400, want+"\n")
	}
	check(t, e.get(t, "/api/v1/apps/nope/ledger"), 404, `{"error":"no app named \"nope\""}`+"\n")
}

func TestSpendMetrics(t *testing.T) {
	e := newSpendEnv(t)
	res := e.get(t, "/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(res.body))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, name := range []string{"engagelab_spend_rate_per_hour", "engagelab_runway_seconds", "engagelab_spent_total", "engagelab_topped_up_total"} {
		f := families[name]
		if f == nil {
			t.Fatalf("no %s in /metrics", name)
		}
		for _, m := range f.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{
		// 1 h: the ledger's previous and current hour, 3.0000 over the 70 minutes since 11:00.
		"engagelab_spend_rate_per_hour,app=drain,window=1h":  2.5714,
		"engagelab_spend_rate_per_hour,app=drain,window=24h": 1.9862,
		"engagelab_spend_rate_per_hour,app=drain,window=7d":  1.949,
		"engagelab_spend_rate_per_hour,app=idle,window=1h":   0,
		"engagelab_spend_rate_per_hour,app=idle,window=24h":  0,
		"engagelab_spend_rate_per_hour,app=idle,window=7d":   0,
		"engagelab_runway_seconds,app=drain":                 1174504, // idle: unknown; never: no data
		"engagelab_spent_total,app=drain":                    51,
		"engagelab_spent_total,app=idle":                     0,
		"engagelab_spent_total,app=never":                    0,
		"engagelab_topped_up_total,app=drain":                99,
		"engagelab_topped_up_total,app=idle":                 0,
		"engagelab_topped_up_total,app=never":                0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spend metrics (-want +got):\n%s", diff)
	}
}
