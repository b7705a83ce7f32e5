"""``GET /v1/coach/sessions`` and ``GET /v1/coach/conversations`` page with a keyset cursor:
rows that share their list's time (``created_at``, ``updated_at``) are never skipped or
repeated at a page boundary, a plain time still means strictly earlier, and a cursor the
coach never gave is a 422."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import pytest

from fixtures.coach_sessions import create_session
from fixtures.core_api import Athlete
from fixtures.errors import assert_error
from fixtures.paging import every_page

pytestmark = pytest.mark.usefixtures("session_topics")

SESSIONS = "/v1/coach/sessions"
CONVERSATIONS = "/v1/coach/conversations"
LATER = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
SHARED = dt.datetime(2026, 3, 1, 6, 30, tzinfo=dt.UTC)
EARLIER = dt.datetime(2026, 3, 1, 5, 0, tzinfo=dt.UTC)
# Five at one instant, so that some page ends inside the run of equal times.
TIMES = [LATER, *[SHARED] * 5, EARLIER]

Make = Callable[[httpx.AsyncClient, asyncpg.Pool, Athlete, dt.datetime], Awaitable[str]]


async def session_at(
    client: httpx.AsyncClient, pool: asyncpg.Pool, athlete: Athlete, at: dt.datetime
) -> str:
    """A session made through the API, then moved to ``at`` (the API stamps now())."""
    session_id: str = (await create_session(client, athlete))["id"]
    await pool.execute(
        "UPDATE coach_sessions SET created_at = $2 WHERE id = $1", uuid.UUID(session_id), at
    )
    return session_id


async def conversation_at(
    client: httpx.AsyncClient, pool: asyncpg.Pool, athlete: Athlete, at: dt.datetime
) -> str:
    """A conversation last updated at ``at``; inserted directly, as a chat would take an
    LLM reply per row for nothing the list reads."""
    conversation_id = await pool.fetchval(
        """INSERT INTO conversations (user_id, title, created_at, updated_at)
           VALUES ($1, 'a run', $2, $2) RETURNING id""",
        uuid.UUID(athlete.id),
        at,
    )
    return str(conversation_id)


LISTS: dict[str, tuple[str, str, Make]] = {
    "sessions": (SESSIONS, "created_at", session_at),
    "conversations": (CONVERSATIONS, "updated_at", conversation_at),
}


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
@pytest.mark.parametrize("kind", LISTS.keys())
async def test_equal_times_across_page_boundaries_appear_exactly_once(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool, kind: str, limit: int
) -> None:
    path, key, make = LISTS[kind]
    ids = [await make(coach_client, pg_pool, runner, at) for at in TIMES]

    pages = await every_page(coach_client, runner, path, limit)

    listed = [item for page in pages for item in page]
    assert sorted(item["id"] for item in listed) == sorted(ids)
    assert len(listed) == len(ids)
    times = [dt.datetime.fromisoformat(item[key]) for item in listed]
    assert times == sorted(times, reverse=True)
    assert all(len(page) <= limit for page in pages)


@pytest.mark.parametrize("kind", LISTS.keys())
async def test_a_short_page_says_there_is_no_more(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool, kind: str
) -> None:
    path, _, make = LISTS[kind]
    await make(coach_client, pg_pool, runner, SHARED)
    response = await coach_client.get(path, params={"limit": 2}, headers=runner.headers)
    assert response.status_code == 200, response.text
    assert response.json()["next_before"] is None


@pytest.mark.parametrize("kind", LISTS.keys())
async def test_a_plain_timestamp_still_means_strictly_earlier(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool, kind: str
) -> None:
    """Clients that send the last row's time keep the meaning they had."""
    path, _, make = LISTS[kind]
    await make(coach_client, pg_pool, runner, LATER)
    await make(coach_client, pg_pool, runner, SHARED)
    earlier = await make(coach_client, pg_pool, runner, EARLIER)
    response = await coach_client.get(
        path, params={"before": SHARED.isoformat()}, headers=runner.headers
    )
    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == [earlier]


def opaque(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


AN_ID = "0b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3"
BAD_CURSORS = {
    "not-base64": "!!!!",
    "base64-of-nothing-useful": opaque("hello"),
    "no-id": opaque("2026-03-01T06:30:00+00:00"),
    "id-not-a-uuid": opaque("2026-03-01T06:30:00+00:00|not-a-uuid"),
    "naive-time": opaque(f"2026-03-01T06:30:00|{AN_ID}"),
    "year-0-in-utc": opaque(f"0001-01-01T00:00:00+23:59|{AN_ID}"),
    "year-10000-in-utc": opaque(f"9999-12-31T23:59:59-23:59|{AN_ID}"),
    "not-utf8": base64.urlsafe_b64encode(b"\xff\xfe|\xff").decode(),
    "too-long": opaque("2026-03-01T06:30:00+00:00|" + "a" * 400),
    "padding-only": "====",
}


@pytest.mark.parametrize("cursor", BAD_CURSORS.values(), ids=BAD_CURSORS.keys())
@pytest.mark.parametrize("path", [SESSIONS, CONVERSATIONS])
async def test_a_cursor_the_coach_never_gave_is_a_422(
    coach_client: httpx.AsyncClient, runner: Athlete, path: str, cursor: str
) -> None:
    response = await coach_client.get(path, params={"before": cursor}, headers=runner.headers)
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == "before"
