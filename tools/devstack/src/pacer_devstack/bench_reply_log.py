"""Issue 11's numbers for ``make bench-coach``: the reply log's memory, resume latency and CPU cost.

Each function takes a running stack (:mod:`pacer_devstack.harness`) and
returns plain figures; bench_coach prints them and writes them as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis

from pacer_common import redis_names
from pacer_devstack import sse_load
from pacer_devstack.harness import Stack, free_ports

# The simulator's token count for "a 200-token reply" (issue 11).
REPLY_TOKENS = 200
READY_DEADLINE_S = 60.0


def _sim(stack: Stack, path: str, body: dict[str, object]) -> None:
    response = httpx.post(f"http://127.0.0.1:{stack.port('LLM_SIM_PORT')}{path}", json=body)
    response.raise_for_status()


def sim_rate(stack: Stack, tokens_per_s: float, tokens: int = REPLY_TOKENS) -> None:
    """The simulator answers ``tokens`` tokens at ``tokens_per_s``, the first at once."""
    _sim(
        stack,
        "/_sim/mode",
        {
            "mode": "slow",
            "first_token_ms": 0,
            "token_ms": round(1000 / tokens_per_s),
            "tokens": tokens,
        },
    )


def cut_llm_calls(stack: Stack) -> None:
    """Restart the simulator, as a provider outage would: every call hanging on it ends.

    A reply's producer outlives its client (issue 11), so dropping the clients
    of hung chats no longer ends them, and ``/_sim/reset`` only zeroes the
    counters; the hung briefing jobs too wait for their LLM call. Restarting
    it errors every call at once (the coach stores each reply and frees its
    slot, the worker retries), and the simulator comes back in normal mode.
    """
    supervisorctl = Path(sys.executable).with_name("supervisorctl")
    conf = stack.data_dir / "run" / "supervisord.conf"
    subprocess.run(
        [str(supervisorctl), "-c", str(conf), "restart", "pacer-base:llm-sim"],
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + READY_DEADLINE_S
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{stack.port('LLM_SIM_PORT')}/health").is_success:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the simulator did not come back")
        time.sleep(0.1)


def coach_open_streams(stack: Stack) -> int:
    """The stack coach's ``coach_open_streams`` gauge: slots still held, by a client or a producer."""
    metrics = httpx.get(f"http://127.0.0.1:{stack.port('COACH_METRICS_PORT')}/metrics").text
    for line in metrics.splitlines():
        if line.startswith("coach_open_streams "):
            return int(float(line.split()[1]))
    raise RuntimeError("the coach's metrics have no coach_open_streams")


def wait_streams_closed(stack: Stack, deadline_s: float = 120.0) -> None:
    """Until every reply has been stored and its slot released: a producer outlives its
    client, so a dropped stream holds its slot until the reply ends."""
    deadline = time.monotonic() + deadline_s
    while coach_open_streams(stack):
        if time.monotonic() > deadline:
            raise RuntimeError("the coach's streams did not close")
        time.sleep(0.2)


def _redis(stack: Stack) -> redis.Redis:
    return redis.Redis(port=stack.port("REDIS_PORT"), decode_responses=True)


def _reply_logs(client: redis.Redis) -> list[str]:
    # Logs only: the heartbeat and cancel keys have a suffix after the message id.
    pattern = redis_names.reply_log_key("*")
    return [key for key in client.scan_iter(match=pattern, count=1000) if key.count(":") == 2]


def _number(answer: Any) -> int:
    # redis-py types its sync and async answers as one union: this client is sync.
    return int(answer or 0)


def _used_memory(client: redis.Redis) -> int:
    info: Any = client.info("memory")
    return int(info["used_memory"])


def redis_memory(
    stack: Stack, tokens_file: Path, replies: int, concurrency: int, log_ttl_s: int
) -> dict[str, Any]:
    """Redis used_memory for ``replies`` finished replies inside their TTL, then after it."""
    client = _redis(stack)
    before = _used_memory(client)
    sim_rate(stack, 100)
    started = time.monotonic()
    load = sse_load.result(
        sse_load.spawn(urlsplit(stack.url).netloc, tokens_file, concurrency, total=replies)
    )
    took = time.monotonic() - started
    logs = _reply_logs(client)
    inside = _used_memory(client)
    log_bytes = sum(_number(client.memory_usage(key)) for key in logs)
    entries = sum(_number(client.xlen(key)) for key in logs)
    deadline = time.monotonic() + log_ttl_s + 30
    while _reply_logs(client) and time.monotonic() < deadline:
        time.sleep(1)
    left = len(_reply_logs(client))
    after = _used_memory(client)
    client.close()
    return {
        "replies": load["replies"],
        "statuses": load["statuses"],
        "seconds_to_produce": took,
        "log_ttl_seconds": log_ttl_s,
        "logs_kept": len(logs),
        "log_entries": entries,
        "log_bytes_memory_usage": log_bytes,
        "used_memory_before": before,
        "used_memory_inside_ttl": inside,
        "used_memory_after_ttl": after,
        "logs_left_after_ttl": left,
    }


async def _one_resume(host: str, port: int, token: str, message_id: str, last_id: str) -> float:
    started = time.perf_counter()
    status, reader, writer = await sse_load.open_sse(
        host,
        port,
        "GET",
        f"/v1/coach/messages/{message_id}/stream",
        token,
        extra_headers={"Last-Event-ID": last_id},
    )
    try:
        if status != 200:
            raise RuntimeError(f"resume: HTTP {status}")
        decoder = sse_load.ChunkedEvents()
        while True:
            data = await reader.read(65536)
            if not data:
                raise RuntimeError("resume: the stream ended before an event")
            if any(sse_load.parse_block(block) for block in decoder.feed(data)):
                return (time.perf_counter() - started) * 1000
    finally:
        writer.close()


async def _resumes(url: str, token: str, count: int) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", int(parts.port or 80)
    status, reader, writer = await sse_load.open_sse(
        host, port, "POST", "/v1/coach/chat", token, sse_load.CHAT_BODY
    )
    if status != 200:
        raise RuntimeError(f"chat: HTTP {status}")
    events = await sse_load.read_reply(reader, keep=True)
    writer.close()
    message_id = str(json.loads(next(e for e in events if e.name == "meta").data)["message_id"])
    deltas = [e for e in events if e.name == "delta" and e.id]
    # As a client that saw the first delta and lost the rest: the replay is the whole rest.
    last_id = str(deltas[0].id)
    for _ in range(3):  # warm-up: connections, the first route's code paths
        await _one_resume(host, port, token, message_id, last_id)
    lags = sorted([await _one_resume(host, port, token, message_id, last_id) for _ in range(count)])
    return {
        "resumes": count,
        "events_replayed_after": len(events) - 2,
        "p50_ms": statistics.median(lags),
        "p99_ms": statistics.quantiles(lags, n=100, method="inclusive")[98]
        if count >= 2
        else lags[0],
        "max_ms": lags[-1],
    }


def resume_latency(stack: Stack, token: str, count: int) -> dict[str, Any]:
    """Reconnect → first replayed event, sequential resumes of a finished 200-token reply."""
    sim_rate(stack, 100)
    return asyncio.run(_resumes(stack.url, token, count))


@dataclass(frozen=True)
class Variant:
    name: str
    env: dict[str, str]
    # The coach with its Redis log, or the same coach with the log in its memory.
    module: str = "pacer_coach"


WITHOUT_LOG = "pacer_devstack.coach_without_log"
VARIANTS = (
    Variant("redis log, coalesced 40 ms", {}),
    Variant("no log (memory), coalesced", {}, WITHOUT_LOG),
    Variant("redis log, per token", {"REPLY_FLUSH_BYTES": "1"}),
    Variant("no log (memory), per token", {"REPLY_FLUSH_BYTES": "1"}, WITHOUT_LOG),
)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


@contextmanager
def extra_coaches(
    stack: Stack, variants: tuple[Variant, ...]
) -> Iterator[list[tuple[Variant, int, subprocess.Popen[bytes]]]]:
    """One coach process per variant, with the stack coach's environment, on ports of their own."""
    base = _environ(stack.pid_of("pacer_coach"))
    started: list[tuple[Variant, int, subprocess.Popen[bytes]]] = []
    try:
        for variant in variants:
            port, metrics_port = free_ports(2)
            env = {
                **base,
                "COACH_PORT": str(port),
                "COACH_METRICS_PORT": str(metrics_port),
                "REPLY_FLUSH_MS": "40",
                "REPLY_FLUSH_BYTES": "2048",
                **variant.env,
            }
            process = subprocess.Popen(
                [sys.executable, "-m", variant.module],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            started.append((variant, port, process))
        for _, port, process in started:
            deadline = time.monotonic() + READY_DEADLINE_S
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the extra coach on port {port} did not get ready")
                time.sleep(0.1)
        yield started
    finally:
        for _, _, process in started:
            process.send_signal(signal.SIGTERM)
        for _, _, process in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def cpu_per_token(
    stack: Stack,
    tokens_file: Path,
    *,
    streams: int,
    rates: list[float],
    seconds: float,
    rounds: int,
) -> list[dict[str, Any]]:
    """Coach µs of CPU per relayed token, and delta events per reply, for every variant and rate.

    Variants take turns within each round (so a noisy neighbour hits them alike); each
    figure is the median over rounds.
    """
    runs: dict[tuple[str, float], list[dict[str, Any]]] = {}
    with extra_coaches(stack, VARIANTS) as coaches:
        for _ in range(rounds):
            for rate in rates:
                sim_rate(stack, rate)
                replies_each = max(1, round(seconds * rate / REPLY_TOKENS))
                for variant, port, process in coaches:
                    cpu_before = sse_load.cpu_seconds(process.pid)
                    load = sse_load.result(
                        sse_load.spawn(
                            f"127.0.0.1:{port}", tokens_file, streams, total=streams * replies_each
                        )
                    )
                    cpu = sse_load.cpu_seconds(process.pid) - cpu_before
                    runs.setdefault((variant.name, rate), []).append(
                        {
                            "cpu_s": cpu,
                            "cpu_percent": 100 * cpu / load["seconds"],
                            "tokens": load["tokens"],
                            "replies": load["replies"],
                            "statuses": load["statuses"],
                            "us_per_token": cpu / load["tokens"] * 1e6 if load["tokens"] else None,
                            "events_per_reply": load["events_per_reply"],
                            "tokens_per_s": load["tokens"] / load["seconds"],
                        }
                    )
    figures = []
    for (name, rate), measured in runs.items():

        def median(key: str, measured: list[dict[str, Any]] = measured) -> float | None:
            values = [run[key] for run in measured if run[key] is not None]
            return statistics.median(values) if values else None

        figures.append(
            {
                "variant": name,
                "rate_tokens_per_s": rate,
                "streams": streams,
                "rounds": len(measured),
                "us_per_token": median("us_per_token"),
                "cpu_percent": median("cpu_percent"),
                "events_per_reply": median("events_per_reply"),
                "tokens_per_s_delivered": median("tokens_per_s"),
                "replies": sum(run["replies"] for run in measured),
                "statuses": measured[-1]["statuses"],
            }
        )
    return figures


def write_tokens(folder: Path, tokens: list[str]) -> Path:
    path = folder / "tokens.txt"
    path.write_text("\n".join(tokens) + "\n")
    os.chmod(path, 0o600)
    return path
