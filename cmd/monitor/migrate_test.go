package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opsbalance/engagelab-monitor/internal/engagelab/fake"
	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
)

// emptyDatabase creates a database with no schema at all (pgtest.URL gives migrated ones) and
// returns its URL; it is dropped when the test ends.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	server := pgtest.ServerURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("connect to test server: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "engagelab_cli_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("drop database: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	path := setup{dbURL: emptyDatabase(t), apps: []fake.App{appHealthy}}.config(t)

	r := cli(t, "migrate", "--config", path)
	r.want(t, 0)
	applied := regexp.MustCompile(`^applied (\d+_[a-z_]+\.sql)(, \d+_[a-z_]+\.sql)*; schema version (\d+)\n$`)
	m := applied.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("first migrate: stdout = %q, want it to match %s", r.stdout, applied)
	}

	r = cli(t, "migrate", "--config", path)
	r.want(t, 0)
	if want := "database is up to date (schema version " + m[3] + ")\n"; r.stdout != want {
		t.Errorf("second migrate: stdout = %q, want %q", r.stdout, want)
	}
}

// A person is waiting: an unreachable database is one sentence at once, not a retry loop.
func TestMigrateUnreachableDatabase(t *testing.T) {
	t.Parallel()
	path := setup{dbURL: "postgres://monitor:db-password-42@127.0.0.1:1/db", apps: []fake.App{appHealthy}}.config(t)
	start := time.Now()
	r := cli(t, "migrate", "--config", path)
	elapsed := time.Since(start)
	r.want(t, 1)
	// A refused connection answers in milliseconds. The bound is slack for a loaded CI machine,
	// and still below two of the 5s waits `serve` makes between attempts.
	if elapsed > 9*time.Second {
		t.Errorf("migrate took %s to give up on an unreachable database", elapsed)
	}
	want := "monitor: database 127.0.0.1:1/db does not answer: failed to connect to `user=monitor database=db`: " +
		"127.0.0.1:1 (127.0.0.1): dial error: dial tcp 127.0.0.1:1: connect: connection refused\n"
	if r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
	if strings.Contains(r.stderr+r.stdout, "db-password-42") {
		t.Errorf("output contains the database password:\n%s", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
}
