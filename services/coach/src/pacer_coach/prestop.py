"""``python -m pacer_coach.prestop``: the Kubernetes preStop hook. It returns once
no reply is open in this process, so the SIGTERM that follows cuts none.

A pod being deleted leaves its Service's ready endpoints at once, but the edge
learns it through DNS (the record's TTL plus Caddy's own refresh), so new chats
may still arrive for a few seconds: wait ``--min-seconds`` first. Then poll this
process's open chat streams (``coach_open_streams`` on its metrics port) until
there are none, for at most ``--max-seconds``: at least the longest a reply can
run (``COACH_STREAM_TIMEOUT_SECONDS``), so every reply ends on its own. Only then
does the kubelet send SIGTERM, and the drain (:mod:`pacer_coach.server`) has
nothing left to cut. The pod's ``terminationGracePeriodSeconds`` covers the
longest wait plus the drain (tests/deploy/test_kubernetes.py holds the sum).

Notification streams are not counted: they end at SIGTERM and their clients
resume elsewhere with ``Last-Event-ID``. A metrics port that does not answer
ends the wait (the process is going anyway; the drain stores what is open).

    python -m pacer_coach.prestop --min-seconds=15 --max-seconds=125
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from collections.abc import Sequence

OPEN_STREAMS_METRIC = "coach_open_streams"
POLL_SECONDS = 1.0
METRICS_TIMEOUT_SECONDS = 2.0


def open_streams(metrics_url: str) -> float | None:
    """The gauge's value, or None when the metrics cannot be read."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=METRICS_TIMEOUT_SECONDS) as response:
            text = response.read().decode("utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == OPEN_STREAMS_METRIC:
            return float(value)
    return None


def wait_for_replies(
    metrics_url: str, *, min_s: float, max_s: float, poll_s: float = POLL_SECONDS
) -> str:
    """Wait as the module docstring says; return why the wait ended."""
    started = time.monotonic()
    time.sleep(min_s)
    while True:
        count = open_streams(metrics_url)
        if count is None:
            return "metrics_unreadable"
        if count <= 0:
            return "no_open_replies"
        left = max_s - (time.monotonic() - started)
        if left <= 0:
            return "max_wait"
        time.sleep(min(poll_s, left))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pacer_coach.prestop")
    parser.add_argument("--min-seconds", type=float, required=True)
    parser.add_argument("--max-seconds", type=float, required=True)
    port = os.environ.get("COACH_METRICS_PORT", "9102")
    parser.add_argument("--metrics-url", default=f"http://127.0.0.1:{port}/metrics")
    args = parser.parse_args(argv)
    started = time.monotonic()
    ended = wait_for_replies(args.metrics_url, min_s=args.min_seconds, max_s=args.max_seconds)
    # One JSON line, like the service's logs (the kubelet keeps a hook's output
    # only when it fails, so this is for a person running it by hand).
    line: dict[str, object] = {
        "event": "coach_prestop_done",
        "reason": ended,
        "waited_seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(line), file=sys.stderr)  # noqa: T201


if __name__ == "__main__":
    main()
