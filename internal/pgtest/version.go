package pgtest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/opsbalance/engagelab-monitor/internal/store"
	"github.com/opsbalance/engagelab-monitor/migrations"
)

// AtVersion gives the test an empty database migrated only up to version, as an older release
// left it, with a store on it and the goose provider that takes it further (Up, UpTo, DownTo):
// for tests of what a migration does to rows written by the schema before it.
func AtVersion(t testing.TB, version int64) (*store.Store, *goose.Provider) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, EmptyURL(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	db := stdlib.OpenDBFromPool(st.Pool())
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		t.Fatal(err)
	}
	return st, p
}
