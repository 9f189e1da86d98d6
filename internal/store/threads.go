package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Thread names an alert episode as a notifier sees it: the episode of alert that began at
// since, of app.
type Thread struct {
	Notifier, App, Alert string
	Since                time.Time
}

// ThreadRoot returns the root message of th, "" when none was posted yet.
func (s *Store) ThreadRoot(ctx context.Context, th Thread) (string, error) {
	var root string
	err := s.pool.QueryRow(ctx, `
		SELECT t.root FROM notification_threads t JOIN apps a ON a.id = t.app_id
		WHERE t.notifier = $1 AND a.name = $2 AND t.alert = $3 AND t.since = $4`,
		th.Notifier, th.App, th.Alert, th.Since.UTC()).Scan(&root)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read thread root: %w", err)
	}
	return root, nil
}

// SaveThreadRoot remembers root as the root message of th; the first one saved stays.
func (s *Store) SaveThreadRoot(ctx context.Context, th Thread, root string) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO notification_threads (notifier, app_id, alert, since, root)
		SELECT $1, id, $3, $4, $5 FROM apps WHERE name = $2
		ON CONFLICT DO NOTHING`, th.Notifier, th.App, th.Alert, th.Since.UTC(), root)
	if err != nil {
		return fmt.Errorf("save thread root: %w", err)
	}
	return nil
}
