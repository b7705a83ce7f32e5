"""The coach's CPU per relayed token, on a fresh stack (a quick check, not ``make bench-storm``).

    python -m pacer_devstack.bench_coach_cpu --streams 100 --rate 100 --seconds 10

N chats stream at R tokens/s each (the simulator's ``slow`` mode); once every
stream has its first delta, the coach's CPU time (utime + stime of its
processes) and the tokens the clients read are counted over a window: µs of
coach CPU per token delivered. The clients and the simulator run at the lowest
CPU priority (``nice 19``), standing in for machines elsewhere; on a machine
busy with other work they then starve and the token rate collapses, so
``--client-nice 0 --sim-nice 0`` there (the figure is CPU per token, which
their priority does not change). Each rate gets a fresh stack. Streams go to
the coach's own port (``--via-proxy`` for Caddy's); ``--profile`` runs py-spy
(``--py-spy PATH`` if it is not on the PATH) over the window and prints the
functions that take the most time; ``--env NAME=VALUE`` sets a stack setting
(``--env LLM_RAW_STREAM=false`` measures the SDK's typed-event path).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from urllib.parse import urlsplit

from pacer_devstack.bench import athlete_token, stop_on_sigterm
from pacer_devstack.bench_coach import _sim
from pacer_devstack.harness import Stack, start_stack

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
OPEN_CONCURRENCY = 5


def _cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


async def _one_stream(
    host: str,
    port: int,
    token: str,
    gate: asyncio.Semaphore,
    tokens: Synchronized[int],
    started: Synchronized[int],
    done: Synchronized[int],
    errors: multiprocessing.Queue[str],
) -> None:
    body = json.dumps({"message": "Stream to me, please."}).encode()
    async with gate:
        for _ in range(20):
            reader, writer = await asyncio.open_connection(host, port)
            # HTTP/1.0: the body comes close-delimited, not chunked, so lines can be read as they are.
            writer.write(
                b"POST /v1/coach/chat HTTP/1.0\r\nHost: bench\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
                break
            if b" 503 " not in head.split(b"\r\n", 1)[0]:
                raise RuntimeError(
                    head.decode(errors="replace") + (await reader.read(500)).decode()
                )
            # A busy machine: the pool or Redis was slow for a moment; ask again.
            writer.close()
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError("503 twenty times in a row")
    first = True
    while True:
        line = await reader.readline()
        if not line:
            break
        if line.startswith(b'data: {"text":'):
            if first:
                first = False
                with started.get_lock():
                    started.value += 1
            # A simulator token is a word and its trailing space; JSON here has no other space.
            count = line.count(b" ") - 1
            with tokens.get_lock():
                tokens.value += count
        elif line.startswith(b"event: error"):
            errors.put((await reader.readline()).decode().strip())
        elif line.startswith(b"event: done"):
            errors.put("done " + (await reader.readline()).decode().strip())
            with done.get_lock():
                done.value += 1
            break
    writer.close()


def _clients(
    url: str,
    token: str,
    streams: int,
    tokens: Synchronized[int],
    started: Synchronized[int],
    done: Synchronized[int],
    errors: multiprocessing.Queue[str],
    niceness: int,
) -> None:
    os.nice(niceness)
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", int(parts.port or 80)

    async def run() -> None:
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        await asyncio.gather(
            *(
                _one_stream(host, port, token, gate, tokens, started, done, errors)
                for _ in range(streams)
            )
        )

    asyncio.run(run())


def _profile_summary(raw: Path, top: int) -> None:
    """py-spy's collapsed stacks → the functions with the most self and total samples."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if "Runner.run" not in stack:
            continue  # the event loop's thread only: the metrics server's thread idles in select
        count = int(count_text)
        frames = [
            frame.split(" (")[0] + " " + frame.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1]
            for frame in stack.split(";")
        ]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"\npy-spy: {total} samples; self time")
    for frame, count in own.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {frame}")
    print("total (inclusive) time")
    for frame, count in inclusive.most_common(top + 15):
        print(f"  {100 * count / total:5.1f}%  {frame}")


def measure(stack: Stack, args: argparse.Namespace) -> dict[str, float]:
    token = athlete_token(stack.url)
    token_ms = round(1000 / args.rate)
    per_stream = int(args.rate * (args.seconds + 15))
    _sim(
        stack,
        "/_sim/mode",
        {"mode": "slow", "first_token_ms": 0, "token_ms": token_ms, "tokens": per_stream},
    )
    coach = [pid for pid, cmd in stack.pids().items() if "pacer_coach" in cmd and "python" in cmd]
    url = stack.url if args.via_proxy else f"http://127.0.0.1:{stack.port('COACH_PORT')}"
    ctx = multiprocessing.get_context("spawn")
    tokens, started, done = ctx.Value("q", 0), ctx.Value("q", 0), ctx.Value("q", 0)
    errors: multiprocessing.Queue[str] = ctx.Queue()
    client = ctx.Process(
        target=_clients,
        args=(url, token, args.streams, tokens, started, done, errors, args.client_nice),
        daemon=True,
    )
    client.start()
    deadline = time.monotonic() + 60
    while started.value < args.streams:
        if time.monotonic() > deadline or not client.is_alive():
            raise RuntimeError(f"only {started.value} of {args.streams} streams started")
        time.sleep(0.1)
    time.sleep(1.0)  # past the opening burst
    spy = None
    folder = Path(args.profile_out or tempfile.mkdtemp(prefix="pacer-cpu-"))
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / f"profile-{args.rate:g}.txt"
    if args.profile:
        # The dev group installs it into the venv, beside this Python.
        beside = Path(sys.executable).with_name("py-spy")
        py_spy = args.py_spy or shutil.which("py-spy") or (str(beside) if beside.exists() else None)
        if py_spy is None:
            raise SystemExit(
                "--profile needs py-spy (make install puts it in .venv/bin; --py-spy PATH)"
            )
        spy = subprocess.Popen(
            [
                py_spy,
                "record",
                "-r",
                "200",
                "-d",
                str(int(args.seconds)),
                "-f",
                "raw",
                "--threads",
                "-o",
                str(raw),
                "-p",
                str(min(coach)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    cpu0, tokens0, t0 = _cpu_s(coach), tokens.value, time.monotonic()
    time.sleep(args.seconds)
    cpu1, tokens1, t1 = _cpu_s(coach), tokens.value, time.monotonic()
    done_in_window = done.value
    seen_errors: collections.Counter[str] = collections.Counter()
    while not errors.empty():
        seen_errors[errors.get()[:120]] += 1
    if spy is not None:
        spy.wait(timeout=60)
    _sim(stack, "/_sim/reset", {})
    client.join(timeout=60)
    if client.is_alive():
        client.kill()
    relayed = tokens1 - tokens0
    elapsed = t1 - t0
    figures = {
        "streams": args.streams,
        "rate_per_stream": args.rate,
        "window_s": round(elapsed, 2),
        "tokens_per_s": round(relayed / elapsed, 1),
        "expected_tokens_per_s": args.streams * args.rate,
        "coach_cpu_pct": round(100 * (cpu1 - cpu0) / elapsed, 1),
        "coach_us_per_token": round(1e6 * (cpu1 - cpu0) / max(relayed, 1), 1),
        "ended_early": done_in_window,
    }
    if seen_errors:
        print("errors in the window:", dict(seen_errors))
    print(json.dumps(figures))
    if spy is not None and raw.exists():
        _profile_summary(raw, args.top)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[100.0], help="tokens/s per stream"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--via-proxy", action="store_true")
    parser.add_argument("--client-nice", type=int, default=19)
    parser.add_argument(
        "--sim-nice",
        type=int,
        default=19,
        help="the simulator's nice; on a busy machine 0 keeps its token rate up",
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--log", action="store_true", help="print the stack's warnings after each rate"
    )
    parser.add_argument("--py-spy", default=None)
    parser.add_argument(
        "--profile-out", default=None, help="a folder for py-spy's collapsed stacks"
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the stack")
    args = parser.parse_args()
    stop_on_sigterm()
    long_s = "600"
    env = {
        "SSE_MAX_CONNECTIONS": str(args.streams + 100),
        "SSE_MAX_STREAMS_PER_USER": str(min(1000, args.streams + 100)),
        "SSE_WARN_CONNECTIONS": str(args.streams + 50),
        "RATE_LIMIT_FREE": "1000000",
        "COACH_MAX_REPLY_TOKENS": "32000",
        "LLM_FIRST_TOKEN_TIMEOUT_SECONDS": long_s,
        "LLM_IDLE_TIMEOUT_SECONDS": long_s,
        "LLM_SDK_TIMEOUT_SECONDS": long_s,
        "COACH_STREAM_TIMEOUT_SECONDS": long_s,
    }
    env.update(item.split("=", 1) for item in args.env)
    # A fresh stack per rate: nothing of one run (producers, quota, slots) weighs on the next.
    for rate in args.rate:
        with tempfile.TemporaryDirectory(prefix="pacer-bench-cpu-") as folder:
            stack = start_stack(Path(folder) / "data", env)
            try:
                for pid, cmd in stack.pids().items():
                    if "pacer_llm_sim" in cmd:
                        os.setpriority(os.PRIO_PROCESS, pid, args.sim_nice)
                measure(stack, argparse.Namespace(**{**vars(args), "rate": rate}))
                if args.log:
                    warnings = [line for line in stack.lines if "warn" in line or "error" in line]
                    print("".join(warnings[-30:]))
            finally:
                stack.stop()


if __name__ == "__main__":
    main()
