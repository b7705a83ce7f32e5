"""``make bench-coach``: the coach's numbers on a fresh stack.

held streams   N chats held open through the proxy while the simulator hangs:
               the coach's and Caddy's RSS, and /health p99 through the proxy
               idle versus while they are held
first delta    time from the simulator writing its first token to the client
               reading the first `delta` through the proxy (same machine, same clock)
reply log      (issue 11's numbers)
  memory       Redis used_memory for --replies finished replies inside their TTL and
               after it (REPLY_LOG_TTL_SECONDS is set short for the bench: --log-ttl)
  resume       reconnect → first replayed event through the proxy, GET
               /v1/coach/messages/{id}/stream with Last-Event-ID, over --resumes resumes
  CPU / token  coach CPU time (/proc) per relayed token, one coach process per variant
               beside the stack's, driven directly, one after the other, same run:
               the Redis log or the in-process stand-in (pacer_devstack.coach_without_log,
               not durable), coalesced (REPLY_FLUSH_MS=40) or one event per token
               (REPLY_FLUSH_BYTES=1), 200-token replies at each --rates tokens/s;
               the same runs give the SSE delta events per reply
The load generators run as their own processes at nice 19 (pacer_devstack.sse_load).
Figures are printed and written to .bench/bench-coach.json (git-ignored).
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
from typing import Any
from urllib.parse import urlsplit

from pacer_devstack import bench_reply_log
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
# The coach's own bound on SSE_MAX_STREAMS_PER_USER (settings.py): the held
# streams are one athlete's, so at most this many.
MAX_STREAMS_PER_USER = 1000
OUT_DIR = Path(".bench")


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


def _print_reply_log(figures: dict[str, Any]) -> None:
    memory = figures["redis_memory"]
    mib = 1024 * 1024
    print(
        f"\nreply log memory: {memory['replies']} finished 200-token replies "
        f"(100 tokens/s, {memory['logs_kept']} logs, {memory['log_entries']} entries), "
        f"REPLY_LOG_TTL_SECONDS={memory['log_ttl_seconds']} (short, for the bench)"
    )
    print(
        f"  Redis used_memory: inside the TTL +"
        f"{(memory['used_memory_inside_ttl'] - memory['used_memory_before']) / mib:.2f} MiB "
        f"(the logs' MEMORY USAGE {memory['log_bytes_memory_usage'] / mib:.2f} MiB, "
        f"{memory['log_bytes_memory_usage'] / max(memory['logs_kept'], 1) / 1024:.1f} KiB a reply); "
        f"after it +{(memory['used_memory_after_ttl'] - memory['used_memory_before']) / mib:.2f} MiB "
        f"({memory['logs_left_after_ttl']} logs left)"
    )
    resume = figures["resume"]
    print(
        f"\nresume through the proxy (reconnect → first replayed event, {resume['resumes']} "
        f"resumes of a finished reply from its first delta): p50 {resume['p50_ms']:.2f} ms, "
        f"p99 {resume['p99_ms']:.2f} ms (goal ≤ 50), max {resume['max_ms']:.2f} ms"
    )
    cpu = figures["cpu_per_token"]
    print(
        f"\ncoach CPU per relayed token: {cpu[0]['streams']} streams of 200-token replies, "
        f"one coach process per variant driven directly, load at nice 19, median of "
        f"{cpu[0]['rounds']} round(s)"
    )
    print(
        f"  {'variant':<30}{'tok/s':>7}{'µs/token':>10}{'CPU %':>8}{'events/reply':>14}"
        f"{'delivered tok/s':>17}"
    )
    for row in cpu:
        us = row["us_per_token"]
        print(
            f"  {row['variant']:<30}{row['rate_tokens_per_s']:>7g}"
            f"{(f'{us:.1f}' if us is not None else '-'):>10}{(row['cpu_percent'] or 0):>8.1f}"
            f"{(row['events_per_reply'] or 0):>14.1f}{(row['tokens_per_s_delivered'] or 0):>17.0f}"
        )
    for rate in sorted({row["rate_tokens_per_s"] for row in cpu}):
        by_name = {row["variant"]: row for row in cpu if row["rate_tokens_per_s"] == rate}
        with_log = by_name[bench_reply_log.VARIANTS[0].name]["us_per_token"]
        without = by_name[bench_reply_log.VARIANTS[1].name]["us_per_token"]
        per_token = by_name[bench_reply_log.VARIANTS[3].name]["us_per_token"]
        if with_log and without and per_token:
            print(
                f"  at {rate:g} tokens/s: the log costs {100 * (with_log / without - 1):+.0f} % "
                f"(goal ≤ +10 %); log + coalescing vs. per-token events without a log: "
                f"{100 * (with_log / per_token - 1):+.0f} %"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=1000, help="held streams (0: skip)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replies", type=int, default=1000, help="finished replies for memory")
    parser.add_argument("--log-ttl", type=int, default=60, help="REPLY_LOG_TTL_SECONDS (≥ 10)")
    parser.add_argument("--resumes", type=int, default=100)
    parser.add_argument("--cpu-streams", type=int, default=50)
    parser.add_argument("--cpu-seconds", type=float, default=10.0, help="per variant and rate")
    parser.add_argument("--cpu-rounds", type=int, default=1)
    parser.add_argument("--rates", default="20,100", help="tokens/s per stream, comma-separated")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    if args.streams > MAX_STREAMS_PER_USER:
        parser.error(f"--streams: at most {MAX_STREAMS_PER_USER} (one athlete holds them)")
    stop_on_sigterm()
    long_s = "600"
    concurrency = max(args.streams, min(args.replies, 200), args.cpu_streams)
    env = {
        # Room for the held streams, and deadlines longer than the benchmark.
        "SSE_MAX_CONNECTIONS": str(concurrency + 100),
        # One athlete holds every stream: lift the per-user cap with the process cap.
        "SSE_MAX_STREAMS_PER_USER": str(min(concurrency + 100, MAX_STREAMS_PER_USER)),
        "SSE_WARN_CONNECTIONS": str(concurrency + 50),
        "RATE_LIMIT_FREE": "1000000",
        "LLM_FIRST_TOKEN_TIMEOUT_SECONDS": long_s,
        "LLM_IDLE_TIMEOUT_SECONDS": long_s,
        "LLM_SDK_TIMEOUT_SECONDS": long_s,
        "COACH_STREAM_TIMEOUT_SECONDS": long_s,
        "REPLY_LOG_TTL_SECONDS": str(args.log_ttl),
    }
    figures: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="pacer-bench-coach-") as folder:
        stack = start_stack(Path(folder) / "data", env)
        try:
            token = athlete_token(stack.url)
            tokens_file = bench_reply_log.write_tokens(Path(folder), [token])
            # First, on a fresh Redis: the memory of finished replies' logs.
            figures["redis_memory"] = bench_reply_log.redis_memory(
                stack, tokens_file, args.replies, min(args.replies, 200), args.log_ttl
            )
            if args.streams:
                figures.update(held_streams_and_first_delta(stack, token, args))
            figures["resume"] = bench_reply_log.resume_latency(stack, token, args.resumes)
            figures["cpu_per_token"] = bench_reply_log.cpu_per_token(
                stack,
                tokens_file,
                streams=args.cpu_streams,
                rates=[float(rate) for rate in args.rates.split(",")],
                seconds=args.cpu_seconds,
                rounds=args.cpu_rounds,
            )
            _print_reply_log(figures)
        finally:
            stack.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench-coach.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nfigures written to {args.out / 'bench-coach.json'} (machine shared: noisy)")


def held_streams_and_first_delta(
    stack: Stack, token: str, args: argparse.Namespace
) -> dict[str, Any]:
    print(
        f"coach RSS idle: {_rss_mib(stack, 'pacer_coach'):.1f} MiB, caddy {_rss_mib(stack, 'caddy'):.1f} MiB"
    )
    print(
        f"\n/health through the proxy, {args.clients} clients ({load_generator()}), "
        f"median of {args.rounds} rounds of {args.seconds:g} s (ms)"
    )
    print(LATENCY_HEADER)
    idle = median_of_rounds(stack.url, "/health", {}, args.clients, args.seconds, args.rounds)
    print(latency_line("idle", idle))

    _sim(stack, "/_sim/mode", {"mode": "hang"})
    started = time.monotonic()
    loop = asyncio.new_event_loop()
    writers = loop.run_until_complete(hold_streams(stack.url, token, args.streams))
    while _sim(stack, "/_sim/stats")["active"] != args.streams:
        time.sleep(0.2)
    opened = time.monotonic() - started
    held = median_of_rounds(stack.url, "/health", {}, args.clients, args.seconds, args.rounds)
    print(latency_line(f"{args.streams} streams held", held))
    coach_rss = _rss_mib(stack, "pacer_coach")
    print(
        f"\n{args.streams} streams opened in {opened:.1f} s; coach RSS "
        f"{coach_rss:.1f} MiB, caddy {_rss_mib(stack, 'caddy'):.1f} MiB; "
        f"p99 held / idle = {held['p99'] / idle['p99']:.2f}"
    )
    loop.run_until_complete(close_streams(writers))
    loop.close()
    bench_reply_log.cut_llm_calls(stack)
    bench_reply_log.wait_streams_closed(stack)

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
    return {
        "health_idle": idle,
        "health_held": held,
        "held_streams": args.streams,
        "held_opened_s": opened,
        "coach_rss_held_mib": coach_rss,
        "first_delta_ms": {
            "median": statistics.median(lags),
            "p90": statistics.quantiles(lags, n=10)[8],
            "max": lags[-1],
        },
    }


if __name__ == "__main__":
    main()
