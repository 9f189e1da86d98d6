package poller_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab"
	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/poller"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// productSetup polls the config's apps through the real client, one fake serving as both the
// OTP and the SMS base URL, and the real evaluator.
func productSetup(t *testing.T, scenario, apps string, log ...*slog.Logger) (*store.Store, *poller.Poller, *fake.Server) {
	t.Helper()
	sc, err := fake.Parse([]byte(scenario))
	if err != nil {
		t.Fatal(err)
	}
	f := fake.New(sc, nil)
	upstream := httptest.NewServer(f)
	t.Cleanup(upstream.Close)
	cfg, err := config.Parse([]byte(`
database: {url: "postgres://unused"}
engagelab: {base_url: "`+upstream.URL+`", sms_base_url: "`+upstream.URL+`"}
defaults: {schedule: "@every 1h", thresholds: {warning: "100", critical: "20"}}
apps:
`+apps), func(string) (string, bool) { return "", false }, ".")
	if err != nil {
		t.Fatal(err)
	}
	st := pgtest.New(t)
	var names []string
	for _, a := range cfg.Apps {
		names = append(names, a.Name)
	}
	ids, err := st.EnsureApps(context.Background(), names)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evaluate.New(evaluate.Config{Store: st, Apps: cfg.Apps, AppIDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	client := engagelab.New(cfg.EngageLab.BaseURL, engagelab.WithSMSBaseURL(cfg.EngageLab.SMSBaseURL))
	c := poller.Config{Evaluator: ev, Client: client, Apps: cfg.Apps, Timeout: 5 * time.Second, Clock: ev.Now}
	if len(log) > 0 {
		c.Logger = log[0]
	}
	p, err := poller.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return st, p, f
}

// stored is every snapshot of app, as "currency balance gift total" lines.
func stored(t *testing.T, st *store.Store, app string) []string {
	t.Helper()
	points, err := st.Snapshots(context.Background(), app, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range points {
		out = append(out, fmt.Sprintf("%s %s %s", p.Balance.StringFixed(4), p.GiftBalance.StringFixed(4), p.TotalBalance.StringFixed(4)))
	}
	return out
}

func firing(t *testing.T, st *store.Store, app string) string {
	t.Helper()
	alerts, err := st.FiringAlerts(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range alerts {
		out = append(out, a.Alert+"/"+a.Rule+"/"+a.Severity)
	}
	return strings.Join(out, " ")
}

// TestPollSMSApps: SMS answers (integers × 10000) go through the poller into the database
// exactly, and their alerts work as for OTP.
func TestPollSMSApps(t *testing.T) {
	st, p, f := productSetup(t, `
apps:
  - {name: arrears, dev_key: k1, dev_secret: s1, product: sms, balance: "-12.34", gift_balance: "0"}
  - {name: tiny, dev_key: k2, dev_secret: s2, product: sms, balance: "0.0001"}
  - {name: otp, dev_key: k3, dev_secret: s3, balance: "500"}
`, `
  - {name: arrears, dev_key: k1, dev_secret: s1, product: sms}
  - {name: tiny, dev_key: k2, dev_secret: s2, product: sms}
  - {name: otp, dev_key: k3, dev_secret: s3}
`)
	ctx := context.Background()
	for _, app := range []string{"arrears", "tiny", "otp"} {
		if res := p.Poll(ctx, app); res.Err != nil {
			t.Fatalf("Poll %s: %v", app, res.Err)
		}
	}
	f.SetBalance("k2", "1234.5678", "0.0001")
	if res := p.Poll(ctx, "tiny"); res.Err != nil || res.Snapshot.Currency != "USD" {
		t.Fatalf("Poll tiny: %v, %+v", res.Err, res.Snapshot)
	}
	want := map[string][]string{
		"arrears": {"-12.3400 0.0000 -12.3400"},
		"tiny":    {"0.0001 0.0000 0.0001", "1234.5678 0.0001 1234.5679"},
		"otp":     {"500.0000 0.0000 500.0000"},
	}
	for app, w := range want {
		if got := stored(t, st, app); strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("%s stored %q, want %q", app, got, w)
		}
	}
	if got := firing(t, st, "arrears"); got != "money/overdraft/critical" {
		t.Errorf("arrears firing %q, want money/overdraft/critical", got)
	}
	if got := firing(t, st, "tiny"); got != "" {
		t.Errorf("tiny firing %q after its recharge, want nothing", got)
	}
}

// TestPollOtherCurrency: an answer in another currency than USD is stored as it came, but
// never compared with the USD thresholds: for the alerts it is a failed poll (an upstream
// change), so poll_failing fires after three of them and low_balance never does.
func TestPollOtherCurrency(t *testing.T) {
	st, p, _ := productSetup(t, `
apps:
  - {name: euro, dev_key: k1, dev_secret: s1, currency: EUR, balance: "5.0000"}
`, `
  - {name: euro, dev_key: k1, dev_secret: s1}
`)
	ctx := context.Background()
	for i := range 3 {
		res := p.Poll(ctx, "euro")
		if res.Err != nil || res.Snapshot == nil || res.Snapshot.Currency != "EUR" {
			t.Fatalf("poll %d: %v, %+v; want the EUR snapshot", i, res.Err, res.Snapshot)
		}
	}
	if got := stored(t, st, "euro"); len(got) != 3 || got[0] != "5.0000 0.0000 5.0000" {
		t.Errorf("stored %q, want three snapshots of 5.0000", got)
	}
	if got := firing(t, st, "euro"); got != "data/poll_failing/warning" {
		t.Errorf("firing %q, want only data/poll_failing/warning (no low_balance from EUR vs USD)", got)
	}
	events, err := st.Events(ctx, "euro", time.Now().Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || !strings.Contains(string(events[0].Payload), "HTTP 200 in EUR, not USD") {
		t.Errorf("events = %+v, want one poll_failing naming the currency", events)
	}
}
