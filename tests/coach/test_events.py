"""GET /v1/coach/events: the user's notification stream (issue 11, point 6).

Real coach, real Redis and Postgres; the briefing.ready test runs the real
worker and core-api. Events are published with the function the worker uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from fixtures.coach import Coach, StartCoach, chat, register_through
from fixtures.core_api import Athlete, CoreApi
from fixtures.errors import assert_error
from fixtures.waiting import poll
from fixtures.worker import CHECKIN, StartWorker
from pacer_common import notifications, redis_names
from pacer_common.jobs import events as job_events

EVENTS = "/v1/coach/events"


@dataclass
class Sse:
    event: str | None = None
    id: str | None = None
    data: str = ""
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data)
        return value


class Reader:
    """Reads an SSE response block by block, as a browser's EventSource would."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.comments: list[str] = []
        self.opened = Sse()  # the first block: `retry:`, and an `id:` when none was sent

    async def block(self, timeout_s: float = 10.0) -> Sse:
        """The next block with a field (comments only are folded into the next one)."""
        sse = Sse()
        async with asyncio.timeout(timeout_s):
            async for line in self._lines:
                if line == "":
                    if sse.event or sse.id or sse.data or sse.retry is not None:
                        return sse
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    sse.comments.append(value)
                    self.comments.append(value)
                elif name == "event":
                    sse.event = value
                elif name == "id":
                    sse.id = value
                elif name == "data":
                    sse.data += value
                elif name == "retry":
                    sse.retry = int(value)
        raise AssertionError("the stream ended")

    async def event(self, timeout_s: float = 10.0) -> Sse:
        """The next event (a block with data)."""
        while True:
            sse = await self.block(timeout_s)
            if sse.data:
                return sse

    async def nothing_within(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            sse = await self.event(timeout_s=seconds)
            raise AssertionError(f"unexpected event {sse}")


@contextlib.asynccontextmanager
async def open_events(
    http: httpx.AsyncClient, athlete: Athlete, last_event_id: str | None = None
) -> AsyncIterator[Reader]:
    headers = dict(athlete.headers)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with http.stream("GET", EVENTS, headers=headers) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = Reader(response)
        # Sent once, first: the browser's reconnect delay.
        reader.opened = await reader.block()
        assert reader.opened.retry is not None and reader.opened.data == "", reader.opened
        yield reader


@pytest.fixture
async def http(coach: Coach, clean_state: None) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as client:
        yield client


async def publish(client: redis.Redis, athlete: Athlete, kind: str, **data: Any) -> str:
    return await notifications.publish(client, athlete.id, kind, data)


async def test_a_checkin_produces_briefing_ready_and_a_missed_event_is_replayed_exactly_once(
    http: httpx.AsyncClient,
    job_client: httpx.AsyncClient,
    job_athlete: Athlete,
    start_worker: StartWorker,
    redis_client: redis.Redis,
) -> None:
    async with start_worker():
        async with open_events(http, job_athlete) as reader:
            saved = await job_client.post("/v1/checkins", json=CHECKIN, headers=job_athlete.headers)
            assert saved.status_code == 201, saved.text
            ready = await reader.event(timeout_s=30)
        assert ready.event == "briefing.ready", ready
        assert ready.payload["changed"] is True
        entries = await redis_client.xrange(redis_names.notify_key(job_athlete.id))
        assert ready.id == entries[-1][0]
        # Disconnected: something happens meanwhile.
        missed = await publish(redis_client, job_athlete, "job.failed", job_id="j1")
        async with open_events(http, job_athlete, last_event_id=ready.id) as reader:
            replayed = await reader.event()
            live = await publish(redis_client, job_athlete, "job.timed_out", job_id="j2")
            followed = await reader.event()
            await reader.nothing_within(0.5)
    assert (replayed.event, replayed.id, replayed.payload) == (
        "job.failed",
        missed,
        {"job_id": "j1"},
    )
    assert (followed.event, followed.id) == ("job.timed_out", live)


async def test_without_last_event_id_only_new_events_come(
    http: httpx.AsyncClient, runner: Athlete, redis_client: redis.Redis
) -> None:
    await publish(redis_client, runner, "job.failed", n=1)
    async with open_events(http, runner) as reader:
        new = await publish(redis_client, runner, "job.failed", n=2)
        got = await reader.event()
    assert (got.id, got.payload) == (new, {"n": 2})


async def test_a_stream_opened_without_an_id_gives_one_so_a_tab_that_saw_nothing_resumes(
    http: httpx.AsyncClient, runner: Athlete, redis_client: redis.Redis
) -> None:
    # No stream yet: the tab has received nothing, and must still miss nothing.
    async with open_events(http, runner) as reader:
        empty_id = reader.opened.id
    assert empty_id is not None
    missed = await publish(redis_client, runner, "job.failed", n=1)
    async with open_events(http, runner, last_event_id=empty_id) as reader:
        assert reader.opened.id is None  # the client has its place already
        replayed = await reader.event()
        assert (replayed.event, replayed.id) == ("job.failed", missed)
        await reader.nothing_within(0.3)
    # A stream with entries: its newest id, so a resume gets only what came after.
    async with open_events(http, runner) as reader:
        newest_id = reader.opened.id
    assert newest_id == missed
    after = await publish(redis_client, runner, "job.failed", n=2)
    async with open_events(http, runner, last_event_id=newest_id) as reader:
        got = await reader.event()
    assert (got.id, got.payload) == (after, {"n": 2})


async def test_an_id_from_the_future_on_a_missing_stream_gets_reset(
    http: httpx.AsyncClient, runner: Athlete, redis_client: redis.Redis
) -> None:
    seconds, _ = await redis_client.time()
    async with open_events(http, runner, last_event_id=f"{seconds * 1000 + 3_600_000}-0") as reader:
        assert (await reader.event()).event == "reset"


async def test_a_finished_reply_is_announced_as_reply_done(
    http: httpx.AsyncClient, runner: Athlete
) -> None:
    # Another tab or device of the same user learns that a reply has ended.
    async with open_events(http, runner) as reader:
        result = await chat(http, runner)
        got = await reader.event()
    meta = result.of("meta")[0].data
    assert got.event == "reply.done"
    assert got.payload == {
        "conversation_id": meta["conversation_id"],
        "message_id": meta["message_id"],
        "status": "complete",
    }


async def test_a_trimmed_last_event_id_gets_reset_first_then_live_events(
    http: httpx.AsyncClient, runner: Athlete, redis_client: redis.Redis
) -> None:
    key = redis_names.notify_key(runner.id)
    oldest = await publish(redis_client, runner, "job.failed", n=0)
    for n in range(1, 3 * redis_names.NOTIFY_MAXLEN):
        await publish(redis_client, runner, "job.failed", n=n)
    kept = await redis_client.xrange(key)
    assert kept[0][0] != oldest, "the stream was not trimmed: the test proves nothing"
    assert len(kept) < 3 * redis_names.NOTIFY_MAXLEN
    async with open_events(http, runner, last_event_id=oldest) as reader:
        reset = await reader.event()
        live = await publish(redis_client, runner, "job.failed", n="live")
        after = await reader.event()
    assert reset.event == "reset"
    # Its id is where the client now stands: resuming from it is no gap.
    assert reset.id == kept[-1][0]
    assert (after.id, after.payload) == (live, {"n": "live"})
    assert reset.id is not None
    async with open_events(http, runner, last_event_id=reset.id) as reader:
        again = await reader.event()
    assert (again.event, again.id) == ("job.failed", live)


async def test_an_expired_stream_gets_reset_and_a_recent_id_on_an_empty_stream_does_not(
    http: httpx.AsyncClient, runner: Athlete, redis_client: redis.Redis
) -> None:
    seconds, _ = await redis_client.time()
    now_ms = seconds * 1000
    older_than_ttl = f"{now_ms - redis_names.NOTIFY_TTL_SECONDS * 1000 - 60_000}-0"
    # No key at all (expired): nothing can be replayed, so the client must reload.
    async with open_events(http, runner, last_event_id=older_than_ttl) as reader:
        reset = await reader.event()
    assert reset.event == "reset"
    assert reset.id is not None
    # Resuming from the reset's id is no gap, even if a stream begins meanwhile.
    first = await publish(redis_client, runner, "job.failed", n=1)
    async with open_events(http, runner, last_event_id=reset.id) as reader:
        got = await reader.event()
    assert (got.event, got.id) == ("job.failed", first)
    # Expired and written again: the old id is still a gap.
    async with open_events(http, runner, last_event_id=older_than_ttl) as reader:
        assert (await reader.event()).event == "reset"
    # An id newer than anything the stream held (forged): reset, not a silent wait.
    async with open_events(http, runner, last_event_id=f"{now_ms + 3_600_000}-0") as reader:
        assert (await reader.event()).event == "reset"


async def test_a_recent_id_on_a_missing_stream_follows_without_reset(
    http: httpx.AsyncClient, runner: Athlete, redis_client: redis.Redis
) -> None:
    seconds, _ = await redis_client.time()
    async with open_events(http, runner, last_event_id=f"{seconds * 1000 - 1000}-0") as reader:
        new = await publish(redis_client, runner, "job.failed", n=1)
        got = await reader.event()
    assert (got.event, got.id) == ("job.failed", new)


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "1",
        "1-",
        "-1",
        "1-2-3",
        "0x1-0",
        "1.5-0",
        "18446744073709551616-0",
        "1-18446744073709551616",
        "1" * 21 + "-0",
        "\u00b2-0",  # a digit to str.isdigit, not to a stream id
        "",
    ],
)
async def test_a_malformed_last_event_id_is_400_in_the_error_shape(
    http: httpx.AsyncClient, runner: Athlete, value: str
) -> None:
    response = await http.get(
        EVENTS,
        headers=[
            (b"Authorization", runner.headers["Authorization"].encode()),
            (b"Last-Event-ID", value.encode("latin-1")),
        ],
    )
    assert response.status_code == 400, (value, response.text)
    assert response.json()["error"]["code"] == "invalid_last_event_id"


async def test_two_last_event_id_headers_are_400(http: httpx.AsyncClient, runner: Athlete) -> None:
    headers = [
        ("Authorization", runner.headers["Authorization"]),
        ("Last-Event-ID", "1-0"),
        ("Last-Event-ID", "2-0"),
    ]
    response = await http.get(EVENTS, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_last_event_id"


async def test_events_need_a_token(http: httpx.AsyncClient) -> None:
    response = await http.get(EVENTS)
    assert response.status_code == 401
    assert "error" in response.json()


async def test_another_user_s_events_never_appear(
    http: httpx.AsyncClient, runner: Athlete, other_runner: Athlete, redis_client: redis.Redis
) -> None:
    other_first = await publish(redis_client, other_runner, "job.failed", who="other")
    async with open_events(http, runner) as reader:
        await publish(redis_client, other_runner, "job.failed", who="other")
        mine = await publish(redis_client, runner, "job.failed", who="me")
        got = await reader.event()
        await reader.nothing_within(0.5)
    assert (got.id, got.payload) == (mine, {"who": "me"})
    # The other user's id as Last-Event-ID replays nothing of theirs either.
    async with open_events(http, runner, last_event_id=other_first) as reader:
        replay = await reader.event()
    assert replay.payload == {"who": "me"}


async def test_caps_are_their_own_and_chat_slots_are_untouched(
    start_coach: StartCoach, core_api: CoreApi, clean_state: None
) -> None:
    async with (
        start_coach(
            EVENTS_MAX_CONNECTIONS=2,
            EVENTS_MAX_STREAMS_PER_USER=1,
            SSE_MAX_CONNECTIONS=1,
            SSE_WARN_CONNECTIONS=1,
        ) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
    ):
        one, two, three = [await register_through(core_api) for _ in range(3)]
        async with open_events(http, one):
            second = await http.get(EVENTS, headers=one.headers)
            assert_error(second, 429, "too_many_streams", retry_after=True)
            async with open_events(http, two):
                full = await http.get(EVENTS, headers=three.headers)
                assert_error(full, 503, "at_capacity", retry_after=True)
                # Two open event streams, one chat slot: the chat still gets it.
                result = await chat(http, three)
                assert result.status_code == 200, result.body
                assert result.of("done")
        # Closed streams give their slots back (the server notices the close soon after).
        statuses: list[int] = []

        async def reopened() -> bool:
            async with http.stream("GET", EVENTS, headers=one.headers) as again:
                statuses.append(again.status_code)
            return statuses[-1] == 200

        await poll(reopened, timeout_s=5, what="a slot given back")
        assert statuses[-1] == 200, statuses


async def test_with_redis_down_events_chat_and_readiness_are_503(
    start_coach: StartCoach, runner: Athlete
) -> None:
    async with (
        start_coach(REDIS_URL="redis://127.0.0.1:1/0") as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
    ):
        response = await http.get(EVENTS, headers=runner.headers)
        assert_error(response, 503, "unavailable", retry_after=True)
        # Changed on purpose with the reply log: a chat needs Redis too (its log),
        # so it is refused before any quota or LLM call, and readiness says why.
        result = await chat(http, runner)
        assert result.status_code == 503, result.body
        ready = await http.get("/health/ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["redis"].startswith("error"), ready.json()


async def test_readiness_reports_redis_when_it_is_up(http: httpx.AsyncClient) -> None:
    ready = await http.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["redis"] == "ok"


async def test_sigterm_ends_open_event_streams_at_once(
    start_coach: StartCoach, runner: Athlete
) -> None:
    async with (
        start_coach(COACH_GRACEFUL_TIMEOUT_SECONDS=5.0) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
        open_events(http, runner) as reader,
    ):
        coach.stop.set()
        started = time.monotonic()
        with contextlib.suppress(AssertionError, httpx.HTTPError):
            await reader.event(timeout_s=10)
        ended_s = time.monotonic() - started
    # hypercorn would have cut it only after its 5 s graceful timeout.
    assert ended_s < 1.5, ended_s


async def test_job_events_from_the_worker_are_on_the_user_s_stream(
    http: httpx.AsyncClient, job_athlete: Athlete, redis_client: redis.Redis
) -> None:
    """The worker's publishing function (jobs.events) writes the same stream the route reads."""
    async with open_events(http, job_athlete) as reader:
        entry = await job_events.publish(
            redis_client, job_athlete.id, {"type": "job.timed_out", "job_id": "x"}
        )
        got = await reader.event()
    assert (got.event, got.id, got.payload["job_id"]) == ("job.timed_out", entry, "x")
    assert await redis_client.ttl(redis_names.notify_key(job_athlete.id)) > 0


async def test_an_idle_stream_gets_a_keep_alive_comment(
    start_coach: StartCoach, runner: Athlete
) -> None:
    async with (
        start_coach(SSE_PING_SECONDS=0.2) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
        open_events(http, runner) as reader,
    ):
        # Comments alone never make a block: read for a second, keep what came.
        with contextlib.suppress(TimeoutError):
            await reader.block(timeout_s=1.0)
    assert reader.comments, "no keep-alive comment in 1 s with SSE_PING_SECONDS=0.2"
