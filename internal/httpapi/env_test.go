package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/opsbalance/engagelab-monitor/internal/alert"
	"github.com/opsbalance/engagelab-monitor/internal/balance"
	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/evaluate"
	"github.com/opsbalance/engagelab-monitor/internal/httpapi"
	"github.com/opsbalance/engagelab-monitor/internal/logtest"
	"github.com/opsbalance/engagelab-monitor/internal/metrics"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
)

// The poller is the production Silencer.
var _ httpapi.Silencer = (*evaluate.Evaluator)(nil)

var (
	now        = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	devSecret  = "dev-secret-Zq81xw"
	readToken  = config.Token{Name: "grafana", Token: "read-token-7Hk2pQ", Scope: "read"}
	writeToken = config.Token{Name: "ops", Token: "write-token-9Lm4sT", Scope: "write"}
)

// env is one handler over a fresh database, served over real HTTP.
type env struct {
	st      *store.Store
	cfg     *config.Config
	ids     map[string]int64
	url     string
	logs    *logtest.Buffer
	metrics *metrics.Metrics
	later   atomic.Int64 // how far the server's clock is ahead of now, in nanoseconds
}

func newEnv(t *testing.T, tokens ...config.Token) *env {
	t.Helper()
	st := pgtest.New(t)
	cfg := &config.Config{
		HTTP: config.HTTP{Listen: "127.0.0.1:8080", Tokens: tokens},
		Apps: []config.App{
			{Name: "checkout", DevKey: "key-checkout", DevSecret: config.Secret(devSecret), Amount: "total_balance"},
			{Name: "signup", DevKey: "key-signup", DevSecret: config.Secret(devSecret), Amount: "balance"},
			{Name: "refunds", DevKey: "key-refunds", DevSecret: config.Secret(devSecret), Amount: "total_balance"},
		},
	}
	limit := d("200")
	for i := range cfg.Apps {
		a := &cfg.Apps[i]
		a.Warning, a.Critical, a.Interval, a.StaleAfter = d("100"), d("20"), time.Minute, 10*time.Minute
		if a.Name == "refunds" {
			a.OverdraftLimit = &limit
		}
	}
	ids, err := st.EnsureApps(context.Background(), []string{"checkout", "signup", "refunds"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	e := &env{st: st, cfg: cfg, ids: ids, logs: logs, metrics: metrics.New(st, cfg)}
	h := httpapi.New(httpapi.Config{
		Store:    st,
		Config:   cfg,
		Silencer: &silencer{st: st, ids: ids},
		Metrics:  e.metrics,
		Clock:    func() time.Time { return now.Add(time.Duration(e.later.Load())) },
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// silencer writes silences straight through the store, as the poller does, without polling.
type silencer struct {
	st  *store.Store
	ids map[string]int64
}

func (s *silencer) Silence(ctx context.Context, app string, until time.Time, reason string) error {
	err := s.st.WithAppLock(ctx, s.ids[app], func(ctx context.Context, tx *store.AppTx) error {
		st := tx.State()
		st.Alerts.SilencedUntil, st.SilenceReason = until, reason
		return tx.SaveState(ctx, st)
	})
	return err
}

func (s *silencer) Unsilence(ctx context.Context, app string) ([]store.EventRecord, error) {
	err := s.st.WithAppLock(ctx, s.ids[app], func(ctx context.Context, tx *store.AppTx) error {
		st := tx.State()
		st.Alerts.SilencedUntil, st.SilenceReason = time.Time{}, ""
		return tx.SaveState(ctx, st)
	})
	return nil, err
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// snap stores one snapshot of app with total = balance + gift.
func (e *env) snap(t *testing.T, app, polledAt, paid, gift string) {
	t.Helper()
	s := &balance.Snapshot{PolledAt: at(polledAt), Currency: "USD", Balance: d(paid), GiftBalance: d(gift),
		TotalBalance: d(paid).Add(d(gift))}
	err := e.st.WithAppLock(context.Background(), e.ids[app], func(ctx context.Context, tx *store.AppTx) error {
		if err := tx.InsertSnapshot(ctx, *s); err != nil {
			return err
		}
		st := tx.State()
		st.Alerts.LastSuccessAt = s.PolledAt // as an evaluation records a success
		return tx.SaveState(ctx, st)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fire sets app's alert k to level (the zero Level resolves it), optionally with events.
func (e *env) fire(t *testing.T, app string, k alert.Kind, level alert.Level, since string, events ...store.EventRecord) {
	t.Helper()
	a := alert.AlertState{}
	if level.Firing() {
		a = alert.AlertState{Level: level, Since: at(since), LevelSince: at(since), LastSentAt: at(since)}
	}
	pgtest.Change(t, e.st, e.ids[app], func(s *store.AppState) { s.Alerts.Set(k, a) })
	pgtest.Events(t, e.st, e.ids[app], events...)
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends one request; token may be empty. Writes say Content-Type: application/json unless a
// header overrides it. Extra headers come as "Name: value".
func (e *env) do(t *testing.T, method, path, token, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if method != http.MethodGet && method != http.MethodHead {
		req.Header.Set("Content-Type", "application/json") // as every API client must; a header below may override it
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (e *env) get(t *testing.T, path string) response {
	t.Helper()
	return e.do(t, http.MethodGet, path, "", "")
}

func check(t *testing.T, got response, wantStatus int, wantBody string) {
	t.Helper()
	if got.status != wantStatus || got.body != wantBody {
		t.Errorf("got %d %s\nwant %d %s", got.status, got.body, wantStatus, wantBody)
	}
}
