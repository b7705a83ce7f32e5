"""``GET /v1/activities`` pages with a keyset cursor: rows that share a start are never
skipped or repeated at a page boundary, and a cursor the API never gave is a 422."""

from __future__ import annotations

import base64
import datetime as dt

import httpx
import pytest

from fixtures.core_api import Athlete
from fixtures.errors import assert_error
from fixtures.paging import every_page

ACTIVITY = {"sport": "run", "duration_s": 1800}
SHARED_START = "2026-03-01T06:30:00Z"


def when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


async def post_at(client: httpx.AsyncClient, athlete: Athlete, started_at: str) -> str:
    response = await client.post(
        "/v1/activities", json={**ACTIVITY, "started_at": started_at}, headers=athlete.headers
    )
    assert response.status_code == 201, response.text
    activity_id: str = response.json()["id"]
    return activity_id


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
async def test_equal_starts_across_page_boundaries_appear_exactly_once(
    client: httpx.AsyncClient, athlete: Athlete, limit: int
) -> None:
    # Five at the same instant, so that some page ends inside the run of equal starts.
    ids = [await post_at(client, athlete, "2026-03-01T08:00:00Z")]
    ids += [await post_at(client, athlete, SHARED_START) for _ in range(5)]
    ids += [await post_at(client, athlete, "2026-03-01T05:00:00Z")]

    pages = await every_page(client, athlete, "/v1/activities", limit)

    listed = [item for page in pages for item in page]
    assert sorted(item["id"] for item in listed) == sorted(ids)
    assert len(listed) == len(ids)
    starts = [when(item["started_at"]) for item in listed]
    assert starts == sorted(starts, reverse=True)
    assert all(len(page) <= limit for page in pages)


async def test_a_short_page_says_there_is_no_more(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    await post_at(client, athlete, SHARED_START)
    response = await client.get("/v1/activities", params={"limit": 2}, headers=athlete.headers)
    assert response.status_code == 200, response.text
    assert response.json()["next_before"] is None


async def test_a_plain_timestamp_still_means_strictly_earlier(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    """Clients that send the last row's ``started_at`` keep the meaning they had."""
    await post_at(client, athlete, "2026-03-01T08:00:00Z")
    await post_at(client, athlete, SHARED_START)
    earlier = await post_at(client, athlete, "2026-03-01T05:00:00Z")
    response = await client.get(
        "/v1/activities", params={"before": SHARED_START}, headers=athlete.headers
    )
    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == [earlier]


def opaque(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


BAD_CURSORS = {
    "not-base64": "!!!!",
    "base64-of-nothing-useful": opaque("hello"),
    "no-id": opaque("2026-03-01T06:30:00+00:00"),
    "id-not-a-uuid": opaque("2026-03-01T06:30:00+00:00|not-a-uuid"),
    "naive-time": opaque("2026-03-01T06:30:00|0b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3"),
    "time-out-of-range": opaque("0001-01-01T00:00:00+23:59|0b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3"),
    "not-utf8": base64.urlsafe_b64encode(b"\xff\xfe|\xff").decode(),
    "too-long": opaque("2026-03-01T06:30:00+00:00|" + "a" * 400),
    "padding-only": "====",
}


@pytest.mark.parametrize("cursor", BAD_CURSORS.values(), ids=BAD_CURSORS.keys())
async def test_a_cursor_the_api_never_gave_is_a_422(
    client: httpx.AsyncClient, athlete: Athlete, cursor: str
) -> None:
    response = await client.get(
        "/v1/activities", params={"before": cursor}, headers=athlete.headers
    )
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == "before"
