package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/config"
	"github.com/opsbalance/engagelab-monitor/internal/httpapi"
)

// refusal is what the service's Reload returns for a file it refused (app.ConfigError).
type refusal struct{ msg string }

func (r refusal) Error() string  { return r.msg }
func (r refusal) ConfigProblem() {}

// POST /-/reload: write scope, no body or Content-Type needed (`curl -X POST`), refused across
// origins; 400 with the sentence for a refused file, 500 without detail for anything else.
func TestReloadEndpoint(t *testing.T) {
	var calls atomic.Int32
	var answer atomic.Pointer[error]
	none := error(nil)
	answer.Store(&none)
	cfg := &config.Config{HTTP: config.HTTP{Tokens: []config.Token{readToken, writeToken}}}
	h := httpapi.New(httpapi.Config{Config: cfg, Logger: slog.New(slog.DiscardHandler),
		Reload: func(context.Context) error { calls.Add(1); return *answer.Load() }})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{url: srv.URL}
	answers := func(err error) { answer.Store(&err) }
	sentence := "config /etc/monitor.yaml: 1 problem:\n  - apps[0].thresholds.critical: \"lots\" is not a decimal number (line 9)"
	noType := "Content-Type: " // the do helper's JSON type removed: curl -X POST sends none

	check(t, e.do(t, "POST", "/-/reload", "", "", noType), 401, `{"error":"this path needs a token: send Authorization: Bearer <token>"}`+"\n")
	check(t, e.do(t, "POST", "/-/reload", readToken.Token.Reveal(), "", noType), 403,
		`{"error":"token grafana has read scope and cannot change anything"}`+"\n")
	check(t, e.do(t, "POST", "/-/reload", writeToken.Token.Reveal(), "", noType, "Sec-Fetch-Site: cross-site"), 403,
		`{"error":"a cross-origin request cannot change anything"}`+"\n")
	check(t, e.do(t, "GET", "/-/reload", writeToken.Token.Reveal(), ""), 405, `{"error":"GET is not allowed on /-/reload"}`+"\n")
	if n := calls.Load(); n != 0 {
		t.Fatalf("refused requests reloaded %d times", n)
	}

	check(t, e.do(t, "POST", "/-/reload", writeToken.Token.Reveal(), "", noType), 200, `{"status":"reloaded"}`+"\n")
	answers(refusal{sentence})
	check(t, e.do(t, "POST", "/-/reload", writeToken.Token.Reveal(), "", noType), 400,
		`{"error":"config /etc/monitor.yaml: 1 problem:\n  - apps[0].thresholds.critical: \"lots\" is not a decimal number (line 9)"}`+"\n")
	answers(errors.New("register the apps of the reloaded config: ERROR: something at db.internal:5432"))
	if res := e.do(t, "POST", "/-/reload", writeToken.Token.Reveal(), "", noType); res.status != 500 || res.body != `{"error":"reading the database failed; see the monitor's log"}`+"\n" {
		t.Errorf("a failure other than the file: %d %s", res.status, res.body)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d reloads for 3 accepted requests", n)
	}

	bare := httptest.NewServer(httpapi.New(httpapi.Config{Config: &config.Config{}}))
	t.Cleanup(bare.Close)
	check(t, (&env{url: bare.URL}).do(t, "POST", "/-/reload", "", ""), 503, `{"error":"this server cannot reload its configuration"}`+"\n")
}
