package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/httpapi"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

func TestReadyz(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		e := newEnv(t, writeToken)
		check(t, e.get(t, "/readyz"), 200, `{"status":"ready"}`+"\n")
	})
	t.Run("schema behind the binary", func(t *testing.T) {
		e := newEnv(t, writeToken)
		_, err := e.st.Pool().Exec(context.Background(),
			`DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`)
		if err != nil {
			t.Fatal(err)
		}
		check(t, e.get(t, "/readyz"), 503, `{"error":"the database schema is behind this binary: run `+"`monitor migrate`"+`"}`+"\n")
	})
	t.Run("database gone", func(t *testing.T) {
		e := newEnv(t, writeToken)
		e.st.Close()
		check(t, e.get(t, "/readyz"), 503, `{"error":"the database does not answer"}`+"\n")
		check(t, e.get(t, "/healthz"), 200, "ok")
	})
}

func TestAuth(t *testing.T) {
	e := newEnv(t, readToken, writeToken)
	const unauthorized = `{"error":"this path needs a token: send Authorization: Bearer <token>"}` + "\n"
	tests := []struct {
		name, method, path, token, body string
		status                          int
		want                            string
	}{
		{"healthz is open", "GET", "/healthz", "", "", 200, "ok"},
		{"readyz is open", "GET", "/readyz", "", "", 200, `{"status":"ready"}` + "\n"},
		{"no token", "GET", "/api/v1/apps", "", "", 401, unauthorized},
		{"unknown token", "GET", "/api/v1/alerts", "not-a-token", "", 401, unauthorized},
		{"token prefix", "GET", "/api/v1/alerts", readToken.Token.Reveal()[:5], "", 401, unauthorized},
		{"metrics need a token", "GET", "/metrics", "", "", 401, unauthorized},
		{"unknown path needs a token first", "GET", "/nope", "", "", 401, unauthorized},
		{"read token reads", "GET", "/api/v1/alerts", readToken.Token.Reveal(), "", 200, `{"alerts":[]}` + "\n"},
		{"write token reads", "GET", "/api/v1/alerts", writeToken.Token.Reveal(), "", 200, `{"alerts":[]}` + "\n"},
		{"read token cannot silence", "POST", "/api/v1/apps/checkout/silence", readToken.Token.Reveal(), `{"for":"1h"}`, 403,
			`{"error":"token grafana has read scope and cannot change anything"}` + "\n"},
		{"read token cannot unsilence", "DELETE", "/api/v1/apps/checkout/silence", readToken.Token.Reveal(), "", 403,
			`{"error":"token grafana has read scope and cannot change anything"}` + "\n"},
		{"write token silences", "POST", "/api/v1/apps/checkout/silence", writeToken.Token.Reveal(), `{"for":"1h"}`, 200,
			`{"app":"checkout","reason":"","silenced_until":"2026-11-26T13:00:00Z"}` + "\n"},
		{"no token cannot silence", "POST", "/api/v1/apps/checkout/silence", "", `{"for":"1h"}`, 401, unauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(t, tt.method, tt.path, tt.token, tt.body)
			check(t, res, tt.status, tt.want)
			if tt.status == 401 && res.header.Get("WWW-Authenticate") != `Bearer realm="engagelab-monitor"` {
				t.Errorf("WWW-Authenticate = %q", res.header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("scheme other than Bearer", func(t *testing.T) {
		check(t, e.do(t, "GET", "/api/v1/apps", "", "", "Authorization: Basic "+writeToken.Token.Reveal()), 401, unauthorized)
	})
	t.Run("dashboard asks for a token", func(t *testing.T) {
		// 200, not 401: a browser logs a 401 page as a failed load in its console.
		res := e.get(t, "/")
		if res.status != 200 || !strings.Contains(res.body, `<form method="post" action="/login"`) {
			t.Errorf("got %d %s", res.status, res.body)
		}
	})
}

func TestDashboardSession(t *testing.T) {
	e := newEnv(t, readToken, writeToken)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func(token string) *http.Response {
		t.Helper()
		res, err := noRedirect.PostForm(e.url+"/login", url.Values{"token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := login("wrong"); res.StatusCode != 401 || len(res.Cookies()) != 0 {
		t.Fatalf("a wrong token got %d and cookies %v", res.StatusCode, res.Cookies())
	}
	res := login(writeToken.Token.Reveal())
	cookies := res.Cookies()
	if res.StatusCode != 303 || res.Header.Get("Location") != "/" || len(cookies) != 1 {
		t.Fatalf("login got %d to %q with cookies %v", res.StatusCode, res.Header.Get("Location"), cookies)
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || strings.Contains(c.Value, writeToken.Token.Reveal()) {
		t.Errorf("cookie %+v", c)
	}
	cookie := "Cookie: " + c.Name + "=" + c.Value
	check(t, e.do(t, "GET", "/api/v1/alerts", "", "", cookie), 200, `{"alerts":[]}`+"\n")
	if res := e.do(t, "GET", "/", "", "", cookie); res.status != 200 {
		t.Errorf("dashboard with a session: %d", res.status)
	}
	// Even a write token's session only reads: browsers send cookies on forged requests too.
	check(t, e.do(t, "POST", "/api/v1/apps/checkout/silence", "", `{"for":"1h"}`, cookie), 403,
		`{"error":"a dashboard session cannot change anything: send Authorization: Bearer <token>"}`+"\n")
	forged := "Cookie: " + c.Name + "=" + strings.Replace(c.Value, ".", ".x", 1)
	check(t, e.do(t, "GET", "/api/v1/alerts", "", "", forged), 401,
		`{"error":"this path needs a token: send Authorization: Bearer <token>"}`+"\n")
	// A session ends after 7 days, whatever the browser keeps.
	e.later.Store(int64(7*24*time.Hour - time.Second))
	check(t, e.do(t, "GET", "/api/v1/alerts", "", "", cookie), 200, `{"alerts":[]}`+"\n")
	e.later.Store(int64(7 * 24 * time.Hour))
	check(t, e.do(t, "GET", "/api/v1/alerts", "", "", cookie), 401,
		`{"error":"this path needs a token: send Authorization: Bearer <token>"}`+"\n")
}

func TestCheckListen(t *testing.T) {
	tests := []struct {
		name, listen string
		tokens       []config.Token
		want         string
	}{
		{"loopback v4", "127.0.0.1:8080", nil, ""},
		{"loopback v6", "[::1]:8080", nil, ""},
		{"localhost", "localhost:8080", nil, ""},
		{"every interface", "0.0.0.0:8080", nil,
			"http.listen 0.0.0.0:8080 is not a loopback address and http.tokens is empty: set tokens or listen on 127.0.0.1"},
		{"empty host", ":8080", nil,
			"http.listen :8080 is not a loopback address and http.tokens is empty: set tokens or listen on 127.0.0.1"},
		{"a host name", "monitor.internal:8080", nil,
			"http.listen monitor.internal:8080 is not a loopback address and http.tokens is empty: set tokens or listen on 127.0.0.1"},
		{"every interface with tokens", "0.0.0.0:8080", []config.Token{readToken}, ""},
		{"not host:port", "8080", nil, `http.listen "8080" is not a host:port address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := httpapi.CheckListen(tt.listen, tt.tokens); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewServerHasTimeouts(t *testing.T) {
	s := httpapi.NewServer("127.0.0.1:0", http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Errorf("server without a limit: %+v", s)
	}
}

// scrape fetches /metrics and parses it with Prometheus's own text parser.
func scrape(t *testing.T, e *env) map[string]*dto.MetricFamily {
	t.Helper()
	res := e.do(t, "GET", "/metrics", readToken.Token.Reveal(), "")
	if res.status != 200 {
		t.Fatalf("GET /metrics: %d %s", res.status, res.body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(res.body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// series renders a family's series as "label=value,... value", sorted as exposed.
func series(fams map[string]*dto.MetricFamily, name string) []string {
	var out []string
	for _, m := range fams[name].GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
		out = append(out, strings.Join(labels, ",")+" "+model.SampleValue(v).String())
	}
	return out
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, readToken)
	e.fixture(t)
	e.metrics.ObservePoll("checkout", "success", 200*time.Millisecond)
	e.metrics.ObservePoll("checkout", "success", 300*time.Millisecond)
	e.metrics.ObservePoll("refunds", "auth_failed", time.Second)
	e.metrics.ObserveDelivery("ops-slack", "delivered")

	fams := scrape(t, e)
	want := map[string][]string{
		"engagelab_balance": {
			"app=checkout,currency=USD,kind=balance 124.45",
			"app=checkout,currency=USD,kind=gift_balance 0",
			"app=checkout,currency=USD,kind=total_balance 124.45",
			"app=refunds,currency=USD,kind=balance -12.34",
			"app=refunds,currency=USD,kind=gift_balance 0",
			"app=refunds,currency=USD,kind=total_balance -12.34",
		},
		"engagelab_polls_total": {
			"app=checkout,result=success 2",
			"app=refunds,result=auth_failed 1",
			"app=refunds,result=success 0",
			"app=signup,result=success 0",
		},
		"engagelab_last_success_timestamp_seconds": {
			"app=checkout 1795690800",
			"app=refunds 1795692600",
		},
		"engagelab_alert_firing": {
			"alert=money,app=checkout,rule=low_balance,severity=warning 1",
			"alert=money,app=refunds,rule=overdraft,severity=critical 1",
		},
		"engagelab_notifications_total": {"notifier=ops-slack,result=delivered 1"},
		"engagelab_outbox_pending":      {" 1"},
		"engagelab_scrape_errors_total": {" 0"},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, series(fams, name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// One histogram for every app: the three polls observed, 0.2 s, 0.3 s and 1.0 s.
	if h := fams["engagelab_poll_duration_seconds"].GetMetric(); len(h) != 1 || h[0].GetHistogram().GetSampleCount() != 3 ||
		h[0].GetHistogram().GetSampleSum() != 1.5 || len(h[0].GetLabel()) != 0 {
		t.Errorf("poll duration histogram: %v", h)
	}
	// engagelab_outbox_oldest_pending_seconds runs on the real clock: package metrics tests it.

	// Resolving removes the series; nothing else changes.
	e.fire(t, "checkout", alert.Money, alert.Level{}, "", store.EventRecord{
		ID: "evt_2", Alert: alert.Money, Type: alert.Resolved, Rule: alert.RuleLowBalance, Severity: alert.SeverityWarning,
		Since: at("2026-11-26T10:30:00Z"), At: now, Payload: []byte(`{}`),
	})
	fams = scrape(t, e)
	if diff := cmp.Diff([]string{"alert=money,app=refunds,rule=overdraft,severity=critical 1"}, series(fams, "engagelab_alert_firing")); diff != "" {
		t.Errorf("after resolve (-want +got):\n%s", diff)
	}
}

func TestMetricsOff(t *testing.T) {
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Store: newEnv(t).st, Config: &config.Config{}}))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("/metrics without Metrics: %d", res.StatusCode)
	}
}

// Routine answers log at debug, so that the demo's terminal (and a production log at info)
// shows polls and alerts; refusals stay at info.
func TestRequestLogLevels(t *testing.T) {
	e := newEnv(t, readToken)
	e.do(t, "GET", "/api/v1/apps", readToken.Token.Reveal(), "")
	e.get(t, "/healthz")
	e.get(t, "/api/v1/alerts")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		if strings.Contains(l, `msg="http request"`) {
			level, _, _ := strings.Cut(strings.SplitN(l, "level=", 2)[1], " ")
			path, _, _ := strings.Cut(strings.SplitN(l, "path=", 2)[1], " ")
			lines = append(lines, level+" "+path)
		}
	}
	want := []string{"DEBUG /api/v1/apps", "DEBUG /healthz", "INFO /api/v1/alerts"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("request log lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
