// Package pgtest gives each test its own migrated Postgres database, cloned from a template
// that is migrated once with the production migrations. It is for tests only.
//
// The server comes from $TEST_DATABASE_URL (else $DATABASE_URL); `make test` starts a
// throwaway one. Without a server a test is skipped, except with CI=true, where it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opsbalance/engagelab-monitor/internal/store"
	"github.com/opsbalance/engagelab-monitor/migrations"
)

// ServerURL returns the URL of the test server, skipping (or failing under CI) without one.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		u = os.Getenv("DATABASE_URL")
	}
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no test database: TEST_DATABASE_URL is not set (run the tests through `make test`)")
		}
		t.Skip("no test database: set TEST_DATABASE_URL or run `make test`")
	}
	return u
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// EmptyURL creates a fresh database with no schema at all (for migration tests) and returns
// its URL; it is dropped when the test ends.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return create(t, ServerURL(t), "")
}

// URL creates a fresh migrated database for this test and returns its URL; the database is
// dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(server) })
	if templateErr != nil {
		t.Fatalf("prepare template database: %v", templateErr)
	}
	return create(t, server, templateName)
}

// create makes a database (a copy of template, unless it is empty) dropped at cleanup.
func create(t testing.TB, server, template string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("connect to test server: %v", err)
	}
	defer conn.Close(ctx)
	name := "engagelab_t_" + randomHex(6)
	stmt := fmt.Sprintf(`CREATE DATABASE %s`, name)
	if template != "" {
		stmt += " TEMPLATE " + template
	}
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, stmt)
		// Another process cloning the template at the same moment makes Postgres refuse.
		if err == nil || attempt == 50 || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return withDatabase(t, server, name)
}

// New opens a Store on a fresh migrated database; it is closed when the test ends.
func New(t testing.TB) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, URL(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func withDatabase(t testing.TB, server, name string) string {
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL is not a URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// ensureTemplate creates, once per server and migration set, a migrated database to clone.
// Test binaries of several packages run at once, so creation happens under an advisory lock.
func ensureTemplate(server string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	name := "engagelab_tpl_" + hex.EncodeToString(h.Sum(nil))[:16]

	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7734001)`); err != nil {
		return "", err
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock(7734001)`) //nolint:errcheck
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_new"
	if _, err := conn.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, building)); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s`, building)); err != nil {
		return "", err
	}
	u, _ := url.Parse(server)
	u.Path = "/" + building
	s, err := store.Open(ctx, u.String(), slog.New(slog.DiscardHandler))
	if err != nil {
		return "", err
	}
	_, err = s.Migrate(ctx)
	s.Close()
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name)); err != nil {
		return "", err
	}
	return name, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
