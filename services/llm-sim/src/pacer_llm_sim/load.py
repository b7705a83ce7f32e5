"""The simulator's own load test: how much CPU it spends streaming N replies at a rate.

The simulator stands in for a provider on another machine, so what it costs is
noise in every benchmark of the stack; this measures that noise on its own::

    nice -n 19 python -m pacer_llm_sim &                     # LLM_SIM_PORT=8090
    nice -n 19 python -m pacer_llm_sim.load --url http://127.0.0.1:8090 \\
        --streams 200 --rate 100 --seconds 20

It sets the simulator to ``slow`` mode at ``--rate`` tokens a second, opens
``--streams`` streamed completions at once over raw asyncio sockets (a client
far cheaper than the server it measures), reads each to its end and prints one
JSON object: the simulator's CPU (from ``process_cpu_s`` in ``/_sim/stats``, or
``/proc/PID/stat`` with ``--pid`` for a simulator too old to report it) as a
percentage of one core and in µs per token, the tokens delivered against the
nominal count, and the load generator's own CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

# One marker per token event in each dialect's stream (the head's deltas do not match).
_TOKEN_MARKERS = {
    "anthropic": b"event: content_block_delta",
    "openai": b'"delta":{"content":',
}
_PATHS = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}


def _request(dialect: str, host: str, tokens: int) -> bytes:
    body: dict[str, Any] = {
        "model": "load-sim",
        "max_tokens": tokens + 10,
        "stream": True,
        "messages": [{"role": "user", "content": "How is my training going?"}],
    }
    raw = json.dumps(body).encode()
    head = (
        f"POST {_PATHS[dialect]} HTTP/1.1\r\nhost: {host}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(raw)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + raw


class _TokenCounter(asyncio.Protocol):
    """Counts token events in one streamed reply until the server closes it.

    A bare Protocol rather than a StreamReader: one callback per read and no
    buffering, so the load generator costs as little as a Python client can.
    """

    def __init__(self, request: bytes, marker: bytes) -> None:
        self.request = request
        self.marker = marker
        self.seen = 0
        self.reads = 0
        self.carry = b""
        self.closed: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.reads += 1
        chunk = self.carry + data
        self.seen += chunk.count(self.marker)
        # Keep a marker's length minus one: a marker cut between two reads is
        # counted once, a whole one never twice.
        self.carry = chunk[-(len(self.marker) - 1) :]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result((self.seen, self.reads))


async def _one_stream(host: str, port: int, request: bytes, marker: bytes) -> tuple[int, int]:
    """Tokens seen in one streamed reply, read to the server's close, and the reads it took."""
    loop = asyncio.get_running_loop()
    _, counter = await loop.create_connection(lambda: _TokenCounter(request, marker), host, port)
    return await counter.closed


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _control(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A control API call (stdlib only: the simulator does not depend on an HTTP client)."""
    data = None if body is None else json.dumps(body).encode()
    request = Request(url + path, data=data, headers={"content-type": "application/json"})
    with urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _sim_cpu_s(url: str, pid: int | None) -> float:
    if pid is not None:
        return _proc_cpu_s(pid)
    return float(_control(url, "/_sim/stats")["process_cpu_s"])


async def _run(url: str, dialect: str, streams: int, tokens: int) -> tuple[int, int, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = _request(dialect, f"{host}:{port}", tokens)
    started = time.monotonic()
    counts = await asyncio.gather(
        *(_one_stream(host, port, request, _TOKEN_MARKERS[dialect]) for _ in range(streams))
    )
    seen = sum(count for count, _ in counts)
    return seen, sum(reads for _, reads in counts), time.monotonic() - started


def measure(
    url: str, *, dialect: str, streams: int, rate: float, seconds: float, pid: int | None
) -> dict[str, Any]:
    token_ms = max(1, round(1000 / rate))
    tokens = max(1, round(seconds * 1000 / token_ms))
    mode = {"mode": "slow", "first_token_ms": 0, "token_ms": token_ms, "tokens": tokens}
    _control(url, "/_sim/mode", mode)
    sim_before = _sim_cpu_s(url, pid)
    own_before = time.process_time()
    delivered, reads, wall_s = asyncio.run(_run(url, dialect, streams, tokens))
    own_s = time.process_time() - own_before
    sim_s = _sim_cpu_s(url, pid) - sim_before
    stats = _control(url, "/_sim/stats")
    _control(url, "/_sim/reset", {})
    nominal = streams * tokens
    return {
        "dialect": dialect,
        "streams": streams,
        "rate_tok_s": 1000 / token_ms,
        "wall_s": round(wall_s, 2),
        "tokens_nominal": nominal,
        "tokens_delivered": delivered,
        "delivered_percent": round(100 * delivered / nominal, 1),
        # The nominal duration over the real one: under 100 % the streams ran late.
        "on_time_percent": round(100 * (tokens * token_ms / 1000) / wall_s, 1),
        "sim_cpu_s": round(sim_s, 3),
        "sim_cpu_percent": round(100 * sim_s / wall_s, 1),
        "sim_us_per_token": round(1e6 * sim_s / delivered, 1) if delivered else None,
        "load_cpu_percent": round(100 * own_s / wall_s, 1),
        # Above 1 when the simulator, late, sent several due tokens in one write
        # (or the reader was late itself): what a relay in front of it would see.
        "tokens_per_read": round(delivered / reads, 2) if reads else None,
        # The same seen from the simulator (absent from one too old to count writes).
        "sim_tokens_per_write": (
            round(stats["stream_tokens"] / stats["stream_writes"], 2)
            if stats.get("stream_writes")
            else None
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8090", help="the simulator")
    parser.add_argument("--dialect", choices=sorted(_PATHS), default="anthropic")
    parser.add_argument("--streams", type=int, default=200, help="replies at a time")
    parser.add_argument("--rate", type=float, default=100.0, help="tokens a second per reply")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long each reply streams")
    parser.add_argument("--pid", type=int, help="read the simulator's CPU from /proc instead")
    args = parser.parse_args()
    result = measure(
        args.url,
        dialect=args.dialect,
        streams=args.streams,
        rate=args.rate,
        seconds=args.seconds,
        pid=args.pid,
    )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
