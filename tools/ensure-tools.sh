#!/usr/bin/env bash
# The tools the test suite runs that are not Python packages, installed in this
# one place (make test-tools, which `make test` runs first) rather than from
# inside a test. Idempotent and quiet: it does nothing when they are there.
#
#   promtool (Debian's `prometheus` package): checks deploy/alerts.yml and
#   runs its unit tests in tests/deploy/test_alerts.py.
#   chromium (Debian's `chromium` package): the browser tests/browser drives
#   with Playwright (executable_path); Playwright's own browser download cannot
#   work here.
#
# Installing needs apt-get and root (or sudo without a password); without them,
# or when apt fails, it says so and exits 0, and only the tests that need the
# tool skip (with a reason).
set -euo pipefail

# command on PATH -> Debian package that provides it
declare -A wanted=([promtool]=prometheus [chromium]=chromium)
missing=()
for command in "${!wanted[@]}"; do
    command -v "$command" >/dev/null 2>&1 || missing+=("${wanted[$command]}")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

as_root=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        as_root=(none)
    fi
fi
if [[ "${as_root[*]}" == none ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-tools: missing ${missing[*]}; installing needs root (or sudo) and apt-get" \
        "(apt-get install ${missing[*]}). The tests that need them will skip." >&2
    exit 0
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
install=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}")
# Try the package lists already on the machine first; refresh them only if that fails.
if ! "${install[@]}" >"$log" 2>&1; then
    if ! { "${as_root[@]}" apt-get update -q && "${install[@]}"; } >"$log" 2>&1; then
        echo "ensure-tools: apt-get install ${missing[*]} failed; the tests that need them will skip:" >&2
        tail -n 5 "$log" >&2
        exit 0
    fi
fi
for command in "${!wanted[@]}"; do
    if ! command -v "$command" >/dev/null 2>&1; then
        echo "ensure-tools: ${wanted[$command]} installed but $command is not on PATH; its tests will skip" >&2
    fi
done
echo "ensure-tools: installed ${missing[*]}"
