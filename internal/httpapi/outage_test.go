package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opsbalance/engagelab-monitor/internal/notify/notifytest"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
)

// While the database does not answer, reads are 503 with a sentence, not 500: an orchestrator
// and a person both read "try again", and nothing is wrong with the request.
func TestDatabaseGoneIs503(t *testing.T) {
	e := newEnv(t)
	// Drop the test's database under the running handler: every new connection now fails.
	var name string
	if err := e.st.Pool().QueryRow(context.Background(), `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(context.Background(), pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(context.Background(), `DROP DATABASE "`+name+`" WITH (FORCE)`); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, "GET", "/api/v1/apps", "", "")
	if r.status != 503 || !strings.Contains(r.body, "the database does not answer") {
		t.Fatalf("GET /api/v1/apps with the database gone = %d %s, want 503 saying the database does not answer\nlog:\n%s", r.status, r.body, e.logs.String())
	}
}

// A NUL byte in a silence reason is the client's mistake (Postgres text cannot hold it): 400.
func TestSilenceReasonWithNULIs400(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "POST", "/api/v1/apps/checkout/silence", "", `{"for": "2h", "reason": "a\u0000b"}`, "Content-Type: application/json")
	if r.status != 400 || !strings.Contains(r.body, "reason must be text without NUL bytes") {
		t.Fatalf("silence with a NUL byte = %d %s, want 400 naming the reason", r.status, r.body)
	}
}

// A client that gives up on a slow request is its own business: one DEBUG line, not an ERROR.
func TestARequestTheClientCancelledIsNotAnError(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Hold checkout's state row, so a silence waits for it.
	tx, err := e.st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM app_state WHERE app_id = $1 FOR UPDATE`, e.ids["checkout"]); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, "POST", e.url+"/api/v1/apps/checkout/silence", strings.NewReader(`{"for": "2h"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the request was answered %d while the row was held", resp.StatusCode)
	}
	notifytest.Eventually(t, "the server to notice the cancelled request", func() bool {
		return strings.Contains(e.logs.String(), "request cancelled by the client")
	})
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("a cancelled request logged an error: %s", line)
		}
		if strings.Contains(line, "request cancelled by the client") && !strings.Contains(line, "level=DEBUG") {
			t.Errorf("logged above debug: %s", line)
		}
	}
}
