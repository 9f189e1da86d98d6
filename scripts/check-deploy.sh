#!/usr/bin/env bash
# Checks the deployment kit with the tools that run it, offline:
#   - promtool: the rules' syntax and unit tests (deploy/prometheus/rules_test.yml), and the
#     Compose profile's prometheus.yml;
#   - systemd-analyze verify: deploy/systemd/monitor.service, pointed at a freshly built binary
#     (verify insists that ExecStart exists); any complaint about the unit fails;
#   - the Kubernetes manifests, decoded strictly with the API types, and docker-compose.yml,
#     loaded by compose-go (the loader of `docker compose`: schema and variables); each is a Go
#     module of its own, so that the monitor's module does not depend on them.
# With CI=true a missing tool fails the check; otherwise that part is skipped, saying so.
# .ci/run installs the tools (Debian's prometheus and systemd packages).
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
failed=0

missing() {
  if [[ "${CI:-}" == "true" ]]; then
    echo "check-deploy: $1 is missing (install Debian's $2 package): failing under CI=true" >&2
    failed=1
  else
    echo "check-deploy: SKIPPED the $3 checks: $1 is not installed (Debian's $2 package)" >&2
  fi
}

if command -v promtool >/dev/null 2>&1; then
  promtool check rules deploy/prometheus/rules.yml
  (cd deploy/prometheus && promtool test rules rules_test.yml)
  promtool check config --syntax-only deploy/prometheus/prometheus.yml
else
  missing promtool prometheus "Prometheus rules"
fi

if command -v systemd-analyze >/dev/null 2>&1; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  CGO_ENABLED=0 "$GO" build -o "$tmp/monitor" ./cmd/monitor
  sed "s|/usr/local/bin/monitor|$tmp/monitor|g" deploy/systemd/monitor.service >"$tmp/engagelab-monitor.service"
  # verify warns (exit 0) about unknown keys and bad values: any line naming the unit fails.
  out="$(systemd-analyze verify "$tmp/engagelab-monitor.service" 2>&1)" || { echo "$out" >&2; echo "check-deploy: systemd-analyze verify failed" >&2; exit 1; }
  if grep -q "engagelab-monitor.service" <<<"$out"; then
    echo "$out" >&2
    echo "check-deploy: systemd-analyze verify complained about deploy/systemd/monitor.service" >&2
    exit 1
  fi
  echo "systemd-analyze verify deploy/systemd/monitor.service: OK"
else
  missing systemd-analyze systemd "systemd unit"
fi

for m in deploy/kubernetes deploy/compose; do
  (cd "$m" && "$GO" vet ./... && "$GO" test -count=1 ./...)
done

exit "$failed"
