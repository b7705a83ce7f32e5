#!/usr/bin/env bash
# A Docker engine and Compose v2 for `make containers-up` and tests/containers,
# set up from nothing but Debian's packages (no container registry is needed).
#
#   1. docker.io and debootstrap from apt when missing (root, or sudo -n);
#   2. dockerd started in the background when its socket does not answer (no
#      systemd here), and waited for;
#   3. Compose v2: Debian's own `docker-compose` package (2.x, built from source
#      by Debian, signed by its archive key), fetched from the same Debian
#      mirror with a private apt state so the machine's sources stay as they
#      are; only its binary is kept, in .tools/bin/docker-compose.
#
# Idempotent and quiet when everything is there. Exit codes: 0 ready; 3 no
# engine can be had here (no root/sudo, no apt, a daemon that will not start):
# the message says why, and tests/containers skips with it. Anything else is a
# bug of this script.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_BIN="$REPO_ROOT/.tools/bin"
COMPOSE="$TOOLS_BIN/docker-compose"
STATE_DIR="$REPO_ROOT/.pacer/containers"
DOCKER_SOCK="${PACER_DOCKER_SOCK:-/var/run/docker.sock}"
# The suite Debian's Compose v2 comes from: bookworm carries only Compose v1.
COMPOSE_SUITE="${PACER_COMPOSE_SUITE:-trixie}"
COMPOSE_DEB_VERSION="${PACER_COMPOSE_DEB_VERSION:-2.26.1-4}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
UNAVAILABLE=3

say() { echo "containers: $*" >&2; }
unavailable() { say "$*"; exit "$UNAVAILABLE"; }

as_root=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        as_root=(none)
    fi
fi
can_root() { [[ "${as_root[*]}" != none ]]; }

apt_install() {
    can_root && command -v apt-get >/dev/null 2>&1 \
        || unavailable "missing $*; installing needs root (or sudo -n) and apt-get"
    local log
    log="$(mktemp)"
    local install=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@")
    # The machine's package lists first; refresh them only when that fails.
    if ! "${install[@]}" >"$log" 2>&1; then
        if ! { "${as_root[@]}" apt-get update -q && "${install[@]}"; } >"$log" 2>&1; then
            tail -n 5 "$log" >&2
            rm -f "$log"
            unavailable "apt-get install $* failed"
        fi
    fi
    rm -f "$log"
    say "installed $*"
}

# 1. The engine and debootstrap (the local base images).
missing=()
command -v dockerd >/dev/null 2>&1 || [[ -x /usr/sbin/dockerd ]] || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] || missing+=(debootstrap)
if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "${missing[@]}"
fi
export PATH="$PATH:/usr/sbin:/sbin"

# The engine's own client (Debian's, the daemon's version) talks to it; a newer
# client elsewhere on PATH may lack the BuildKit builder (buildx) it needs.
DOCKER=/usr/bin/docker
[[ -x "$DOCKER" ]] || DOCKER="$(command -v docker)"

# 2. The daemon.
if ! "$DOCKER" -H "unix://$DOCKER_SOCK" info >/dev/null 2>&1; then
    can_root || unavailable "the Docker daemon is not running and starting it needs root (or sudo -n)"
    if [[ -S "$DOCKER_SOCK" ]] && pgrep -x dockerd >/dev/null 2>&1; then
        say "dockerd is running but $DOCKER_SOCK does not answer yet; waiting"
    else
        mkdir -p "$STATE_DIR"
        say "starting dockerd (log: $STATE_DIR/dockerd.log)"
        # setsid: the daemon outlives this script and make; it is the machine's.
        # --userland-proxy=false: a client on this machine reaches a published port
        # through the kernel's NAT, as production's clients do from outside, instead
        # of a docker-proxy process per port (5-9 % of a core under bench-storm's
        # chat load, a stand-in's cost on the stack's CPUs; issue 24).
        "${as_root[@]}" setsid dockerd --userland-proxy=false >"$STATE_DIR/dockerd.log" 2>&1 </dev/null &
        # Who started it: tests/containers stops a daemon it started, and only that one.
        echo $! >"$STATE_DIR/dockerd.pid"
    fi
    for _ in $(seq 1 120); do
        "$DOCKER" -H "unix://$DOCKER_SOCK" info >/dev/null 2>&1 && break
        sleep 0.5
    done
    "$DOCKER" -H "unix://$DOCKER_SOCK" info >/dev/null 2>&1 \
        || { tail -n 20 "$STATE_DIR/dockerd.log" >&2 2>/dev/null || true; unavailable "dockerd did not answer within 60 s"; }
fi

# 3. Compose v2, Debian's build.
if ! "$COMPOSE" version >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || unavailable "Compose v2 comes from Debian's packages and apt-get is missing"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/lists/partial" "$work/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DEBIAN_MIRROR $COMPOSE_SUITE main" \
        >"$work/sources.list"
    apt_opts=(
        -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work" -o "Dir::State::status=/dev/null"
        -o "APT::Sandbox::User=root" -q
    )
    # apt checks the suite's Release file against Debian's archive keyring, and
    # each .deb against the Release file's hashes.
    if ! (cd "$work" && apt-get "${apt_opts[@]}" update >"$work/log" 2>&1 \
        && apt-get "${apt_opts[@]}" download "docker-compose=$COMPOSE_DEB_VERSION" >>"$work/log" 2>&1); then
        tail -n 5 "$work/log" >&2
        unavailable "could not fetch Debian's docker-compose $COMPOSE_DEB_VERSION ($COMPOSE_SUITE)"
    fi
    dpkg-deb -x "$work"/docker-compose_*.deb "$work/root"
    mkdir -p "$TOOLS_BIN"
    install -m 0755 "$work/root/usr/libexec/docker/cli-plugins/docker-compose" "$COMPOSE"
    say "installed $("$COMPOSE" version) (Debian $COMPOSE_SUITE $COMPOSE_DEB_VERSION) in $COMPOSE"
fi
