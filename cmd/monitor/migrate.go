package main

import (
	"context"
	"fmt"
	"strings"
)

type migrateCmd struct{}

func (migrateCmd) Run(ctx context.Context, e *env) error {
	s, err := e.open(ctx, need{store: true})
	if err != nil {
		return err
	}
	defer s.Close()
	applied, err := s.store.Migrate(ctx)
	if err != nil {
		return err
	}
	cur, _, err := s.store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(e.stdout, "database is up to date (schema version %d)\n", cur)
		return nil
	}
	fmt.Fprintf(e.stdout, "applied %s; schema version %d\n", strings.Join(applied, ", "), cur)
	return nil
}
