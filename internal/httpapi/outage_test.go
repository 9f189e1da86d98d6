package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

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
