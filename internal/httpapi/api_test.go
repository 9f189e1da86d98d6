package httpapi_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

var (
	lowWarning = alert.Level{Rule: alert.RuleLowBalance, Severity: alert.SeverityWarning}
	overdraft  = alert.Level{Rule: alert.RuleOverdraft, Severity: alert.SeverityCritical}
)

// fixture: checkout low (warning), signup never polled, refunds in overdraft.
func (e *env) fixture(t *testing.T) {
	t.Helper()
	e.snap(t, "checkout", "2026-11-26T11:00:00Z", "124.45", "0")
	e.fire(t, "checkout", alert.Money, lowWarning, "2026-11-26T10:30:00Z")
	e.snap(t, "refunds", "2026-11-26T11:30:00Z", "-12.34", "0")
	e.fire(t, "refunds", alert.Money, overdraft, "2026-11-26T11:30:00Z", store.EventRecord{
		ID: "evt_1", Alert: alert.Money, Type: alert.Firing, Rule: alert.RuleOverdraft, Severity: alert.SeverityCritical,
		Since: at("2026-11-26T11:30:00Z"), At: at("2026-11-26T11:30:00Z"),
		Payload:   []byte(`{"message":"refunds: total balance -12.3400 USD is below zero"}`),
		Notifiers: []string{"ops-slack"},
	})
}

func TestHealthz(t *testing.T) {
	e := newEnv(t, writeToken)
	check(t, e.get(t, "/healthz"), 200, "ok")
}

func TestApps(t *testing.T) {
	e := newEnv(t)
	e.fixture(t)
	check(t, e.get(t, "/api/v1/apps"), 200, `{"apps":[`+
		`{"name":"checkout","amount":"total_balance","currency":"USD","balance":"124.4500","gift_balance":"0.0000","total_balance":"124.4500","polled_at":"2026-11-26T11:00:00Z","status":"warning","silenced_until":null,"firing":[{"alert":"money","rule":"low_balance","severity":"warning","since":"2026-11-26T10:30:00Z"}],"spend":{"burn_rate_1h":"0.0000","burn_rate_24h":"0.0000","burn_rate_7d":"0.0000","runway_seconds":null,"runs_dry_at":null,"spent_today":"0.0000","last_topup":null},"thresholds":{"warning":"100.0000","critical":"20.0000","overdraft_limit":null},"interval_seconds":60,"stale_after_seconds":600},`+
		`{"name":"signup","amount":"balance","currency":null,"balance":null,"gift_balance":null,"total_balance":null,"polled_at":null,"status":"unknown","silenced_until":null,"firing":[],"spend":{"burn_rate_1h":null,"burn_rate_24h":null,"burn_rate_7d":null,"runway_seconds":null,"runs_dry_at":null,"spent_today":"0.0000","last_topup":null},"thresholds":{"warning":"100.0000","critical":"20.0000","overdraft_limit":null},"interval_seconds":60,"stale_after_seconds":600},`+
		`{"name":"refunds","amount":"total_balance","currency":"USD","balance":"-12.3400","gift_balance":"0.0000","total_balance":"-12.3400","polled_at":"2026-11-26T11:30:00Z","status":"overdraft","silenced_until":null,"firing":[{"alert":"money","rule":"overdraft","severity":"critical","since":"2026-11-26T11:30:00Z"}],"spend":{"burn_rate_1h":"0.0000","burn_rate_24h":"0.0000","burn_rate_7d":"0.0000","runway_seconds":null,"runs_dry_at":null,"spent_today":"0.0000","last_topup":null},"thresholds":{"warning":"100.0000","critical":"20.0000","overdraft_limit":"200.0000"},"interval_seconds":60,"stale_after_seconds":600}`+
		"]}\n")
}

func TestAlertsAndEvents(t *testing.T) {
	e := newEnv(t)
	e.fixture(t)
	check(t, e.get(t, "/api/v1/alerts"), 200, `{"alerts":[`+
		`{"app":"checkout","alert":"money","rule":"low_balance","severity":"warning","since":"2026-11-26T10:30:00Z","level_since":"2026-11-26T10:30:00Z"},`+
		`{"app":"refunds","alert":"money","rule":"overdraft","severity":"critical","since":"2026-11-26T11:30:00Z","level_since":"2026-11-26T11:30:00Z"}]}`+"\n")
	check(t, e.get(t, "/api/v1/alerts?app=signup"), 200, `{"alerts":[]}`+"\n")
	check(t, e.get(t, "/api/v1/events?app=refunds"), 200, `{"events":[`+
		`{"id":"evt_1","app":"refunds","alert":"money","type":"alert.firing","rule":"overdraft","severity":"critical","since":"2026-11-26T11:30:00Z","at":"2026-11-26T11:30:00Z","silenced":false,"message":"refunds: total balance -12.3400 USD is below zero","deliveries":[{"notifier":"ops-slack","status":"pending","attempts":0}]}]}`+"\n")
	check(t, e.get(t, "/api/v1/events?before=2026-11-26T11:30:00Z&limit=5"), 200, `{"events":[]}`+"\n")
	check(t, e.get(t, "/api/v1/events?app=checkout&limit=1000"), 200, `{"events":[]}`+"\n")
}

// history fixture: three snapshots of checkout across two UTC hours.
func (e *env) history(t *testing.T) {
	t.Helper()
	e.snap(t, "checkout", "2026-11-26T10:05:00Z", "120.00", "5.50")
	e.snap(t, "checkout", "2026-11-26T10:50:00Z", "90.10", "40.00")
	e.snap(t, "checkout", "2026-11-26T11:10:00Z", "80.0001", "0")
	e.snap(t, "signup", "2026-11-26T10:05:00Z", "7.25", "100")
	e.snap(t, "signup", "2026-11-26T10:50:00Z", "3.5", "200")
}

func TestHistory(t *testing.T) {
	e := newEnv(t)
	e.history(t)
	tests := []struct {
		name, path, want string
	}{
		{"raw, default last 24 h", "/api/v1/apps/checkout/history",
			`{"app":"checkout","from":"2026-11-25T12:00:00Z","to":"2026-11-26T12:00:00Z","points":[` +
				`{"t":"2026-11-26T10:05:00Z","balance":"120.0000","gift_balance":"5.5000","total_balance":"125.5000"},` +
				`{"t":"2026-11-26T10:50:00Z","balance":"90.1000","gift_balance":"40.0000","total_balance":"130.1000"},` +
				`{"t":"2026-11-26T11:10:00Z","balance":"80.0001","gift_balance":"0.0000","total_balance":"80.0001"}]}`},
		{"raw, to is exclusive", "/api/v1/apps/checkout/history?from=2026-11-26T10:05:00Z&to=2026-11-26T10:50:00Z",
			`{"app":"checkout","from":"2026-11-26T10:05:00Z","to":"2026-11-26T10:50:00Z","points":[` +
				`{"t":"2026-11-26T10:05:00Z","balance":"120.0000","gift_balance":"5.5000","total_balance":"125.5000"}]}`},
		{"raw, offset times read as UTC", "/api/v1/apps/checkout/history?from=2026-11-26T12:00:00%2B01:00&to=2026-11-26T13:00:00%2B01:00",
			`{"app":"checkout","from":"2026-11-26T11:00:00Z","to":"2026-11-26T12:00:00Z","points":[` +
				`{"t":"2026-11-26T11:10:00Z","balance":"80.0001","gift_balance":"0.0000","total_balance":"80.0001"}]}`},
		{"hourly buckets of total_balance", "/api/v1/apps/checkout/history?step=1h",
			`{"app":"checkout","from":"2026-11-25T12:00:00Z","to":"2026-11-26T12:00:00Z","step":"1h","amount":"total_balance","points":[` +
				`{"t":"2026-11-26T10:00:00Z","first":"125.5000","last":"130.1000","min":"125.5000","max":"130.1000"},` +
				`{"t":"2026-11-26T11:00:00Z","first":"80.0001","last":"80.0001","min":"80.0001","max":"80.0001"}]}`},
		{"daily bucket of balance, the app's amount", "/api/v1/apps/signup/history?step=1d",
			`{"app":"signup","from":"2026-11-25T12:00:00Z","to":"2026-11-26T12:00:00Z","step":"1d","amount":"balance","points":[` +
				`{"t":"2026-11-26T00:00:00Z","first":"7.2500","last":"3.5000","min":"3.5000","max":"7.2500"}]}`},
		{"no snapshots", "/api/v1/apps/refunds/history?step=5m",
			`{"app":"refunds","from":"2026-11-25T12:00:00Z","to":"2026-11-26T12:00:00Z","step":"5m","amount":"total_balance","points":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, e.get(t, tt.path), 200, tt.want+"\n")
		})
	}
}

func TestHistoryCSV(t *testing.T) {
	e := newEnv(t)
	e.history(t)
	raw := [][]string{
		{"t", "balance", "gift_balance", "total_balance"},
		{"2026-11-26T10:05:00Z", "120.0000", "5.5000", "125.5000"},
		{"2026-11-26T10:50:00Z", "90.1000", "40.0000", "130.1000"},
		{"2026-11-26T11:10:00Z", "80.0001", "0.0000", "80.0001"},
	}
	buckets := [][]string{
		{"t", "first", "last", "min", "max"},
		{"2026-11-26T10:00:00Z", "125.5000", "130.1000", "125.5000", "130.1000"},
		{"2026-11-26T11:00:00Z", "80.0001", "80.0001", "80.0001", "80.0001"},
	}
	tests := []struct {
		name, path, accept string
		want               [][]string
	}{
		{"format=csv", "/api/v1/apps/checkout/history?format=csv", "", raw},
		{"Accept: text/csv", "/api/v1/apps/checkout/history", "text/csv", raw},
		{"Accept among others", "/api/v1/apps/checkout/history?step=1h", "application/json;q=0.5, text/csv", buckets},
		{"format=csv with step", "/api/v1/apps/checkout/history?step=1h&format=csv", "", buckets},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.accept != "" {
				headers = append(headers, "Accept: "+tt.accept)
			}
			res := e.do(t, http.MethodGet, tt.path, "", "", headers...)
			if res.status != 200 || res.header.Get("Content-Type") != "text/csv; charset=utf-8" {
				t.Fatalf("got %d %q: %s", res.status, res.header.Get("Content-Type"), res.body)
			}
			got, err := csv.NewReader(strings.NewReader(res.body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CSV (-want +got):\n%s", diff)
			}
		})
	}
	// format=json wins over Accept.
	res := e.do(t, http.MethodGet, "/api/v1/apps/checkout/history?format=json&step=1d", "", "", "Accept: text/csv")
	if res.header.Get("Content-Type") != "application/json" {
		t.Errorf("format=json answered %q", res.header.Get("Content-Type"))
	}
}

func TestHistoryPointCap(t *testing.T) {
	e := newEnv(t)
	_, err := e.st.Pool().Exec(context.Background(), `
		INSERT INTO balance_snapshots (app_id, polled_at, currency, balance, gift_balance, total_balance)
		SELECT $1, timestamptz '2026-11-26T00:00:00Z' + i * interval '1 second', 'USD', 1, 0, 1
		FROM generate_series(0, 10000) i`, e.ids["checkout"])
	if err != nil {
		t.Fatal(err)
	}
	check(t, e.get(t, "/api/v1/apps/checkout/history"), 400,
		`{"error":"more than 10000 snapshots in the range: add a step (1m, 5m, 15m, 1h, 6h or 1d) or narrow the range"}`+"\n")
	// Exactly 10,000 points is allowed: the first 10,000 seconds.
	res := e.get(t, "/api/v1/apps/checkout/history?from=2026-11-26T00:00:00Z&to=2026-11-26T02:46:40Z&format=csv")
	if lines := strings.Count(res.body, "\n"); res.status != 200 || lines != 10001 {
		t.Errorf("got %d with %d lines, want 200 with a header and 10000 points", res.status, lines)
	}
	// With a step the same range answers. (Rows inserted behind the store's back have no
	// hourly roll-ups, so the step stays under an hour.)
	check(t, e.get(t, "/api/v1/apps/checkout/history?step=15m&from=2026-11-26T00:00:00Z&to=2026-11-26T00:30:00Z"), 200,
		`{"app":"checkout","from":"2026-11-26T00:00:00Z","to":"2026-11-26T00:30:00Z","step":"15m","amount":"total_balance","points":[`+
			`{"t":"2026-11-26T00:00:00Z","first":"1.0000","last":"1.0000","min":"1.0000","max":"1.0000"},`+
			`{"t":"2026-11-26T00:15:00Z","first":"1.0000","last":"1.0000","min":"1.0000","max":"1.0000"}]}`+"\n")
	check(t, e.get(t, "/api/v1/apps/checkout/history?from=2026-11-26T00:00:00Z&to=2026-11-26T03:00:00Z"), 400,
		`{"error":"more than 10000 snapshots in the range: add a step (1m, 5m, 15m, 1h, 6h or 1d) or narrow the range"}`+"\n")
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"from", "GET", "/api/v1/apps/checkout/history?from=yesterday", "", 400, `from must be an RFC 3339 time, like 2026-11-26T10:00:00Z`},
		{"to", "GET", "/api/v1/apps/checkout/history?to=2026-11-26", "", 400, `to must be an RFC 3339 time, like 2026-11-26T10:00:00Z`},
		{"from after to", "GET", "/api/v1/apps/checkout/history?from=2026-11-26T10:00:00Z&to=2026-11-26T09:00:00Z", "", 400, `the start of the range must be before its end`},
		{"step", "GET", "/api/v1/apps/checkout/history?step=2h", "", 400, `step must be one of 1m, 5m, 15m, 1h, 6h or 1d, not 2h`},
		{"step too small for the range", "GET", "/api/v1/apps/checkout/history?step=1m&from=2026-01-01T00:00:00Z", "", 400,
			`step 1m gives more than 10000 buckets in the range: use a larger step or narrow the range`},
		{"format", "GET", "/api/v1/apps/checkout/history?format=xml", "", 400, `format must be json or csv`},
		{"limit not a number", "GET", "/api/v1/events?limit=ten", "", 400, `limit must be a whole number from 1 to 1000`},
		{"limit too large", "GET", "/api/v1/events?limit=1001", "", 400, `limit must be a whole number from 1 to 1000`},
		{"limit zero", "GET", "/api/v1/events?limit=0", "", 400, `limit must be a whole number from 1 to 1000`},
		{"before", "GET", "/api/v1/events?before=now", "", 400, `before must be an RFC 3339 time, like 2026-11-26T10:00:00Z, or an event id`},
		{"history of unknown app", "GET", "/api/v1/apps/nope/history", "", 404, `no app named \"nope\"`},
		{"alerts of unknown app", "GET", "/api/v1/alerts?app=nope", "", 404, `no app named \"nope\"`},
		{"events of unknown app", "GET", "/api/v1/events?app=nope", "", 404, `no app named \"nope\"`},
		{"silence unknown app", "POST", "/api/v1/apps/nope/silence", `{"for":"1h"}`, 404, `no app named \"nope\"`},
		{"unsilence unknown app", "DELETE", "/api/v1/apps/nope/silence", "", 404, `no app named \"nope\"`},
		{"silence without until", "POST", "/api/v1/apps/checkout/silence", `{"reason":"x"}`, 400, `until is required (or for, a duration like 2h)`},
		{"silence until not a time", "POST", "/api/v1/apps/checkout/silence", `{"until":"tomorrow"}`, 400, `until must be an RFC 3339 time, like 2026-11-26T10:00:00Z`},
		{"silence until past", "POST", "/api/v1/apps/checkout/silence", `{"until":"2026-11-26T11:00:00Z"}`, 400, `until must be in the future`},
		{"silence for", "POST", "/api/v1/apps/checkout/silence", `{"for":"-2h"}`, 400, `for must be a positive duration, like 2h, 30m or 1d`},
		{"silence both", "POST", "/api/v1/apps/checkout/silence", `{"for":"2h","until":"2026-11-27T00:00:00Z"}`, 400, `give until or for, not both`},
		{"silence unknown field", "POST", "/api/v1/apps/checkout/silence", `{"untill":"2026-11-27T00:00:00Z"}`, 400,
			`the body must be JSON like {\"until\": \"2026-11-26T10:00:00Z\", \"reason\": \"recharge on the way\"}`},
		{"silence body too large", "POST", "/api/v1/apps/checkout/silence", `{"reason":"` + strings.Repeat("x", 70<<10) + `"}`, 413, `the body is larger than 65536 bytes`},
		{"unknown path", "GET", "/api/v2/apps", "", 404, `no such path: /api/v2/apps`},
		{"wrong method", "PUT", "/api/v1/apps", "", 405, `PUT is not allowed on /api/v1/apps`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, e.do(t, tt.method, tt.path, "", tt.body), tt.status, `{"error":"`+tt.want+`"}`+"\n")
		})
	}
}

func TestSilence(t *testing.T) {
	e := newEnv(t)
	check(t, e.do(t, "POST", "/api/v1/apps/checkout/silence", "", `{"until":"2026-11-26T14:00:00Z","reason":"recharge ordered"}`), 200,
		`{"app":"checkout","reason":"recharge ordered","silenced_until":"2026-11-26T14:00:00Z"}`+"\n")
	if got := silencedUntil(t, e); got != `"silenced_until":"2026-11-26T14:00:00Z","silence_reason":"recharge ordered"` {
		t.Errorf("after silence: %s", got)
	}
	check(t, e.do(t, "POST", "/api/v1/apps/checkout/silence", "", `{"for":"30m"}`), 200,
		`{"app":"checkout","reason":"","silenced_until":"2026-11-26T12:30:00Z"}`+"\n")
	check(t, e.do(t, "DELETE", "/api/v1/apps/checkout/silence", "", ""), 200, `{"app":"checkout","silenced_until":null}`+"\n")
	if got := silencedUntil(t, e); got != `"silenced_until":null` {
		t.Errorf("after unsilence: %s", got)
	}
}

// silencedUntil extracts checkout's silence fields from /api/v1/apps.
func silencedUntil(t *testing.T, e *env) string {
	t.Helper()
	body := e.get(t, "/api/v1/apps").body
	start := strings.Index(body, `"silenced_until"`)
	end := strings.Index(body, `,"firing"`)
	if start < 0 || end < start {
		t.Fatalf("no silenced_until in %s", body)
	}
	return body[start:end]
}

func TestDashboard(t *testing.T) {
	e := newEnv(t)
	res := e.get(t, "/")
	csp := res.header.Get("Content-Security-Policy")
	_, rest, _ := strings.Cut(csp, "script-src 'nonce-")
	nonce, _, _ := strings.Cut(rest, "'")
	if res.status != 200 || res.header.Get("Content-Type") != "text/html; charset=utf-8" || nonce == "" {
		t.Fatalf("got %d %q, CSP %q", res.status, res.header.Get("Content-Type"), csp)
	}
	for _, want := range []string{"<title>EngageLab balance monitor</title>", `<script nonce="` + nonce + `">`, `<style nonce="` + nonce + `">`, "/api/v1/apps"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	for _, external := range []string{"http://", "https://"} {
		if strings.Contains(strings.ReplaceAll(res.body, "http://www.w3.org/2000/svg", ""), external) {
			t.Errorf("dashboard loads something from %s", external)
		}
	}
	if again := e.get(t, "/").header.Get("Content-Security-Policy"); again == csp {
		t.Error("the nonce did not change between two requests")
	}
}

// Events written in one transaction share a timestamp; paging by event id neither skips nor
// repeats them.
func TestEventsPageByIDAcrossEqualTimestamps(t *testing.T) {
	e := newEnv(t)
	var evs []store.EventRecord
	for _, id := range []string{"evt_a", "evt_b", "evt_c"} {
		evs = append(evs, store.EventRecord{ID: id, Alert: alert.Money, Type: alert.Reminder, Rule: "low_balance",
			Severity: alert.SeverityWarning, Since: at("2026-11-26T10:00:00Z"), At: at("2026-11-26T10:30:00Z"), Payload: []byte(`{"message":"m"}`)})
	}
	e.fire(t, "checkout", alert.Money, alert.Level{Rule: "low_balance", Severity: alert.SeverityWarning}, "2026-11-26T10:00:00Z", evs...)
	var seen []string
	next := ""
	for range 4 {
		path := "/api/v1/events?limit=1"
		if next != "" {
			path += "&before=" + next
		}
		resp := e.get(t, path)
		var page struct {
			Events []struct {
				ID string `json:"id"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(resp.body), &page); err != nil || resp.status != 200 {
			t.Fatalf("%s: %d %s", path, resp.status, resp.body)
		}
		if len(page.Events) == 0 {
			break
		}
		next = page.Events[0].ID
		seen = append(seen, next)
	}
	if got := strings.Join(seen, ","); got != "evt_c,evt_b,evt_a" {
		t.Errorf("pages gave %s, want evt_c,evt_b,evt_a", got)
	}
	check(t, e.get(t, "/api/v1/events?before=evt_nope"), 400, `{"error":"before: no event with id \"evt_nope\""}`+"\n")
}
