// Package compose holds no code: its test loads the repository's docker-compose.yml with
// compose-go, the loader `docker compose` itself uses, which checks it against the Compose
// specification's schema and interpolates its variables, offline and without Docker. It is a
// module of its own so that the monitor's module does not depend on compose-go.
package compose
