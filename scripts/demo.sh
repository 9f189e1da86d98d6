#!/usr/bin/env bash
# Runs the demo: the fake EngageLab (`monitor simulate`) and `monitor serve` on it, against the
# database in $DATABASE_URL (make demo starts a throwaway one). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./bin/monitor
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM HUP

for port in 8080 8099; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port on 127.0.0.1 is already in use (another demo still running?); stop it and try again" >&2
    exit 1
  fi
done

"$bin" simulate --listen 127.0.0.1:8099 | sed -u 's/^/[simulate] /' &
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
  Alerts arrive at the simulator's webhook sink, printed below as [simulate] lines.
  Press Ctrl-C to stop; the throwaway database is removed.

MSG
MONITOR_CONFIG=demo/monitor.yaml "$bin" serve &
pids+=($!)
wait -n "${pids[@]}"
