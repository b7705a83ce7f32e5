"""``make bench-coach``: the coach's numbers on a fresh stack.

held streams   N chats held open through the proxy while the simulator hangs:
               the coach's and Caddy's RSS, and /health p99 through the proxy
               idle versus while they are held
first delta    time from the simulator writing its first token to the client
               reading the first `delta` through the proxy (same machine, same clock)
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from pacer_devstack.bench import (
    LATENCY_HEADER,
    _memory_kib,
    athlete_token,
    latency_line,
    load_generator,
    median_of_rounds,
    stop_on_sigterm,
)
from pacer_devstack.harness import Stack, start_stack

OPEN_CONCURRENCY = 50


def _sim(stack: Stack, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    connection = http.client.HTTPConnection("127.0.0.1", stack.port("LLM_SIM_PORT"), timeout=10)
    if body is None:
        connection.request("GET", path)
    else:
        connection.request(
            "POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"simulator {path}: HTTP {response.status} {payload[:200]!r}")
    return json.loads(payload) if payload else {}


def _rss_mib(stack: Stack, needle: str) -> float:
    return sum(_memory_kib(pid)[0] for pid, cmd in stack.pids().items() if needle in cmd) / 1024


async def _open_stream(url: str, token: str, gate: asyncio.Semaphore) -> asyncio.StreamWriter:
    parts = urlsplit(url)
    body = json.dumps({"message": "Hold this stream open, please."}).encode()
    async with gate:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(
            b"POST /v1/coach/chat HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
    return writer


async def hold_streams(url: str, token: str, count: int) -> list[asyncio.StreamWriter]:
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    return await asyncio.gather(*(_open_stream(url, token, gate) for _ in range(count)))


async def close_streams(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()
    await asyncio.gather(*(writer.wait_closed() for writer in writers), return_exceptions=True)


def first_delta_lags(stack: Stack, token: str, samples: int) -> list[float]:
    """Sequential chats: one in flight at a time, so the simulator's
    last first-token time belongs to the chat being read."""
    parts = urlsplit(stack.url)
    lags = []
    for _ in range(samples):
        connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=30
        )
        connection.request(
            "POST",
            "/v1/coach/chat",
            body=json.dumps({"message": "How far should I run today?"}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        seen = b""
        while b"event: delta" not in seen:
            chunk = response.read1(65536)
            if not chunk:
                raise RuntimeError("stream ended before a delta")
            seen += chunk
        received_at = time.time()
        response.read()
        connection.close()
        sent_at = _sim(stack, "/_sim/stats")["last_first_token_at"]
        assert isinstance(sent_at, float)
        lags.append((received_at - sent_at) * 1000)
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    stop_on_sigterm()
    long_s = "600"
    env = {
        # Room for the held streams, and deadlines longer than the benchmark.
        "SSE_MAX_CONNECTIONS": str(args.streams + 100),
        # One athlete holds every stream: lift the per-user cap with the process cap.
        "SSE_MAX_STREAMS_PER_USER": str(args.streams + 100),
        "SSE_WARN_CONNECTIONS": str(args.streams + 50),
        "RATE_LIMIT_FREE": "1000000",
        "LLM_FIRST_TOKEN_TIMEOUT_SECONDS": long_s,
        "LLM_IDLE_TIMEOUT_SECONDS": long_s,
        "LLM_SDK_TIMEOUT_SECONDS": long_s,
        "COACH_STREAM_TIMEOUT_SECONDS": long_s,
    }
    with tempfile.TemporaryDirectory(prefix="pacer-bench-coach-") as folder:
        stack = start_stack(Path(folder) / "data", env)
        try:
            token = athlete_token(stack.url)
            print(
                f"coach RSS idle: {_rss_mib(stack, 'pacer_coach'):.1f} MiB, caddy {_rss_mib(stack, 'caddy'):.1f} MiB"
            )
            print(
                f"\n/health through the proxy, {args.clients} clients ({load_generator()}), "
                f"median of {args.rounds} rounds of {args.seconds:g} s (ms)"
            )
            print(LATENCY_HEADER)
            idle = median_of_rounds(
                stack.url, "/health", {}, args.clients, args.seconds, args.rounds
            )
            print(latency_line("idle", idle))

            _sim(stack, "/_sim/mode", {"mode": "hang"})
            started = time.monotonic()
            loop = asyncio.new_event_loop()
            writers = loop.run_until_complete(hold_streams(stack.url, token, args.streams))
            while _sim(stack, "/_sim/stats")["active"] != args.streams:
                time.sleep(0.2)
            opened = time.monotonic() - started
            held = median_of_rounds(
                stack.url, "/health", {}, args.clients, args.seconds, args.rounds
            )
            print(latency_line(f"{args.streams} streams held", held))
            print(
                f"\n{args.streams} streams opened in {opened:.1f} s; coach RSS "
                f"{_rss_mib(stack, 'pacer_coach'):.1f} MiB, caddy {_rss_mib(stack, 'caddy'):.1f} MiB; "
                f"p99 held / idle = {held['p99'] / idle['p99']:.2f}"
            )
            loop.run_until_complete(close_streams(writers))
            loop.close()
            _sim(stack, "/_sim/reset", {})
            while _sim(stack, "/_sim/stats")["active"]:
                time.sleep(0.2)

            _sim(
                stack,
                "/_sim/mode",
                {"mode": "slow", "first_token_ms": 50, "token_ms": 20, "tokens": 5},
            )
            first_delta_lags(stack, token, 3)  # warm-up: first calls build the SDKs' parsers
            lags = sorted(first_delta_lags(stack, token, args.samples))
            print(
                f"\nsimulator's first token → client's first delta through the proxy, "
                f"{args.samples} chats: median {statistics.median(lags):.2f} ms, "
                f"p90 {statistics.quantiles(lags, n=10)[8]:.2f} ms, max {lags[-1]:.2f} ms"
            )
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
