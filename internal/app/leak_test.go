package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/logtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// No secret reaches the logs (at debug level), the API, the metrics or the database, through
// successes and every kind of failure.
func TestSecretsReachNoLogAPIMetricOrTable(t *testing.T) {
	const devSecret = "dEvSeCrEt-7f3a9c"
	const apiToken = "ToKeN-4be21d9e"
	const hookPath = "/hooks/T000/SeCrEtPaTh-99aa"
	h := newHarness(t,
		fake.App{Name: "good", DevKey: "k-good", DevSecret: devSecret, Balance: "50"},
		fake.App{Name: "revoked", DevKey: "k-revoked", DevSecret: devSecret + "2", Balance: "50"},
		fake.App{Name: "flaky", DevKey: "k-flaky", DevSecret: devSecret + "3", Balance: "50"},
	)
	h.fake.Fail("k-revoked", fake.Failure{Status: 401, Code: 2002, Message: "token expired or disabled"})
	h.fake.Fail("k-flaky", fake.Failure{Status: 502, Body: "<html>502 Bad Gateway</html>"})
	upstream := httptest.NewServer(h.fake)
	defer upstream.Close()
	// The receiver refuses: dead rows carry errors, and errors are where URLs like to hide.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope "+r.URL.Path, http.StatusNotFound)
	}))
	defer receiver.Close()
	var logs logtest.Buffer
	h.logTo = &logs
	h.level = slog.LevelDebug
	cfg := h.config(upstream.URL, fmt.Sprintf(`
http: {listen: "127.0.0.1:0", tokens: [{name: ops, token: %q, scope: write}]}
notifiers: [{name: hook, type: webhook, url: "%s%s", secret: "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM="}]
apps:
  - {name: good, dev_key: k-good, dev_secret: %q, notify: [hook]}
  - {name: revoked, dev_key: k-revoked, dev_secret: %q, notify: [hook]}
  - {name: flaky, dev_key: k-flaky, dev_secret: %q, notify: [hook]}
`, apiToken, receiver.URL, hookPath, devSecret, devSecret+"2", devSecret+"3"))
	h.start(cfg)
	for _, app := range []string{"good", "revoked", "flaky"} {
		h.waitPolls(app, 4)
	}

	var seen strings.Builder
	seen.WriteString(logs.String())
	for _, path := range []string{"/api/v1/apps", "/api/v1/alerts", "/api/v1/events", "/metrics", "/api/v1/apps/good/history"} {
		req, _ := http.NewRequest("GET", "http://"+h.addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+apiToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d", path, resp.StatusCode)
		}
		fmt.Fprintf(&seen, "%s %v %s\n", path, resp.Header, b)
	}
	st, err := store.Open(context.Background(), h.dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Every row of every table of ours, as text.
	rows, err := st.Pool().Query(context.Background(), `
		SELECT t::text FROM apps t UNION ALL SELECT t::text FROM balance_snapshots t
		UNION ALL SELECT t::text FROM poll_failures t UNION ALL SELECT t::text FROM app_state t
		UNION ALL SELECT t::text FROM alert_state t UNION ALL SELECT t::text FROM alert_events t
		UNION ALL SELECT t::text FROM outbox t`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var row string
		if err := rows.Scan(&row); err != nil {
			t.Fatal(err)
		}
		seen.WriteString(row + "\n")
		n++
	}
	rows.Close()
	if n < 10 || !strings.Contains(seen.String(), "dead") || !strings.Contains(seen.String(), "auth_failed") {
		t.Fatalf("the test saw too little to prove anything (%d rows):\n%s", n, seen.String())
	}
	for _, secret := range []string{devSecret, apiToken, "SeCrEtPaTh", "c2VjcmV0LWtleS1mb3ItdGVzdHM"} {
		if i := strings.Index(seen.String(), secret); i >= 0 {
			t.Errorf("%q leaked: ...%s...", secret, seen.String()[max(0, i-200):min(len(seen.String()), i+50)])
		}
	}
}
