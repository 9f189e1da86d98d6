// Package store is the only package that speaks SQL. It owns the Postgres pool, the schema
// migrations and every query: snapshots, failed polls, alert state, events and the outbox.
// It knows nothing of HTTP, cron or Slack; callers hand it values and decisions.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/opsbalance/engagelab-monitor/migrations"
)

// ErrBadURL is returned by Open for a connection string pgx cannot parse: a configuration
// mistake, not an outage, so there is no point in retrying.
var ErrBadURL = errors.New("database.url is not a valid PostgreSQL connection string")

// CheckURL reports whether dbURL is a connection string pgx can parse, without connecting.
func CheckURL(dbURL string) error {
	if _, err := pgxpool.ParseConfig(dbURL); err != nil {
		return ErrBadURL
	}
	return nil
}

// Store is the database. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	group  committer // polls written together (WithAppLockGrouped)
}

// Open parses url, connects and pings. The error never contains the URL's password.
func Open(ctx context.Context, dbURL string, logger *slog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		// pgx's parse errors can quote the URL, password included.
		return nil, ErrBadURL
	}
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		pgxdecimal.Register(conn.TypeMap())
		return nil
	}
	if !strings.Contains(dbURL, "pool_max_conns") {
		// pgx's default (the larger of 4 and the CPU count) is too few: each delivery in flight
		// holds a connection while it waits on a receiver, and polls, ticks and the API need
		// theirs meanwhile. pool_max_conns in the URL overrides this.
		cfg.MaxConns = max(cfg.MaxConns, 16)
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.ConnConfig.RuntimeParams["application_name"] = "engagelab-monitor"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database %s: %w", Redact(dbURL), err)
	}
	s := &Store{pool: pool, logger: logger}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Unavailable reports whether err says the database could not be reached (down, restarting,
// refusing connections), as opposed to a query that failed: the API answers 503 for it.
func Unavailable(err error) bool {
	var connect *pgconn.ConnectError
	var unreachable *unreachableError
	var pgErr *pgconn.PgError
	var netErr net.Error
	switch {
	case errors.As(err, &connect), errors.As(err, &unreachable), errors.As(err, &netErr):
		return true
	case errors.As(err, &pgErr):
		// 08: connection exceptions; 57P: the server is shutting down, crashed or starting.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return &unreachableError{where: s.where(), err: err}
	}
	return nil
}

// unreachableError says in one line that the database does not answer: pgx lists every
// connection attempt on a line of its own, often the same one twice.
type unreachableError struct {
	where string
	err   error
}

func (e *unreachableError) Error() string {
	var parts []string
	seen := map[string]bool{}
	for _, l := range strings.Split(e.err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !seen[l] {
			seen[l] = true
			parts = append(parts, l)
		}
	}
	return fmt.Sprintf("database %s does not answer: %s", e.where, strings.Join(parts, " "))
}

func (e *unreachableError) Unwrap() error { return e.err }

func (s *Store) where() string {
	c := s.pool.Config().ConnConfig
	return fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database)
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Pool exposes the pool to tests and benchmarks in other packages.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Redact hides the password of a connection URL for messages.
func Redact(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil || u.Host == "" {
		return "(connection string)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

func (s *Store) goose() (*goose.Provider, *sql.DB, error) {
	db := stdlib.OpenDBFromPool(s.pool)
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	fsys, err := fs.Sub(migrations.FS, ".")
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(s.logger))
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return p, db, nil
}

// Migrate applies every pending migration and creates the snapshot partitions of the weeks
// around now (see EnsureSnapshotPartitions). Two processes migrating at once take turns on
// goose's session lock, so each migration runs once.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	p, db, err := s.goose()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer db.Close()
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []string
	for _, r := range res {
		applied = append(applied, r.Source.Path)
	}
	// Also when nothing was pending: a monitor that was stopped for weeks starts with this
	// week's snapshot partition ready.
	if err := s.EnsureSnapshotPartitions(ctx, time.Now()); err != nil {
		return applied, fmt.Errorf("migrate: %w", err)
	}
	return applied, nil
}

// SchemaVersion returns the database's schema version and the newest this binary knows.
func (s *Store) SchemaVersion(ctx context.Context) (current, want int64, err error) {
	p, db, err := s.goose()
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	for _, src := range p.ListSources() {
		want = max(want, src.Version)
	}
	// Read goose's table directly: GetDBVersion would create it on a fresh database.
	err = s.pool.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&current)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: never migrated
		return 0, want, nil
	}
	if err != nil {
		return 0, 0, err
	}
	return current, want, nil
}

// CheckSchema returns an error unless the schema is at or ahead of this binary's.
func (s *Store) CheckSchema(ctx context.Context) error {
	cur, want, err := s.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if cur < want {
		return fmt.Errorf("database schema is at version %d, this binary needs %d: run `monitor migrate`", cur, want)
	}
	return nil
}

// EnsureApps makes sure every configured app has its row and state row and returns their ids,
// in two statements whatever the number of apps. Only apps it does not have yet take an id
// (an insert that meets a conflict spends one): snapshots refer to apps by an integer
// (migration 00014), so ids must not grow with every start and reload.
func (s *Store) EnsureApps(ctx context.Context, names []string) (map[string]int64, error) {
	ids := make(map[string]int64, len(names))
	rows, err := s.pool.Query(ctx, `
		WITH names AS (SELECT DISTINCT unnest($1::text[]) AS name),
		ins AS (INSERT INTO apps (name) SELECT name FROM names WHERE NOT EXISTS (SELECT 1 FROM apps a WHERE a.name = names.name)
		        ON CONFLICT (name) DO NOTHING RETURNING id, name)
		SELECT id, name FROM ins
		UNION ALL SELECT a.id, a.name FROM apps a JOIN names USING (name)`, names)
	if err != nil {
		return nil, fmt.Errorf("register apps: %w", err)
	}
	var all []int64
	var id int64
	var name string
	if _, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error {
		ids[name] = id
		all = append(all, id)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("register apps: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO app_state (app_id) SELECT unnest($1::bigint[]) ON CONFLICT DO NOTHING`, all); err != nil {
		return nil, fmt.Errorf("register apps: %w", err)
	}
	return ids, nil
}

// AppID returns the id of a stored app, or ErrNotFound.
func (s *Store) AppID(ctx context.Context, name string) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM apps WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	return id, err
}

// ErrNotFound is returned for an app or row that does not exist.
var ErrNotFound = errors.New("not found")

// SlotClaim is an app's scheduled slot that a process means to poll.
type SlotClaim struct {
	App  string
	Slot time.Time
}

// ClaimSlots records, in one statement, that this process polls each app at its slot.
// claimed[i] is false when another replica (or an earlier claim) already has claims[i], or
// when the app is not registered; a claim repeated within claims is granted once.
func (s *Store) ClaimSlots(ctx context.Context, claims []SlotClaim) (claimed []bool, err error) {
	claimed = make([]bool, len(claims))
	if len(claims) == 0 {
		return claimed, nil
	}
	apps := make([]string, len(claims))
	slots := make([]time.Time, len(claims))
	for i, c := range claims {
		// poll_slots keeps microseconds: the slot compared is the slot stored.
		apps[i], slots[i] = c.App, c.Slot.UTC().Truncate(time.Microsecond)
	}
	// DISTINCT ON keeps the first of a repeated claim; ON CONFLICT leaves another replica's
	// rows alone; RETURNING names the rows this statement inserted, so only those are granted.
	rows, err := s.pool.Query(ctx, `
		WITH want AS (
			SELECT DISTINCT ON (a.id, w.slot) a.id, w.slot, w.i
			FROM unnest($1::text[], $2::timestamptz[]) WITH ORDINALITY AS w(name, slot, i)
			JOIN apps a ON a.name = w.name
			ORDER BY a.id, w.slot, w.i),
		ins AS (
			INSERT INTO poll_slots (app_id, slot) SELECT id, slot FROM want
			ON CONFLICT DO NOTHING RETURNING app_id, slot)
		SELECT want.i FROM want JOIN ins ON ins.app_id = want.id AND ins.slot = want.slot`, apps, slots)
	if err != nil {
		return nil, fmt.Errorf("claim %d poll slots: %w", len(claims), err)
	}
	var i int64
	if _, err := pgx.ForEachRow(rows, []any{&i}, func() error {
		claimed[i-1] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("claim %d poll slots: %w", len(claims), err)
	}
	return claimed, nil
}
