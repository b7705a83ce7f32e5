"""The stream registry and a reply's final status, without a server or a database."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from fixtures.waiting import poll
from pacer_coach.chat.ending import Ending, final_status
from pacer_coach.chat.streams import OpenStreams
from pacer_common.errors import ServiceUnavailable, TooManyRequests


def _streams(cap: int = 10, per_user_cap: int = 2) -> OpenStreams:
    return OpenStreams(warn_at=cap, cap=cap, per_user_cap=per_user_cap)


def test_the_per_user_cap_counts_each_user_alone_and_frees_on_release() -> None:
    streams = _streams(per_user_cap=2)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    first, second = streams.reserve(alice), streams.reserve(alice)
    with pytest.raises(TooManyRequests) as refused:
        streams.reserve(alice)
    assert refused.value.code == "too_many_streams"
    assert refused.value.headers["Retry-After"] == str(refused.value.retry_after_s)
    streams.reserve(bob)
    streams.release(first)
    streams.release(first)  # idempotent: a second release must not free another slot
    streams.reserve(alice)
    with pytest.raises(TooManyRequests):
        streams.reserve(alice)
    streams.release(second)
    assert len(streams) == 2


def test_the_process_cap_still_applies_under_the_per_user_cap() -> None:
    streams = _streams(cap=2, per_user_cap=2)
    streams.reserve(uuid.uuid4())
    streams.reserve(uuid.uuid4())
    with pytest.raises(ServiceUnavailable) as refused:
        streams.reserve(uuid.uuid4())
    assert refused.value.code == "at_capacity"


async def test_a_stream_registered_after_the_drain_began_is_told_at_once() -> None:
    streams = _streams()
    early, late = streams.reserve(uuid.uuid4()), streams.reserve(uuid.uuid4())
    told: list[int] = []
    streams.on_shutdown(early, lambda: told.append(early))
    draining = asyncio.create_task(streams.drain(5.0))

    async def any_told() -> bool:
        return bool(told)

    # The drain tells the streams it knows as soon as it runs.
    await poll(any_told, timeout_s=5, interval_s=0.001, what="the drain to tell a stream")
    assert told == [early]
    # `late` was still being stored when the drain began: it is told as it registers.
    streams.on_shutdown(late, lambda: told.append(late))
    assert told == [early, late]
    with pytest.raises(ServiceUnavailable):
        streams.reserve(uuid.uuid4())
    streams.release(early)
    streams.release(late)
    assert await draining == 0


@pytest.mark.parametrize(
    ("failure_code", "cancelled", "has_text", "ending"),
    [
        (None, False, True, Ending("complete", None, refund=False)),
        (None, False, False, Ending("complete", None, refund=False)),
        ("upstream_error", False, True, Ending("partial", "upstream_error", refund=False)),
        ("upstream_error", False, False, Ending("failed", "upstream_error", refund=True)),
        (None, True, True, Ending("partial", "cancelled", refund=False)),
        (None, True, False, Ending("failed", "cancelled", refund=False)),
        ("upstream_error", True, False, Ending("failed", "cancelled", refund=False)),
    ],
)
def test_final_status(
    failure_code: str | None, cancelled: bool, has_text: bool, ending: Ending
) -> None:
    assert final_status(failure_code=failure_code, cancelled=cancelled, has_text=has_text) == ending
