#!/usr/bin/env bash
# Runs the demo: the fake EngageLab (`monitor simulate`) and `monitor serve` on it, against the
# database in $DATABASE_URL (make demo starts a throwaway one). Ctrl-C stops everything and
# exits 0.
#
# On a terminal, the two processes run as one job in the terminal's foreground (set -m, fg):
# Ctrl-C then reaches them alone, not this script, scripts/with-postgres.sh or make, which
# would otherwise die of the signal ("make: *** Error 130"). Once they have shut down, this
# script cleans up and the throwaway database is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./bin/monitor
secret=whsec_ZGVtby1zaWduaW5nLXNlY3JldC0xMjM0NTY3ODkw # the demo-sink notifier's, in demo/monitor.yaml

for port in 8080 8099; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port on 127.0.0.1 is already in use (another demo still running?); stop it and try again" >&2
    exit 1
  fi
done

# The job: the simulator and the monitor; it ends when either ends or on Ctrl-C, after both
# have shut down gracefully.
services() {
  local pids=()
  trap 'echo; echo "demo: stopping (the monitor finishes its polls and deliveries first)…"; wait; exit 0' INT TERM
  trap 'kill "${pids[@]}" 2>/dev/null || true; wait' EXIT
  echo "demo: starting the fake EngageLab on 127.0.0.1:8099…"
  "$bin" simulate --listen 127.0.0.1:8099 --webhook-secret "$secret" > >(sed -u 's/^/[simulate] /') &
  pids+=($!)
  for _ in $(seq 1 50); do
    (exec 3<>/dev/tcp/127.0.0.1/8099) 2>/dev/null && break
    sleep 0.1
  done
  cat <<MSG

  The demo is running.
    dashboard:   http://127.0.0.1:8080/
    API:         curl -s http://127.0.0.1:8080/api/v1/apps
    metrics:     curl -s http://127.0.0.1:8080/metrics | grep ^engagelab_
    CLI:         DATABASE_URL='$DATABASE_URL' $bin alerts --all --config demo/monitor.yaml
  Within a few minutes: signup runs low (warning, then critical, then overdraft),
  marketing goes into overdraft, legacy's key is revoked, flaky fails for a while.
  Alerts arrive at the simulator's webhook sink, printed below as [simulate] lines
  with their message and whether their signature verified. The monitor logs polls,
  alerts and deliveries; HTTP requests only at MONITOR_LOG_LEVEL=debug.
  Press Ctrl-C to stop; the throwaway database is removed.

MSG
  MONITOR_CONFIG=demo/monitor.yaml "$bin" serve &
  pids+=($!)
  wait -n "${pids[@]}"
}

if [[ -t 0 ]]; then
  set -m
  services &
  fg >/dev/null || true
  set +m
else
  trap 'exit 0' INT TERM HUP
  services
fi
echo "demo: stopped"
