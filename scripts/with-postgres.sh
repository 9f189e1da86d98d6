#!/usr/bin/env bash
# Runs the given command with TEST_DATABASE_URL and DATABASE_URL pointing at a Postgres server:
#   1. $TEST_DATABASE_URL or $DATABASE_URL when set (nothing is started);
#   2. else a throwaway cluster from the local PostgreSQL binaries (initdb refuses root,
#      so as root it runs them as the "postgres" user), removed when the command ends;
#   3. else `docker compose` with this repository's postgres service.
# If none of these can be had it says so and fails.
set -euo pipefail

if [[ -n "${TEST_DATABASE_URL:-}" || -n "${DATABASE_URL:-}" ]]; then
  export TEST_DATABASE_URL="${TEST_DATABASE_URL:-$DATABASE_URL}"
  export DATABASE_URL="${DATABASE_URL:-$TEST_DATABASE_URL}"
  exec "$@"
fi

pgbin=""
if command -v initdb >/dev/null 2>&1; then
  pgbin="$(dirname "$(readlink -f "$(command -v initdb)")")"
else
  for d in /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
    [[ -x "$d/initdb" ]] && pgbin="$d"
  done
fi

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port found on 127.0.0.1" >&2; return 1
}

if [[ -n "$pgbin" ]]; then
  dir="$(mktemp -d /tmp/engagelab-pg.XXXXXX)"
  port="$(free_port)"
  as_pg=()
  if [[ "$(id -u)" == 0 ]]; then
    if ! id postgres >/dev/null 2>&1; then
      echo "with-postgres: running as root and there is no 'postgres' user to run initdb as" >&2; exit 1
    fi
    chown postgres "$dir"
    as_pg=(runuser -u postgres --)
  fi
  cleanup() {
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM HUP
  "${as_pg[@]}" "$pgbin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { echo "with-postgres: initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1; }
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -h 127.0.0.1 -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null \
    || { echo "with-postgres: the server did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  export DATABASE_URL="$TEST_DATABASE_URL"
  echo "with-postgres: throwaway PostgreSQL on 127.0.0.1:$port ($dir)" >&2
  "$@"
  exit $?
fi

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  here="$(cd "$(dirname "$0")/.." && pwd)"
  project="engagelab-test-$$"
  # Compose checks the whole file, the monitor's variables and secret files too; only postgres
  # starts, with the password "monitor" from a throwaway secrets directory.
  MONITOR_SECRETS_DIR="$(mktemp -d /tmp/engagelab-secrets.XXXXXX)"
  export MONITOR_SECRETS_DIR
  for s in database_url monitor_api_token prometheus_token slack_webhook_url checkout_dev_secret grafana_admin_password; do
    echo unused >"$MONITOR_SECRETS_DIR/$s"
  done
  printf monitor >"$MONITOR_SECRETS_DIR/postgres_password"
  chmod 0644 "$MONITOR_SECRETS_DIR"/*
  trap 'docker compose -p "$project" -f "$here/docker-compose.yml" down -v >/dev/null 2>&1 || true; rm -rf "$MONITOR_SECRETS_DIR"' EXIT
  POSTGRES_PORT="$(free_port)"
  export POSTGRES_PORT
  export CHECKOUT_DEV_KEY="${CHECKOUT_DEV_KEY:-unused}"
  docker compose -p "$project" -f "$here/docker-compose.yml" up -d --wait postgres
  export TEST_DATABASE_URL="postgres://monitor:monitor@127.0.0.1:$POSTGRES_PORT/monitor?sslmode=disable"
  export DATABASE_URL="$TEST_DATABASE_URL"
  "$@"
  exit $?
fi

echo "with-postgres: no database for the tests: set TEST_DATABASE_URL, install the PostgreSQL server binaries (initdb, pg_ctl), or run a Docker engine" >&2
exit 1
