"""The proposals API: list, apply (once, whatever the retries), dismiss; bad input is a 4xx.

The proposals here are made by the store function the coach's proposal tools
call (:func:`pacer_coach.store.proposals.create`), on a real reply row; the
chat tests (test_proposals_chat.py) make them through the model's tool calls.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import asyncpg
import httpx

from fixtures.core_api import Athlete
from fixtures.errors import assert_error
from pacer_coach.store import proposals
from pacer_common.athlete_schemas import ActivityIn, GoalIn, PlanIn
from pacer_common.tables.athlete_data import Change

ACTIVITY = ActivityIn(
    sport="run",
    started_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2),
    duration_s=3120,
    distance_m=10_000.0,
)


async def propose(
    pool: asyncpg.Pool,
    athlete: Athlete,
    change: Change = ACTIVITY,
    *,
    step: int = 0,
    ttl_s: float = 3600,
    message_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A proposal of ``change`` on a reply of the athlete's (a new one unless given)."""
    user_id = uuid.UUID(athlete.id)
    async with pool.acquire() as conn:
        if message_id is None:
            conversation = await conn.fetchval(
                "INSERT INTO conversations (user_id, title) VALUES ($1, 'tools') RETURNING id",
                user_id,
            )
            message_id = await conn.fetchval(
                """INSERT INTO messages (conversation_id, role, status)
                   VALUES ($1, 'assistant', 'complete') RETURNING id""",
                conversation,
            )
        assert message_id is not None
        return await proposals.create(
            conn, user_id=user_id, message_id=message_id, step=step, change=change, ttl_s=ttl_s
        )


async def _activities(pool: asyncpg.Pool, athlete: Athlete) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM activities WHERE user_id = $1", uuid.UUID(athlete.id)
    )
    return count


async def _apply_and_dismiss(
    client: httpx.AsyncClient, proposal: dict[str, Any], athlete: Athlete
) -> list[httpx.Response]:
    """The athlete's answers to applying the proposal, then to dismissing it."""
    url = f"/v1/coach/proposals/{proposal['id']}"
    return [
        await client.post(f"{url}/{action}", headers=athlete.headers)
        for action in ("apply", "dismiss")
    ]


async def test_pending_listed_then_applied_once_with_the_same_answer_twice(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool
) -> None:
    proposal = await propose(pg_pool, runner)
    listed = await coach_client.get("/v1/coach/proposals?status=pending", headers=runner.headers)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [proposal["id"]]
    assert listed.json()["items"][0]["change"]["duration_s"] == 3120

    url = f"/v1/coach/proposals/{proposal['id']}/apply"
    first = await coach_client.post(url, headers=runner.headers)
    second = await coach_client.post(url, headers=runner.headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["status"] == "applied"
    assert first.json()["result"]["distance_m"] == 10_000.0
    assert await _activities(pg_pool, runner) == 1
    # The saved activity is the athlete's own, as core-api lists it.
    pending = await coach_client.get("/v1/coach/proposals", headers=runner.headers)
    assert pending.json()["items"] == []
    applied = await coach_client.get("/v1/coach/proposals?status=applied", headers=runner.headers)
    assert [item["id"] for item in applied.json()["items"]] == [proposal["id"]]


async def test_applies_at_once_save_once(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool
) -> None:
    proposal = await propose(pg_pool, runner)
    url = f"/v1/coach/proposals/{proposal['id']}/apply"
    answers = await asyncio.gather(
        *(coach_client.post(url, headers=runner.headers) for _ in range(5))
    )
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.json()["result"]["id"] for answer in answers}) == 1
    assert await _activities(pg_pool, runner) == 1


async def test_plan_and_goal_proposals_save_like_the_athletes_own_put(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    plan = PlanIn(
        name="Spring 10k",
        start_date=today,
        end_date=today + dt.timedelta(days=70),
        sessions_per_week=4,
    )
    goal = GoalIn(
        race_name="City 10k", race_date=today + dt.timedelta(days=70), distance_m=10_000.0
    )
    changes: tuple[Change, ...] = (plan, goal)
    for step, change in enumerate(changes):
        proposal = await propose(pg_pool, runner, change, step=step)
        await pg_pool.execute("DELETE FROM jobs WHERE subject = $1", runner.id)
        applied = await coach_client.post(
            f"/v1/coach/proposals/{proposal['id']}/apply", headers=runner.headers
        )
        assert applied.status_code == 200, applied.text
        # Each save asks for a briefing refresh, as the athlete's own PUT does.
        refreshes = await pg_pool.fetchval(
            "SELECT count(*) FROM jobs WHERE kind = 'refresh_briefing' AND subject = $1",
            runner.id,
        )
        assert refreshes == 1, type(change).__name__
    row = await pg_pool.fetchrow(
        """SELECT p.sessions_per_week, g.race_name FROM plans p JOIN goals g USING (user_id)
           WHERE user_id = $1""",
        uuid.UUID(runner.id),
    )
    assert row is not None and tuple(row) == (4, "City 10k")


async def test_a_stored_change_that_no_longer_validates_is_a_422(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool
) -> None:
    proposal = await propose(pg_pool, runner)
    # Stored valid, no longer so (a rule tightened since, or a row edited by hand).
    await pg_pool.execute(
        "UPDATE coach_proposals SET change = jsonb_set(change, '{duration_s}', '0') WHERE id = $1",
        uuid.UUID(proposal["id"]),
    )
    applied = await coach_client.post(
        f"/v1/coach/proposals/{proposal['id']}/apply", headers=runner.headers
    )
    assert applied.status_code == 422, applied.text
    error = applied.json()["error"]
    assert isinstance(error["code"], str) and "duration_s" in error["message"], error
    assert await _activities(pg_pool, runner) == 0
    status = await pg_pool.fetchval(
        "SELECT status FROM coach_proposals WHERE id = $1", uuid.UUID(proposal["id"])
    )
    assert status == "pending"


async def test_one_proposal_per_reply_and_step(runner: Athlete, pg_pool: asyncpg.Pool) -> None:
    first = await propose(pg_pool, runner)
    again = await propose(pg_pool, runner, message_id=uuid.UUID(first["message_id"]))
    assert again["id"] == first["id"]
    count = await pg_pool.fetchval(
        "SELECT count(*) FROM coach_proposals WHERE message_id = $1",
        uuid.UUID(first["message_id"]),
    )
    assert count == 1


async def test_dismissed_then_apply_is_409_and_dismiss_again_the_same(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool
) -> None:
    proposal = await propose(pg_pool, runner)
    url = f"/v1/coach/proposals/{proposal['id']}"
    first = await coach_client.post(f"{url}/dismiss", headers=runner.headers)
    second = await coach_client.post(f"{url}/dismiss", headers=runner.headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() and first.json()["status"] == "dismissed"
    applied = await coach_client.post(f"{url}/apply", headers=runner.headers)
    assert_error(applied, 409, "proposal_dismissed")
    assert await _activities(pg_pool, runner) == 0


async def test_applied_cannot_be_dismissed(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool
) -> None:
    proposal = await propose(pg_pool, runner)
    url = f"/v1/coach/proposals/{proposal['id']}"
    assert (await coach_client.post(f"{url}/apply", headers=runner.headers)).status_code == 200
    dismissed = await coach_client.post(f"{url}/dismiss", headers=runner.headers)
    assert_error(dismissed, 409, "proposal_applied")


async def test_expired_is_409_and_listed_as_expired(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool
) -> None:
    proposal = await propose(pg_pool, runner, ttl_s=0)
    for answer in await _apply_and_dismiss(coach_client, proposal, runner):
        assert_error(answer, 409, "proposal_expired")
    pending = await coach_client.get("/v1/coach/proposals", headers=runner.headers)
    assert pending.json()["items"] == []
    expired = await coach_client.get("/v1/coach/proposals?status=expired", headers=runner.headers)
    assert [item["status"] for item in expired.json()["items"]] == ["expired"]
    assert await _activities(pg_pool, runner) == 0


async def test_someone_elses_proposal_is_404(
    coach_client: httpx.AsyncClient,
    runner: Athlete,
    other_runner: Athlete,
    pg_pool: asyncpg.Pool,
) -> None:
    proposal = await propose(pg_pool, runner)
    for answer in await _apply_and_dismiss(coach_client, proposal, other_runner):
        assert_error(answer, 404, "not_found")
    theirs = await coach_client.get("/v1/coach/proposals", headers=other_runner.headers)
    assert theirs.json()["items"] == []
    assert await _activities(pg_pool, runner) == 0
