"""``make bench``: start a stack, measure it, stop it, print the figures.

    start-up     seconds from `make run` to its "ready" line (cluster already made or not)
    memory       RSS and PSS of every process of the idle stack
    latency      /health and /v1/home through the proxy, closed loop, N concurrent clients

Clients are separate processes with keep-alive http.client connections: the
load generator shares the 2 cores with the stack, as in MEASURED.md, so keep
its own cost per request small.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pacer_devstack import probe
from pacer_devstack.harness import Stack, start_stack

IDLE_SETTLE_S = 5.0


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB; PSS splits shared pages (Postgres's buffers) fairly."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _short(command: str) -> str:
    for needle, name in (
        ("pacer_core_api", "core-api"),
        ("pacer_coach", "coach"),
        ("pacer_llm_sim", "llm-sim"),
        ("pacer_briefing_worker", "briefing-worker"),
        ("supervisord", "supervisord"),
        ("caddy", "caddy"),
        ("valkey", "valkey"),
        ("postgres", "postgres"),
        ("make", "make"),
    ):
        if needle in command:
            return name
    return command.split()[0][-30:]


def memory_report(stack: Stack) -> None:
    rows: dict[str, list[int]] = {}
    for pid, command in stack.pids().items():
        rss, pss = _memory_kib(pid)
        row = rows.setdefault(_short(command), [0, 0, 0])
        row[0] += 1
        row[1] += rss
        row[2] += pss
    print("\nidle memory (MiB)")
    print(f"  {'process':<14}{'procs':>6}{'RSS':>9}{'PSS':>9}")
    for name, (count, rss, pss) in sorted(rows.items(), key=lambda item: -item[1][1]):
        print(f"  {name:<14}{count:>6}{rss / 1024:>9.1f}{pss / 1024:>9.1f}")
    total_rss = sum(row[1] for row in rows.values()) / 1024
    total_pss = sum(row[2] for row in rows.values()) / 1024
    print(f"  {'total':<14}{'':>6}{total_rss:>9.1f}{total_pss:>9.1f}")


def _client(args: tuple[str, str, dict[str, str], float]) -> list[float]:
    url, path, headers, duration_s = args
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    latencies: list[float] = []
    deadline = time.perf_counter() + duration_s
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
        latencies.append(time.perf_counter() - started)
    connection.close()
    return latencies


def _measure_with_python(
    url: str, path: str, headers: dict[str, str], clients: int, seconds: float
) -> dict[str, float]:
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        pool.map(_client, [(url, path, headers, 1.0)] * clients)  # warm-up
        results = pool.map(_client, [(url, path, headers, seconds)] * clients)
    latencies = sorted(value for result in results for value in result)
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / seconds,
        "p50": quantiles[49] * 1000,
        "p90": quantiles[89] * 1000,
        "p99": quantiles[98] * 1000,
        "max": latencies[-1] * 1000,
    }


def _measure_with_wrk(
    wrk: str, url: str, path: str, headers: dict[str, str], clients: int, seconds: float
) -> dict[str, float]:
    header_args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    base = [wrk, "-t2", f"-c{clients}", *header_args]
    subprocess.run([*base, "-d1s", url + path], capture_output=True, check=True)  # warm-up
    out = subprocess.run(
        [*base, f"-d{seconds:g}s", "--latency", url + path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])}  # type: ignore[index]
    for label, key in (("50%", "p50"), ("90%", "p90"), ("99%", "p99")):
        figures[key] = probe.wrk_ms(re.search(rf"^\s+{label}\s+(\S+)", out, re.M)[1])  # type: ignore[index]
    figures["max"] = probe.wrk_ms(re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out)[1])  # type: ignore[index]
    if "Non-2xx" in out:
        raise RuntimeError(f"{path}: non-2xx responses under load")
    return figures


def measure_latency(
    url: str, path: str, headers: dict[str, str], clients: int, seconds: float
) -> dict[str, float]:
    """Closed loop: ``clients`` connections each sending requests back to back.

    With wrk on the PATH (Debian's package, as in MEASURED.md) it generates the
    load; otherwise ``clients`` Python processes do, which costs the 2 shared
    cores more and so reads a little slower.
    """
    wrk = shutil.which("wrk")
    if wrk is not None:
        return _measure_with_wrk(wrk, url, path, headers, clients, seconds)
    return _measure_with_python(url, path, headers, clients, seconds)


def load_generator() -> str:
    return (
        "wrk"
        if shutil.which("wrk")
        else "python http.client processes (install wrk for less client overhead)"
    )


def median_of_rounds(
    url: str, path: str, headers: dict[str, str], clients: int, seconds: float, rounds: int
) -> dict[str, float]:
    """This machine's neighbours steal CPU now and then: take each figure's median over rounds."""
    runs = [measure_latency(url, path, headers, clients, seconds) for _ in range(rounds)]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


LATENCY_HEADER = f"  {'route':<22}{'req/s':>8}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}"


def latency_line(label: str, figures: dict[str, float]) -> str:
    return (
        f"  {label:<22}{figures['rps']:>8.0f}{figures['p50']:>9.2f}"
        f"{figures['p90']:>9.2f}{figures['p99']:>9.2f}{figures['max']:>9.2f}"
    )


def athlete_token(url: str) -> str:
    connection = probe.connect(url, timeout=10)

    def call(
        method: str, path: str, body: Mapping[str, object], token: str | None = None
    ) -> dict[str, object]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection.request(method, path, body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        payload = response.read()
        return json.loads(payload) if payload else {}

    account = {"email": "bench@example.com", "password": "bench password 1", "name": "Bench"}
    call("POST", "/v1/auth/register", account)
    token = str(
        call("POST", "/v1/auth/login", {k: account[k] for k in ("email", "password")})[
            "access_token"
        ]
    )
    call("POST", "/v1/checkins", {"sleep_hours": 7, "soreness": 2, "mood": 4}, token)
    for day in range(1, 6):
        activity = {
            "sport": "run",
            "started_at": f"2026-01-0{day}T07:00:00Z",
            "duration_s": 2400,
            "distance_m": 8000,
        }
        call("POST", "/v1/activities", activity, token)
    call(
        "PUT",
        "/v1/goal",
        {"race_name": "Bench Marathon", "race_date": "2027-04-01", "distance_m": 42195},
        token,
    )
    connection.close()
    return token


def stop_on_sigterm() -> None:
    """Turn SIGTERM (a `timeout`, a CI stop) into SystemExit so the stack is stopped too."""

    def leave(*_: object) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, leave)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    stop_on_sigterm()

    with tempfile.TemporaryDirectory(prefix="pacer-bench-") as folder:
        data_dir = Path(folder) / "data"
        started = time.monotonic()
        stack = start_stack(data_dir)
        first = time.monotonic() - started
        try:
            stack.stop()
            started = time.monotonic()
            stack = start_stack(data_dir)
            warm = time.monotonic() - started
            print(f"make run → ready: {first:.1f} s with a new data folder, {warm:.1f} s warm")
            time.sleep(IDLE_SETTLE_S)
            memory_report(stack)
            token = athlete_token(stack.url)
            print(
                f"\nthrough the proxy, {args.clients} concurrent clients ({load_generator()}), "
                f"median of {args.rounds} rounds of {args.seconds:g} s (ms)"
            )
            print(LATENCY_HEADER)
            auth = {"Authorization": f"Bearer {token}"}
            for path, headers in (("/health", {}), ("/v1/home", auth)):
                figures = median_of_rounds(
                    stack.url, path, headers, args.clients, args.seconds, args.rounds
                )
                print(latency_line(path, figures))
        finally:
            took = stack.stop()
        print(f"\nSIGTERM → every process gone: {took:.1f} s; left behind: {len(stack.pids())}")


if __name__ == "__main__":
    main()
