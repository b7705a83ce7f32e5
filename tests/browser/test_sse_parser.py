"""web/js/sse.js, the client's SSE parser, fed awkward chunkings in the browser."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

FEED = """async (chunks) => {
  const { createParser } = await import("/js/sse.js");
  const events = [], comments = [], retries = [], ids = [];
  const parser = createParser({
    onEvent: (e) => events.push(e),
    onComment: (c) => comments.push(c),
    onRetry: (ms) => retries.push(ms),
  });
  for (const chunk of chunks) {
    parser.feed(chunk);
    ids.push(parser.lastEventId);
  }
  return { events, comments, retries, ids };
}"""


def _feed(page: Page, chunks: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(FEED, chunks)
    return result


@pytest.fixture
def blank(page: Page) -> Page:
    page.goto("/signin")
    return page


def test_events_whatever_the_line_endings_and_chunk_boundaries(blank: Page) -> None:
    stream = (
        "retry: 3000\r\n\r\n: keep-alive\n\n"
        'id: 1-0\r\nevent: meta\r\ndata: {"a":1}\r\n\r\n'
        "id: 2-0\revent: delta\rdata: line one\rdata: line two\r\r"
        "id: 3-0\nevent: done\ndata:no space\n\n"
    )
    whole = _feed(blank, [stream])
    for size in (1, 2, 3, 7):
        chunked = _feed(blank, [stream[i : i + size] for i in range(0, len(stream), size)])
        assert chunked["events"] == whole["events"], size
    assert whole["events"] == [
        {"id": "1-0", "event": "meta", "data": '{"a":1}'},
        {"id": "2-0", "event": "delta", "data": "line one\nline two"},
        {"id": "3-0", "event": "done", "data": "no space"},
    ]
    assert whole["comments"] == ["keep-alive"]
    assert whole["retries"] == [3000]


def test_the_resume_id_moves_only_when_an_event_is_complete(blank: Page) -> None:
    result = _feed(
        blank,
        ["id: 5-0\nevent: delta\n", 'data: {"text":"hi"}\n', "\n", "id: 6-0\n"],
    )
    # A drop after `id: 5-0` but before its blank line must resume from before it.
    assert result["ids"] == ["", "", "5-0", "5-0"]
    assert [e["id"] for e in result["events"]] == ["5-0"]


def test_an_id_alone_still_counts_and_a_message_has_its_default_name(blank: Page) -> None:
    result = _feed(blank, ["id: 9-1\n\n", "data: x\n\n", "id: bad\0id\ndata: y\n\n"])
    assert result["ids"] == ["9-1", "9-1", "9-1"]
    assert result["events"] == [
        {"id": "9-1", "event": "message", "data": "x"},
        {"id": "9-1", "event": "message", "data": "y"},
    ]
