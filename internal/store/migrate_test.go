package store_test

import (
	"context"
	"io/fs"
	"log/slog"
	"sync"
	"testing"

	"github.com/opsbalance/engagelab-monitor/internal/pgtest"
	"github.com/opsbalance/engagelab-monitor/internal/store"
	"github.com/opsbalance/engagelab-monitor/migrations"
)

// Two processes starting at once on an empty database: goose's session lock makes them take
// turns, so each migration is applied once and both start.
func TestConcurrentMigrationsApplyEachOnce(t *testing.T) {
	url := pgtest.EmptyURL(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	applied := make([][]string, 2)
	errs := make([]error, 2)
	// Both open and see the fresh database before either starts: a check after the first
	// started would see its progress.
	stores := make([]*store.Store, 2)
	for i := range stores {
		s, err := store.Open(ctx, url, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if cur, _, err := s.SchemaVersion(ctx); err != nil || cur != 0 {
			t.Fatalf("fresh database at version %d, %v", cur, err)
		}
		stores[i] = s
	}
	for i, s := range stores {
		wg.Go(func() { applied[i], errs[i] = s.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) < 3 {
		t.Fatalf("embedded migrations: %v (%v)", files, err)
	}
	if total := len(applied[0]) + len(applied[1]); total != len(files) || (len(applied[0]) != 0 && len(applied[1]) != 0) {
		t.Errorf("applied %v and %v; want all %d migrations applied by one process", applied[0], applied[1], len(files))
	}
	s, err := store.Open(ctx, url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CheckSchema(ctx); err != nil {
		t.Error(err)
	}
	var rows int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&rows); err != nil || rows != len(files) {
		t.Errorf("goose_db_version has %d applied rows (%v), want %d", rows, err, len(files))
	}
}
