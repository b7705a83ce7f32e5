"""Coaching sessions on the coach (issue 12): create, list, read, and the conversation.

Real Postgres, Redis and the simulator. A session's messages stream exactly as
chat does, with the topic's prompt; the closing marker never reaches the
athlete or the database; the reply that ends the session (the marker, or
max_turns) says ``is_final: true``, moves the session to ``extracting`` and
queues one extraction job (ledger row and arq entry). After that, messages are
409 ``session_not_active`` — except the closing message's own retry.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from fixtures.coach import ChatResult, chat, parse_sse
from fixtures.coach_sessions import create_session, extraction_jobs, say
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim
from fixtures.waiting import poll
from pacer_common import redis_names
from pacer_common.jobs.queue import arq_job_id
from pacer_common.topics import SESSION_END_MARKER

pytestmark = pytest.mark.usefixtures("session_topics")

CLOSING = "Great, I have what I need: Berlin on 26 September, four runs a week. "


def done_of(result: ChatResult) -> dict[str, Any]:
    assert result.status_code == 200, result.body
    assert result.events[-1].event == "done", result.events
    return result.events[-1].data


async def session_row(pool: asyncpg.Pool, session_id: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT status, user_turns, extraction_job_id FROM coach_sessions WHERE id = $1",
        uuid.UUID(session_id),
    )
    assert row is not None
    return row


async def assert_arq_entry(client: redis.Redis, job_id: uuid.UUID) -> None:
    """The job's first attempt on arq's queue (enqueued just after `done`, so polled)."""

    async def queued() -> bool:
        score = await client.zscore(redis_names.DEFAULT_JOB_QUEUE_NAME, arq_job_id(job_id, 1))
        return score is not None

    await poll(queued, timeout_s=5, what="the extraction job on arq's queue")


async def test_a_session_is_created_listed_and_read_by_its_owner_only(
    coach_client: httpx.AsyncClient, runner: Athlete, other_runner: Athlete
) -> None:
    first = await create_session(coach_client, runner, "onboarding")
    assert first["topic"] == "onboarding"
    assert first["title"] == "Getting to know you"
    assert first["status"] == "active"
    assert first["user_turns"] == 0 and first["max_turns"] == 8
    assert first["result"] is None and first["error"] is None
    assert {"id", "conversation_id", "created_at", "updated_at", "completed_at"} <= first.keys()
    response = await coach_client.post(
        "/v1/coach/sessions", json={"topic": "race_debrief"}, headers=runner.headers
    )
    assert response.status_code == 201
    second = response.json()
    assert response.headers["location"] == f"/v1/coach/sessions/{second['id']}"

    listed = await coach_client.get("/v1/coach/sessions", headers=runner.headers)
    assert [item["id"] for item in listed.json()["items"]] == [second["id"], first["id"]]
    page = await coach_client.get("/v1/coach/sessions", params={"limit": 1}, headers=runner.headers)
    assert [item["id"] for item in page.json()["items"]] == [second["id"]]
    older = await coach_client.get(
        "/v1/coach/sessions",
        params={"limit": 1, "before": page.json()["items"][0]["created_at"]},
        headers=runner.headers,
    )
    assert [item["id"] for item in older.json()["items"]] == [first["id"]]

    read = await coach_client.get(f"/v1/coach/sessions/{first['id']}", headers=runner.headers)
    assert read.status_code == 200
    assert read.json() == {**first, "messages": []}
    foreign = await coach_client.get(
        f"/v1/coach/sessions/{first['id']}", headers=other_runner.headers
    )
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "not_found"
    theirs = await coach_client.get("/v1/coach/sessions", headers=other_runner.headers)
    assert theirs.json() == {"items": [], "next_before": None}


async def test_a_sessions_conversation_is_not_a_chat_conversation(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    """Hidden from the conversations routes, and /v1/coach/chat cannot write to it:
    nothing gets past the session's status check or its topic's prompt."""
    session = await create_session(coach_client, runner)
    assert (await say(coach_client, runner, session["id"])).status_code == 200
    plain = await chat(coach_client, runner)
    listed = await coach_client.get("/v1/coach/conversations", headers=runner.headers)
    assert [item["id"] for item in listed.json()["items"]] == [
        plain.events[0].data["conversation_id"]
    ]
    hidden = await coach_client.get(
        f"/v1/coach/conversations/{session['conversation_id']}", headers=runner.headers
    )
    assert hidden.status_code == 404
    sneaked = await chat(coach_client, runner, conversation_id=session["conversation_id"])
    assert sneaked.status_code == 404, sneaked.events
    assert (await session_row(pg_pool, session["id"]))["user_turns"] == 1


async def test_a_message_streams_like_chat_and_is_kept_with_the_session(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    session = await create_session(coach_client, runner)
    result = await say(coach_client, runner, session["id"], "Hi! I want to run Berlin.")
    names = [event.event for event in result.events]
    assert names[0] == "meta" and names[-1] == "done" and set(names[1:-1]) == {"delta"}
    assert result.events[0].data["conversation_id"] == session["conversation_id"]
    done = done_of(result)
    assert done["status"] == "complete" and done["is_final"] is False
    assert int(result.headers["X-RateLimit-Remaining"]) == 49
    read = (
        await coach_client.get(f"/v1/coach/sessions/{session['id']}", headers=runner.headers)
    ).json()
    assert read["status"] == "active" and read["user_turns"] == 1
    assert [(m["role"], m["content"], m["status"]) for m in read["messages"]] == [
        ("user", "Hi! I want to run Berlin.", "complete"),
        ("assistant", result.text, "complete"),
    ]
    assert await extraction_jobs(pg_pool, session["id"]) == []


async def test_the_topics_prompt_is_read_from_postgres_for_every_message(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    """The simulator counts the prompt's words as input tokens: an admin's longer
    prompt shows in the very next message's usage, with no restart."""
    before = done_of(
        await say(coach_client, runner, (await create_session(coach_client, runner))["id"])
    )
    await pg_pool.execute(
        "UPDATE topics SET system_prompt = system_prompt || $1 WHERE slug = 'onboarding'",
        " extra" * 100,
    )
    after = done_of(
        await say(coach_client, runner, (await create_session(coach_client, runner))["id"])
    )
    assert after["usage"]["input_tokens"] - before["usage"]["input_tokens"] == 100


async def test_the_closing_reply_hides_the_marker_and_queues_one_extraction(
    coach_client: httpx.AsyncClient,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
) -> None:
    session = await create_session(coach_client, runner)
    await sim.set_mode(mode="normal", text=CLOSING, end_session=True)
    result = await say(coach_client, runner, session["id"], "Four days a week, no injuries.")
    done = done_of(result)
    assert done["status"] == "complete" and done["is_final"] is True
    # The simulator sent the marker in two halves; neither reached the athlete.
    assert result.text == CLOSING
    assert all(
        "[[" not in e.data["text"] and "]]" not in e.data["text"] for e in result.of("delta")
    )
    stored = await pg_pool.fetchval(
        "SELECT content FROM messages WHERE id = $1", uuid.UUID(result.events[0].data["message_id"])
    )
    assert stored == CLOSING and SESSION_END_MARKER not in stored
    row = await session_row(pg_pool, session["id"])
    assert row["status"] == "extracting"
    jobs = await extraction_jobs(pg_pool, session["id"])
    assert [(job["id"], job["status"]) for job in jobs] == [(row["extraction_job_id"], "queued")]
    await assert_arq_entry(redis_client, row["extraction_job_id"])


async def test_a_marker_start_that_never_completes_is_shown_at_the_end(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    """Text held back as a possible marker is the reply's own when the marker never comes."""
    session = await create_session(coach_client, runner)
    text = "Wrap notes in [[brackets]] if you like, or end with [[END_"
    await sim.set_mode(mode="normal", text=text)
    result = await say(coach_client, runner, session["id"])
    assert done_of(result)["is_final"] is False
    assert result.text == text
    assert (await session_row(pg_pool, session["id"]))["status"] == "active"


async def test_the_session_is_final_after_max_turns_whatever_the_model_says(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await pg_pool.execute(
        """UPDATE topics SET conversation_config = conversation_config || '{"max_turns": 2}'
           WHERE slug = 'race_debrief'"""
    )
    session = await create_session(coach_client, runner, "race_debrief")
    assert session["max_turns"] == 2
    assert done_of(await say(coach_client, runner, session["id"], "Valencia."))["is_final"] is False
    last = await say(coach_client, runner, session["id"], "3:05, it felt like an 8.")
    assert done_of(last)["is_final"] is True
    row = await session_row(pg_pool, session["id"])
    assert (row["status"], row["user_turns"]) == ("extracting", 2)
    assert len(await extraction_jobs(pg_pool, session["id"])) == 1


async def test_the_closing_messages_retry_attaches_and_anything_else_is_409(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    """Seed 003's bug by design: the retry of a dropped closing message is looked up
    by its Idempotency-Key before the session's status is checked."""
    session = await create_session(coach_client, runner)
    await sim.set_mode(mode="normal", text=CLOSING, end_session=True)
    first = await say(coach_client, runner, session["id"], "That's all.", key="closing-1")
    assert done_of(first)["is_final"] is True
    retry = await say(coach_client, runner, session["id"], "That's all.", key="closing-1")
    assert retry.status_code == 200, retry.body
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.events[0].data["message_id"] == first.events[0].data["message_id"]
    assert retry.text == CLOSING
    assert done_of(retry)["is_final"] is True
    assert (await sim.stats())["requests"] == 1
    for key in (None, "another-key"):
        refused = await say(coach_client, runner, session["id"], "One more thing!", key=key)
        assert refused.status_code == 409, refused.events
        assert refused.body is not None
        assert refused.body["error"]["code"] == "session_not_active"
        assert refused.body["error"]["status"] == "extracting"
    # The refusals spent nothing and stored nothing.
    assert (await session_row(pg_pool, session["id"]))["user_turns"] == 1
    assert int(retry.headers["X-RateLimit-Remaining"]) == 49
    assert len(await extraction_jobs(pg_pool, session["id"])) == 1


async def test_the_closing_reply_resumed_after_its_log_expired_is_still_final(
    coach_client: httpx.AsyncClient,
    runner: Athlete,
    sim: LLMSim,
    redis_client: redis.Redis,
) -> None:
    session = await create_session(coach_client, runner)
    await sim.set_mode(mode="normal", text=CLOSING, end_session=True)
    first = await say(coach_client, runner, session["id"])
    message_id = first.events[0].data["message_id"]
    await redis_client.delete(redis_names.reply_log_key(uuid.UUID(message_id)))
    async with coach_client.stream(
        "GET", f"/v1/coach/messages/{message_id}/stream", headers=runner.headers
    ) as response:
        raw = (await response.aread()).decode()
    events, _ = parse_sse(raw)
    assert events[0].data == {"text": CLOSING, "replace": True}
    assert events[-1].event == "done" and events[-1].data["is_final"] is True
