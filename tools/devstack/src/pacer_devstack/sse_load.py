"""The chat load generator of ``make bench-coach`` and ``make bench-storm``, and their SSE client.

Run as its own process (``nice -n 19 python -m pacer_devstack.sse_load ...``)
it stands in for browsers on other machines: ``--streams`` chats at a time,
``--total`` in all, each read to its ``done`` (or held open with
``--hold``), every delta event and token counted; it prints one JSON object:

    {"replies": ..., "statuses": {...}, "events": ..., "tokens": ...,
     "events_per_reply": ..., "seconds": ..., "samples": [[unix time, events, tokens], ...]}

A token is what the simulator calls one: a word and its trailing space, so a
delta's tokens are the spaces in its text (the coach's JSON is compact, it has
none of its own). The client is raw asyncio streams with an incremental
chunked decoder, to keep its own CPU small beside the stack's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pacer_devstack.probe import lowest_priority

# A chat the coach shed (503 `overloaded`: its loop was late) is sent again after
# the coach's Retry-After, as a user would press Retry; counted under "503".
SHED_STATUS = 503
SHED_RETRY_AFTER_S = 2.0
CHAT_BODY = json.dumps({"message": "Walk me through this week, please."}).encode()
SAMPLE_EVERY_S = 1.0


class ChunkedEvents:
    """Feed it the raw bytes after the response head; it yields whole SSE event blocks."""

    def __init__(self) -> None:
        self._raw = b""
        self._body = b""
        self._left = 0  # bytes still due in the current chunk; -1 once the last chunk came
        self.ended = False

    def feed(self, data: bytes) -> list[bytes]:
        self._raw += data
        while not self.ended:
            if self._left > 0:
                take = self._raw[: self._left]
                self._body += take
                self._raw = self._raw[len(take) :]
                self._left -= len(take)
                if self._left:
                    break
                continue
            line_end = self._raw.find(b"\r\n")
            if line_end < 0:
                break
            size_line = self._raw[:line_end].split(b";", 1)[0].strip()
            self._raw = self._raw[line_end + 2 :]
            if not size_line:  # the CRLF that closes a chunk's data
                continue
            self._left = int(size_line, 16)
            if self._left == 0:
                self.ended = True
        body = self._body.replace(b"\r\n", b"\n")
        *blocks, self._body = body.split(b"\n\n")
        return blocks


# TLS for an https:// --target (run() sets it); plain TCP otherwise.
_TLS: ssl.SSLContext | None = None


@dataclass(slots=True)
class Event:
    name: str
    id: str | None
    data: bytes


def parse_block(block: bytes) -> Event | None:
    name, entry_id, data = "message", None, b""
    for line in block.split(b"\n"):
        if line.startswith(b"event:"):
            name = line[6:].strip().decode()
        elif line.startswith(b"id:"):
            entry_id = line[3:].strip().decode()
        elif line.startswith(b"data:"):
            data = line[5:].lstrip()
    return Event(name, entry_id, data) if data else None


@dataclass
class Totals:
    events: int = 0
    tokens: int = 0
    replies: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    samples: list[list[float]] = field(default_factory=list)


async def open_sse(
    host: str,
    port: int,
    method: str,
    path: str,
    token: str,
    body: bytes = b"",
    extra_headers: dict[str, str] | None = None,
) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter]:
    """Send the request and read the response's head; return its status and the open connection."""
    if _TLS is None:
        reader, writer = await asyncio.open_connection(host, port)
    else:
        reader, writer = await asyncio.open_connection(host, port, ssl=_TLS, server_hostname=host)
    # The proxy's own name: the containers' Caddy serves the site `localhost` only.
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
    for name, value in (extra_headers or {}).items():
        head += f"{name}: {value}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    writer.write(head.encode() + b"\r\n" + body)
    await writer.drain()
    raw = await reader.readuntil(b"\r\n\r\n")
    status = int(raw.split(b" ", 2)[1])
    return status, reader, writer


async def read_reply(
    reader: asyncio.StreamReader, totals: Totals | None = None, keep: bool = False
) -> list[Event]:
    """Read one reply's stream to its `done`: counted into ``totals``, kept if ``keep``."""
    decoder = ChunkedEvents()
    kept: list[Event] = []
    while not decoder.ended:
        data = await reader.read(65536)
        if not data:
            break
        for block in decoder.feed(data):
            event = parse_block(block)
            if event is None:
                continue
            if totals is not None and event.name == "delta":
                totals.events += 1
                # The payload's spaces are the text's: the JSON is compact.
                totals.tokens += event.data.count(b" ")
            if keep or event.name in ("meta", "done"):
                kept.append(event)
            if event.name == "done":
                return kept
    return kept


async def _chat_worker(
    host: str,
    port: int,
    tokens: list[str],
    index: int,
    left: list[int],
    totals: Totals,
    retry_shed: bool = False,
) -> None:
    while left[0] > 0:
        left[0] -= 1
        token = tokens[index % len(tokens)]
        try:
            status, reader, writer = await open_sse(
                host, port, "POST", "/v1/coach/chat", token, CHAT_BODY
            )
        except OSError as error:
            totals.statuses[type(error).__name__] = totals.statuses.get(type(error).__name__, 0) + 1
            continue
        totals.statuses[str(status)] = totals.statuses.get(str(status), 0) + 1
        if status == SHED_STATUS and retry_shed:
            writer.close()
            left[0] += 1
            await asyncio.sleep(SHED_RETRY_AFTER_S)
            continue
        try:
            if status == 200:
                events = await read_reply(reader, totals)
                if events and events[-1].name == "done":
                    totals.replies += 1
        finally:
            writer.close()


async def _sampler(totals: Totals) -> None:
    while True:
        await asyncio.sleep(SAMPLE_EVERY_S)
        # Wall-clock time: the bench lines the samples up with its own phases.
        totals.samples.append([time.time(), float(totals.events), float(totals.tokens)])


async def _hold(host: str, port: int, tokens: list[str], streams: int, seconds: float) -> Totals:
    """Open ``streams`` chats, hold them ``seconds`` (the simulator hangs), then drop them."""
    totals = Totals()
    gate = asyncio.Semaphore(50)

    async def one(index: int) -> asyncio.StreamWriter | None:
        async with gate:
            status, _, writer = await open_sse(
                host, port, "POST", "/v1/coach/chat", tokens[index % len(tokens)], CHAT_BODY
            )
        totals.statuses[str(status)] = totals.statuses.get(str(status), 0) + 1
        return writer

    writers = await asyncio.gather(*(one(i) for i in range(streams)))
    print(json.dumps({"held": streams}), flush=True)  # the caller waits for this line
    await asyncio.sleep(seconds)
    for writer in writers:
        if writer is not None:
            writer.close()
    return totals


async def run(args: argparse.Namespace, tokens: list[str]) -> dict[str, Any]:
    global _TLS
    if args.target.startswith("https://"):
        # Verified against the default trust store (SSL_CERT_FILE: Caddy's root for the containers).
        _TLS = ssl.create_default_context()
    host, _, port = args.target.removeprefix("https://").rpartition(":")
    started = time.monotonic()
    if args.hold:
        totals = await _hold(host, int(port), tokens, args.streams, args.seconds)
    else:
        totals = Totals()
        sampler = asyncio.create_task(_sampler(totals))
        left = [args.total or args.streams]
        workers = [
            _chat_worker(host, int(port), tokens, index, left, totals, args.retry_shed)
            for index in range(args.streams)
        ]
        with contextlib.suppress(TimeoutError):  # --seconds is up: report what came
            await asyncio.wait_for(asyncio.gather(*workers), args.seconds or None)
        sampler.cancel()
    took = time.monotonic() - started
    return {
        "replies": totals.replies,
        "statuses": totals.statuses,
        "events": totals.events,
        "tokens": totals.tokens,
        "events_per_reply": totals.events / totals.replies if totals.replies else None,
        "seconds": took,
        "samples": totals.samples,
        "niceness": os.nice(0),
    }


def spawn(
    target: str,
    tokens_file: Path,
    streams: int,
    *,
    total: int = 0,
    seconds: float = 0,
    hold: bool = False,
    retry_shed: bool = False,
) -> subprocess.Popen[str]:
    """This module as a process of its own at the lowest CPU priority (it stands in for
    browsers on other machines); read its answer with :func:`result`."""
    command = [
        sys.executable,
        "-m",
        "pacer_devstack.sse_load",
        "--target",
        target,
        "--tokens-file",
        str(tokens_file),
        "--streams",
        str(streams),
        "--total",
        str(total),
        "--seconds",
        str(seconds),
    ]
    if hold:
        command.append("--hold")
    if retry_shed:
        command.append("--retry-shed")
    return subprocess.Popen(
        lowest_priority(command), stdout=subprocess.PIPE, text=True, start_new_session=True
    )


def wait_held(process: subprocess.Popen[str]) -> None:
    """Until a ``--hold`` load has every stream open."""
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith('{"held"'):
        raise RuntimeError(f"the held load failed: {line!r}")


def result(process: subprocess.Popen[str], timeout_s: float | None = None) -> dict[str, Any]:
    out, _ = process.communicate(timeout=timeout_s)
    if process.returncode != 0:
        raise RuntimeError(f"the load generator failed (exit {process.returncode})")
    answer: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return answer


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--target",
        required=True,
        help="HOST:PORT of the proxy or a coach; https://HOST:PORT for TLS",
    )
    parser.add_argument("--tokens-file", required=True, help="access tokens, one a line")
    parser.add_argument("--streams", type=int, required=True, help="chats at a time")
    parser.add_argument("--total", type=int, default=0, help="chats in all (default --streams)")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: never)")
    parser.add_argument("--hold", action="store_true", help="hold --streams open for --seconds")
    parser.add_argument(
        "--retry-shed",
        action="store_true",
        help=f"send a chat the coach shed ({SHED_STATUS}) again after {SHED_RETRY_AFTER_S:g} s",
    )
    args = parser.parse_args()
    tokens = [line.strip() for line in Path(args.tokens_file).read_text().splitlines() if line]
    json.dump(asyncio.run(run(args, tokens)), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
