"""``python -m pacer_devstack.containers up|down``: behind `make containers-up` / `containers-down`.

up     the engine (installed and started when missing), the images (built when their
       content changed), the stack started and waited for; prints "pacer containers
       ready: URL" and exits 0, leaving it running. Exit 3: no engine can be had here.
down   removes every container, network and volume the stack made (the images stay:
       they are the cache that makes the next `up` fast).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import httpx

from pacer_devstack.containers import stack as local
from pacer_devstack.containers.engine import UNAVAILABLE, EngineUnavailable, ensure_engine
from pacer_devstack.containers.images import ensure_images


def wait_ready_through_caddy(running: local.LocalStack, deadline_s: float = 60) -> None:
    """/health/ready through Caddy's TLS, verified against Caddy's own root."""
    deadline = time.monotonic() + deadline_s
    last = ""
    with httpx.Client(verify=running.tls(), timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                response = http.get(f"{running.url}/health/ready")
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as error:
                last = repr(error)
            time.sleep(0.5)
    raise RuntimeError(f"{running.url}/health/ready did not answer 200: {last}")


def up() -> int:
    started = time.monotonic()
    try:
        ensure_engine()
    except EngineUnavailable as error:
        print(f"containers: no Docker engine here: {error}", file=sys.stderr)
        return UNAVAILABLE
    images = ensure_images()
    running = local.local_stack_from_env()
    local.up(running, images, os.environ)
    wait_ready_through_caddy(running)
    print(
        f"pacer containers ready: {running.url} (in {time.monotonic() - started:.0f} s; "
        f"Caddy's CA: {running.ca_file})",
        flush=True,
    )
    return 0


def down() -> int:
    try:
        ensure_engine()
    except EngineUnavailable as error:
        print(f"containers: no Docker engine here, nothing to remove: {error}", file=sys.stderr)
        return 0
    local.down(local.local_stack_from_env())
    print("pacer containers down", flush=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pacer_devstack.containers")
    parser.add_argument("command", choices=("up", "down"))
    args = parser.parse_args()
    try:
        sys.exit(up() if args.command == "up" else down())
    except RuntimeError as error:
        sys.exit(f"containers: {error}")


if __name__ == "__main__":
    main()
