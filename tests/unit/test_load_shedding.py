"""The load-shedding decision and middleware, without a server: readings in,
ASGI messages out (pacer_common.web.load_shedding)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from fixtures.waiting import block_loop, poll
from pacer_common.metrics import EVENT_LOOP_LAG, REQUESTS_SHED
from pacer_common.web.load_shedding import (
    LoadSheddingMiddleware,
    LoopLag,
    ShedPolicy,
    should_shed,
)

POLICY = ShedPolicy(threshold_s=0.25, samples=3)


@pytest.mark.parametrize(
    ("readings", "shed"),
    [
        ([], False),
        ([0.3, 0.3], False),  # too few readings: one slow moment is not overload
        ([0.3, 0.3, 0.3], True),
        ([0.3, 0.1, 0.3, 0.3], False),  # the last three, not any three
        ([0.1, 0.3, 0.3, 0.3], True),
        ([0.3, 0.3, 0.25], False),  # over the threshold, not at it
        ([0.3, 0.3, 0.3, 0.0], False),  # one good reading stops it
    ],
)
def test_shed_only_while_the_last_readings_all_exceed_the_threshold(
    readings: list[float], shed: bool
) -> None:
    assert should_shed(readings, POLICY) is shed


@pytest.mark.parametrize(("threshold_s", "samples"), [(0.0, 3), (-0.1, 3), (0.25, 0)])
def test_a_policy_that_could_never_or_always_shed_is_refused(
    threshold_s: float, samples: int
) -> None:
    with pytest.raises(ValueError):
        ShedPolicy(threshold_s=threshold_s, samples=samples)


def test_loop_lag_starts_after_the_window_and_stops_at_the_first_good_reading() -> None:
    lag = LoopLag(POLICY)
    seen = []
    for reading in [0.5, 0.5, 0.5, 0.5, 0.01, 0.5, 0.5, 0.5]:
        lag.record(reading)
        seen.append(lag.shedding)
    assert seen == [False, False, True, True, False, False, False, True]


class Recorder:
    """An inner app that records what it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[Scope, Receive, Send]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls.append((scope, receive, send))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})


def _http(path: str) -> Scope:
    return {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}


async def _call(middleware: LoadSheddingMiddleware, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    return sent


def _overloaded(middleware: LoadSheddingMiddleware) -> None:
    for _ in range(POLICY.samples):
        middleware.lag.record(1.0)
    assert middleware.lag.shedding


async def test_a_shed_request_gets_the_error_shape_and_never_reaches_the_app() -> None:
    inner = Recorder()
    middleware = LoadSheddingMiddleware(inner, policy=POLICY)
    _overloaded(middleware)
    before = REQUESTS_SHED._value.get()
    start, body = await _call(middleware, _http("/v1/home"))
    assert inner.calls == []
    assert start["status"] == 503
    headers = dict(start["headers"])
    assert headers[b"retry-after"] == b"2"
    assert headers[b"content-type"] == b"application/json"
    assert json.loads(body["body"]) == {
        "error": {"code": "overloaded", "message": "The service is overloaded; try again shortly."}
    }
    assert REQUESTS_SHED._value.get() == before + 1
    assert middleware.lag.shed_since_start == 1


@pytest.mark.parametrize("path", ["/health", "/health/ready", "/metrics"])
async def test_probes_and_the_scrape_are_never_shed(path: str) -> None:
    inner = Recorder()
    middleware = LoadSheddingMiddleware(inner, policy=POLICY)
    _overloaded(middleware)
    sent = await _call(middleware, _http(path))
    assert sent[0]["status"] == 200 and len(inner.calls) == 1


async def test_an_admitted_request_gets_the_servers_own_send_unwrapped() -> None:
    # The send path of a long stream stays as lean as the server's: nothing per event.
    inner = Recorder()
    middleware = LoadSheddingMiddleware(inner, policy=POLICY)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = _http("/v1/coach/chat")
    await middleware(scope, receive, send)
    ((seen_scope, seen_receive, seen_send),) = inner.calls
    assert seen_scope is scope and seen_receive is receive and seen_send is send
    assert sent[0]["status"] == 200


async def test_the_lifespan_runs_the_sampler_which_sheds_from_real_lag() -> None:
    """The sampler lives exactly as long as the app's lifespan call, in its loop."""
    release = asyncio.Event()

    async def lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()

    middleware = LoadSheddingMiddleware(lifespan_app, policy=ShedPolicy(0.05, samples=1))
    # Apps of other test modules may share this loop, each with its own sampler.
    samplers_before = _samplers()
    running = asyncio.create_task(middleware({"type": "lifespan"}, _never_receive, _never_send))

    async def shedding() -> bool:
        # Block the loop past the threshold; the sampler reads the lag when it wakes.
        block_loop(0.1)
        return middleware.lag.shedding

    assert await poll(shedding, timeout_s=10, interval_s=0.05, what="the sampler to shed")
    assert EVENT_LOOP_LAG._value.get() > 0.05
    release.set()
    await asyncio.wait_for(running, timeout=5)
    # Stopped with the lifespan: no reading left to shed on.
    assert not middleware.lag.shedding
    assert _samplers() == samplers_before


def _samplers() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t.get_name() == "event-loop-lag"}


async def _never_receive() -> dict[str, Any]:
    await asyncio.Event().wait()
    return {}


async def _never_send(message: Message) -> None:
    raise AssertionError(message)
