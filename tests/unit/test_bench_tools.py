"""The benchmarks' own parts: the SSE client's chunked decoding, wrk's output, the lowest priority.

A benchmark that miscounts tokens or misreads a latency reports wrong figures
silently; these pin the pieces down without starting a stack.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fixtures.waiting import next_turn
from pacer_devstack.bench_storm import DOCKER_PROXY, cpu_percent, throttled_percent
from pacer_devstack.memory_reply_log import MemoryReplyLog
from pacer_devstack.probe import _parse_wrk, _python_slice, at_priority, lowest_priority
from pacer_devstack.sse_load import ChunkedEvents, parse_block

EVENTS = (
    b'id: 1-0\r\nevent: meta\r\ndata: {"message_id":"m"}\r\nretry: 1000\r\n\r\n'
    b'id: 1-1\r\nevent: delta\r\ndata: {"text":"Your legs look "}\r\n\r\n'
    b": ping\r\n\r\n"
    b'id: 1-2\r\nevent: done\r\ndata: {"status":"complete"}\r\n\r\n'
)


def _chunked(body: bytes, size: int) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 4096])
@pytest.mark.parametrize("read_size", [1, 3, 50, 100_000])
def test_events_come_out_whole_however_the_bytes_are_cut(chunk_size: int, read_size: int) -> None:
    wire = _chunked(EVENTS, chunk_size)
    decoder = ChunkedEvents()
    blocks = []
    for start in range(0, len(wire), read_size):
        blocks += decoder.feed(wire[start : start + read_size])
    events = [event for event in map(parse_block, blocks) if event is not None]
    assert [(e.name, e.id) for e in events] == [("meta", "1-0"), ("delta", "1-1"), ("done", "1-2")]
    # The simulator's tokens are words with a trailing space: three in this delta.
    assert events[1].data.count(b" ") == 3
    assert decoder.ended


WRK_OUT = """Running 2s test @ http://127.0.0.1:8080/health
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  500.00us  12.50ms   90.00%
    Req/Sec     3.10k   200.00     3.50k    70.00%
  Latency Distribution
     50%    1.10ms
     75%    1.30ms
     90%    1.70ms
     99%    3.20ms
  6200 requests in 2.00s, 1.00MB read
  Non-2xx or 3xx responses: 12
Requests/sec:   3100.00
"""


def test_wrk_output_is_read_in_milliseconds_with_errors_counted() -> None:
    figures = _parse_wrk(WRK_OUT, 2.0)
    assert figures["requests"] == 6200 and figures["rps"] == 3100
    assert (figures["p50"], figures["p90"], figures["p99"]) == (1.1, 1.7, 3.2)
    assert figures["max"] == 12.5
    assert figures["errors"] == 12


def test_lowest_priority_runs_the_command_at_nice_19_with_its_autogroup() -> None:
    script = "cat /proc/self/stat; cat /proc/self/autogroup 2>/dev/null || true"
    out = subprocess.run(
        lowest_priority(["sh", "-c", script]),
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    ).stdout.splitlines()
    niceness = int(out[0].rsplit(")", 1)[1].split()[16])
    assert niceness == 19
    if Path("/proc/self/autogroup").exists():
        assert out[1].endswith("nice 19")


async def test_the_memory_reply_log_answers_as_redis_does() -> None:
    log = MemoryReplyLog()
    async with log.pipeline(transaction=False) as pipe:
        pipe.xadd("k", {"t": "meta"}, maxlen=10, approximate=True)
        pipe.set("k:alive", "1", ex=5)
        pipe.exists("k:cancel")
        first, alive, cancelled = await pipe.execute()
    assert alive is True and cancelled == 0
    reader = asyncio.create_task(log.xread({"k": first}, count=500, block=2000))
    await next_turn()  # the reader is blocked on the key
    second = await log.xadd("k", {"t": "delta", "d": "{}"})
    assert await reader == [["k", [(second, {"t": "delta", "d": "{}"})]]]
    assert await log.xread({"k": second}, block=10) == []
    assert [entry_id for entry_id, _ in await log.xrange("k")] == [first, second]
    assert await log.expire("k", 0) and not await log.exists("k")
    assert await log.xrange("k") == []


def test_the_probe_runs_at_the_niceness_it_is_given_with_its_autogroup() -> None:
    script = "cat /proc/self/stat; cat /proc/self/autogroup 2>/dev/null || true"
    out = subprocess.run(
        at_priority(["sh", "-c", script], 0),
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    ).stdout.splitlines()
    assert int(out[0].rsplit(")", 1)[1].split()[16]) == 0
    if Path("/proc/self/autogroup").exists():
        assert out[1].endswith("nice 0")


# The first request on each connection is slow, as a TLS handshake under load is.
FIRST_REQUEST_S = 0.3


class _SlowFirstRequest(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if not getattr(self, "answered", False):
            self.answered = True
            time.sleep(FIRST_REQUEST_S)  # the server's own cost, not the test's synchronisation
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_fixed_rate_slice_does_not_count_its_connections_opening() -> None:
    """Each slice is a fresh process: its connections' first requests (TCP, TLS)
    were 4 % of a slice's requests, so they were its p99."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowFirstRequest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        figures = _python_slice(url, "/health", clients=4, seconds=1.0, token=None, rate=50.0)
    finally:
        server.shutdown()
        server.server_close()
    assert figures["errors"] == 0
    assert figures["requests"] >= 45
    assert figures["max"] < FIRST_REQUEST_S * 1000 / 2


def test_throttled_share_sums_each_roles_containers_over_the_window() -> None:
    before = {"a": ("coach", 100, 10), "b": ("coach", 100, 0), "c": ("caddy", 50, 0)}
    after = {
        "a": ("coach", 200, 60),  # 50 of 100 periods throttled
        "b": ("coach", 200, 10),  # 10 of 100
        "c": ("caddy", 150, 0),
        "d": ("core-api", 40, 4),  # born inside the window: counts from 0
        "e": ("something-else", 10, 10),
    }
    assert throttled_percent(before, after) == {"coach": 30.0, "caddy": 0.0, "core-api": 10.0}


def test_cpu_percent_counts_a_role_outside_the_table_too() -> None:
    before: dict[int | str, tuple[str, float]] = {1: ("coach", 1.0), 9: (DOCKER_PROXY, 0.5)}
    after: dict[int | str, tuple[str, float]] = {
        1: ("coach", 3.0),
        9: (DOCKER_PROXY, 1.5),
        10: ("caddy", 0.5),
    }
    used = cpu_percent(before, after, 10.0)
    assert used["coach"] == pytest.approx(20.0)
    assert used["caddy"] == pytest.approx(5.0)
    assert used[DOCKER_PROXY] == pytest.approx(10.0)
    assert used["core-api"] == 0.0
