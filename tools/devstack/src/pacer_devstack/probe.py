"""Latency probes for the benchmarks: one slice of GETs, closed-loop (wrk or Python) or at a fixed rate.

A closed loop measures throughput: its clients send as fast as the stack
answers, so on 2 cores the probe alone keeps Caddy and core-api busy and its
p99 is mostly queueing behind itself. A fixed rate (``rate`` > 0) measures what
one more user would see: requests go out on a schedule, and each latency is
counted from when it was due, so a probe that falls behind (a stalled stack)
shows it instead of quietly sending less (no coordinated omission).

``make bench-storm`` runs a slice after another for each route, each as a
process of its own at the lowest CPU priority (:func:`lowest_priority`), so the
probes stand in for clients on other machines. Without wrk on the PATH,
``python -m pacer_devstack.probe URL PATH CLIENTS SECONDS [TOKEN|-] [RATE]`` is the
client: threads with keep-alive http.client connections, one JSON line out.
Every slice answers ``{"requests", "errors", "rps", "p50", "p90", "p99", "max"}`` (ms).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

LOWEST_NICENESS = 19
# With autogroup scheduling (sched_autogroup_enabled=1) a nice value ranks a
# process only within its session: a nice 19 process in a session of its own
# would still get as much CPU as the stack's whole session. The wrapper gives the
# new session's autogroup nice 19 too, then execs the command at nice 19.
_LOWEST = 'echo {n} > /proc/self/autogroup 2>/dev/null; exec nice -n {n} "$@"'
# CPUs the stand-ins for other machines are pinned to (taskset's list), when set:
# bench-storm's 1-vCPU droplet keeps its one CPU for the stack (--droplet).
OUTSIDE_CPUS_ENV = "PACER_BENCH_OUTSIDE_CPUS"


def at_priority(command: list[str], niceness: int) -> list[str]:
    """``command`` at ``niceness``, its session's autogroup too; start it with
    ``start_new_session``."""
    pinned = ["taskset", "-c", cpus] if (cpus := os.environ.get(OUTSIDE_CPUS_ENV)) else []
    return ["sh", "-c", _LOWEST.format(n=niceness), "sh", *pinned, *command]


def lowest_priority(command: list[str]) -> list[str]:
    """``command`` at nice 19, its session's autogroup too; start it with ``start_new_session``."""
    return at_priority(command, LOWEST_NICENESS)


_WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk_ms(text: str) -> float:
    """A wrk latency figure (``812.34us``, ``1.20ms``, ``2.00s``) in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match[1]) * _WRK_UNITS_MS[match[2]]


def _parse_wrk(out: str, seconds: float) -> dict[str, float]:
    requests = re.search(r"(\d+) requests in", out)
    figures: dict[str, float] = {"requests": float(requests[1]) if requests else 0.0}
    figures["rps"] = figures["requests"] / seconds
    for label, key in (("50%", "p50"), ("90%", "p90"), ("99%", "p99")):
        found = re.search(rf"^\s+{label}\s+(\S+)", out, re.M)
        figures[key] = wrk_ms(found[1]) if found else float("nan")
    found = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out)
    figures["max"] = wrk_ms(found[1]) if found else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    figures["errors"] = float(errors[1]) if errors else 0.0
    if socket_errors:
        figures["errors"] += sum(float(socket_errors[i]) for i in range(1, 5))
    return figures


def start_slice(
    url: str,
    path: str,
    clients: int,
    seconds: float,
    token: str | None = None,
    rate: float = 0.0,
    niceness: int = LOWEST_NICENESS,
) -> subprocess.Popen[str]:
    """One slice of load on ``path`` (closed-loop, or ``rate`` requests/s), started at
    ``niceness`` in a session (and autogroup) of its own; see :func:`finish_slice`."""
    wrk = shutil.which("wrk") if rate <= 0 else None
    if wrk is not None:
        headers = ["-H", f"Authorization: Bearer {token}"] if token else []
        command = [wrk, "-t1", f"-c{clients}", f"-d{seconds:g}s", "--latency", *headers, url + path]
    else:
        command = [
            sys.executable,
            "-m",
            "pacer_devstack.probe",
            url,
            path,
            str(clients),
            str(seconds),
            token or "-",
            str(rate),
        ]
    return subprocess.Popen(
        at_priority(command, niceness), stdout=subprocess.PIPE, text=True, start_new_session=True
    )


def finish_slice(
    process: subprocess.Popen[str], seconds: float, rate: float = 0.0
) -> dict[str, float]:
    out, _ = process.communicate(timeout=seconds + 30)
    if rate <= 0 and shutil.which("wrk") is not None:
        return _parse_wrk(out, seconds)
    answer: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return answer


def tool(rate: float = 0.0) -> str:
    if rate > 0:
        return f"python http.client at a fixed {rate:g} requests/s per route"
    return (
        "wrk"
        if shutil.which("wrk")
        else "python http.client threads (install wrk for less overhead)"
    )


def connect(url: str, timeout: float) -> http.client.HTTPConnection:
    """A keep-alive connection to ``url``'s host: TLS for https:// (verified against the
    default trust store, which SSL_CERT_FILE sets: `make bench-storm` points it at Caddy's
    internal root for the containers)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if parts.scheme == "https":
        return http.client.HTTPSConnection(host, parts.port, timeout=timeout)
    return http.client.HTTPConnection(host, parts.port, timeout=timeout)


class _Slice:
    """One slice of GETs from ``clients`` threads, each on its own keep-alive connection.

    Every client opens its connection (TCP, and TLS against the containers) with
    one untimed request before the clock starts: a slice is a fresh process, and
    its handshakes (4 % of a 2 s slice's requests at 50 requests/s over 4 clients)
    would otherwise be its p99. With a rate, the clients share one schedule:
    request k is due at k / rate, and its latency counts from then.
    """

    def __init__(self, url: str, path: str, token: str | None, rate: float) -> None:
        self.url = url
        self.path = path
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.rate = rate
        self.latencies: list[float] = []
        self.errors = 0
        self.started_at = 0.0
        self.deadline = 0.0
        self._next_due = 0
        self._lock = threading.Lock()

    def run(self, clients: int, seconds: float) -> None:
        def start_clock() -> None:
            self.started_at = time.perf_counter()
            self.deadline = self.started_at + seconds

        warmed = threading.Barrier(clients, action=start_clock)
        threads = [threading.Thread(target=self._client, args=(warmed,)) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _due(self) -> float:
        with self._lock:
            k = self._next_due
            self._next_due += 1
        return self.started_at + k / self.rate

    def _get(self, connection: http.client.HTTPConnection) -> int:
        connection.request("GET", self.path, headers=self.headers)
        response = connection.getresponse()
        response.read()
        return response.status

    def _client(self, warmed: threading.Barrier) -> None:
        connection = connect(self.url, timeout=10)
        try:
            self._get(connection)
        except OSError:
            connection.close()  # the timed loop reconnects, and counts it if it fails
        warmed.wait()
        while time.perf_counter() < self.deadline:
            started = time.perf_counter()
            if self.rate > 0:
                started = self._due()
                if started >= self.deadline:
                    break
                if (wait_s := started - time.perf_counter()) > 0:
                    time.sleep(wait_s)
            try:
                status = self._get(connection)
            except OSError:
                with self._lock:
                    self.errors += 1
                connection.close()
                continue
            with self._lock:
                self.latencies.append(time.perf_counter() - started)
                self.errors += status != 200
        connection.close()


def _python_slice(
    url: str, path: str, clients: int, seconds: float, token: str | None, rate: float = 0.0
) -> dict[str, Any]:
    probe = _Slice(url, path, token, rate)
    probe.run(clients, seconds)
    latencies = sorted(probe.latencies)
    if len(latencies) < 2:
        return {"requests": len(latencies), "errors": probe.errors, "rps": 0.0}
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "errors": probe.errors,
        "rps": len(latencies) / seconds,
        "p50": quantiles[49] * 1000,
        "p90": quantiles[89] * 1000,
        "p99": quantiles[98] * 1000,
        "max": latencies[-1] * 1000,
    }


def main() -> None:
    url, path, clients, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    token = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] != "-" else None
    rate = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    json.dump(_python_slice(url, path, clients, seconds, token, rate), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
