// Package migrations holds the goose SQL migrations, embedded so that the binary migrates its
// own database. Files are applied in version order; never edit one that has shipped.
package migrations

import "embed"

// FS holds the *.sql files at its root, as goose's provider expects.
//
//go:embed *.sql
var FS embed.FS
