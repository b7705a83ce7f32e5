#!/usr/bin/env bash
# The tools the test suite runs that are not Python packages, installed in this
# one place (make test-tools, which `make test` runs first) rather than from
# inside a test. Idempotent and quiet: it does nothing when they are there.
#
#   promtool (Debian's `prometheus` package): checks deploy/alerts.yml and
#   runs its unit tests in tests/deploy/test_alerts.py.
#
# Installing needs root and apt-get; without them, or when apt fails, it says
# so and exits 0, and only the tests that need the tool skip (with a reason).
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-tools: promtool is missing; installing it needs root and apt-get" \
        "(apt-get install prometheus). The promtool tests will skip." >&2
    exit 0
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
install=(apt-get install -y -q --no-install-recommends prometheus)
# Try the package lists already on the machine first; refresh them only if that fails.
if ! "${install[@]}" >"$log" 2>&1; then
    if ! { apt-get update -q && "${install[@]}"; } >"$log" 2>&1; then
        echo "ensure-tools: apt-get install prometheus failed; the promtool tests will skip:" >&2
        tail -n 5 "$log" >&2
        exit 0
    fi
fi
if ! command -v promtool >/dev/null 2>&1; then
    echo "ensure-tools: prometheus installed but promtool is not on PATH; the promtool tests will skip" >&2
    exit 0
fi
echo "ensure-tools: installed promtool (prometheus $(dpkg-query -W -f='${Version}' prometheus))"
