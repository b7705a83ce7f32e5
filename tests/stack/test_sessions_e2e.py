"""Coaching sessions end to end through make run's stack (issue 12's contract tests):
Caddy, core-api, the coach, the briefing worker, the simulator, Postgres and Valkey,
none of them played by a test.

The simulator's mode is global and is taken by each LLM request when it arrives.
A session's closing reply queues the extraction as soon as it ends, so the
closing message is sent in one mode and, once its first delta shows the
conversation's request has started, the simulator is switched to the mode the
extraction must see (:func:`say`'s ``then``): nothing races.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest

from fixtures.stack import Stack, start_stack
from fixtures.waiting import poll
from pacer_devstack.postgres import database_url

ADMIN = "coach-ops@example.com"
PASSWORD = "correct horse battery"
HAIKU = "claude-haiku-4-5"  # the conversation's model, and the topics' default extraction model
GPT_MINI = "gpt-4o-mini"
CLOSING_MESSAGE = "Four days a week; my left achilles was sore in 2025."
CLOSING = "Thanks, that is all I need. Good luck in Berlin!"
ONBOARDING = {
    "race_name": "Berlin Marathon",
    "race_date": "2027-09-26",
    "distance_m": 42195,
    "target_time_s": 12600,
    "sessions_per_week": 4,
    "injuries": ["left achilles, 2025"],
}
# What the worker's validation makes of it (distance_m is a float).
VALIDATED = {**ONBOARDING, "distance_m": 42195.0}
VALID_TEXT = json.dumps(ONBOARDING)
INVALID_TEXT = "Sure! Here is the summary: Berlin, four runs a week."
JOB_MAX_ATTEMPTS = 2
SUCCEEDED = 'jobs_finished_total{kind="extraction",outcome="succeeded"}'


@pytest.fixture(scope="module")
def sessions_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("sessions-stack") / "data",
        {
            "ADMIN_EMAILS": ADMIN,
            # An invalid extraction is retried at once, and fails for good on the second.
            "JOB_MAX_ATTEMPTS": str(JOB_MAX_ATTEMPTS),
            "JOB_RETRY_BACKOFF_SECONDS": "0.2",
        },
    )
    yield running
    running.stop()
    assert not running.pids(), f"left behind: {running.pids()}"


@dataclass
class Sim:
    url: str

    async def mode(self, **fields: Any) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.post(f"{self.url}/_sim/mode", json=fields)
        assert response.status_code == 200, response.text

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=5) as http:
            stats: dict[str, Any] = (await http.get(f"{self.url}/_sim/stats")).json()
        return stats


@dataclass
class Event:
    event: str
    data: dict[str, Any]
    id: str | None = None


@dataclass
class Turn:
    status_code: int
    headers: httpx.Headers
    events: list[Event] = field(default_factory=list)
    body: dict[str, Any] | None = None

    def of(self, name: str) -> list[Event]:
        return [event for event in self.events if event.event == name]

    @property
    def message_id(self) -> str:
        return str(self.events[0].data["message_id"])

    @property
    def text(self) -> str:
        return "".join(event.data["text"] for event in self.of("delta"))

    @property
    def done(self) -> dict[str, Any]:
        [done] = self.of("done")
        return done.data


async def sse_events(response: httpx.Response) -> AsyncIterator[Event]:
    """The events of an SSE response as they arrive (comments and retry: skipped)."""
    name, data, entry_id = "message", list[str](), None
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield Event(name, json.loads("\n".join(data)), entry_id)
            name, data, entry_id = "message", [], None
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif line.startswith("id:"):
            entry_id = line[3:].strip()


@dataclass
class Athlete:
    client: httpx.AsyncClient
    headers: dict[str, str]

    async def create(self, topic: str = "onboarding") -> dict[str, Any]:
        created = await self.client.post(
            "/v1/coach/sessions", json={"topic": topic}, headers=self.headers
        )
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        return body

    async def say(
        self,
        session_id: str,
        message: str,
        *,
        key: str | None = None,
        then: Callable[[], Awaitable[None]] | None = None,
        drop: bool = False,
    ) -> Turn:
        """POST a message and read its stream. ``then`` runs on the first delta (the
        LLM request has started); ``drop`` disconnects right after it."""
        headers = dict(self.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        async with self.client.stream(
            "POST",
            f"/v1/coach/sessions/{session_id}/messages",
            json={"message": message},
            headers=headers,
        ) as response:
            turn = Turn(response.status_code, response.headers)
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                turn.body = json.loads(await response.aread())
                return turn
            async for event in sse_events(response):
                turn.events.append(event)
                if event.event == "delta" and len(turn.of("delta")) == 1:
                    if then is not None:
                        await then()
                    if drop:
                        break  # leaving the block closes the connection mid-reply
        return turn

    async def complete(self, session_id: str, prefer: str | None = None) -> httpx.Response:
        headers = dict(self.headers)
        if prefer is not None:
            headers["Prefer"] = prefer
        return await self.client.post(f"/v1/coach/sessions/{session_id}/complete", headers=headers)

    async def session(self, session_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/coach/sessions/{session_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def poll(self, session_id: str, status: str, timeout_s: float = 20) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            session = await self.session(session_id)
            return session if session["status"] == status else None

        found: dict[str, Any] = await poll(
            reached, timeout_s=timeout_s, interval_s=0.1, what=f"session {session_id} {status}"
        )
        return found

    @contextlib.asynccontextmanager
    async def notifications(self) -> AsyncIterator[Callable[[str, float], Awaitable[Event]]]:
        """The open notification stream: what is published once this is entered arrives.
        Yields ``wait_for(type, timeout_s)``."""
        async with self.client.stream(
            "GET", "/v1/coach/events", headers=self.headers, timeout=httpx.Timeout(5, read=None)
        ) as response:
            assert response.status_code == 200
            events = sse_events(response)

            async def wait_for(name: str, timeout_s: float) -> Event:
                async with asyncio.timeout(timeout_s):
                    async for event in events:
                        if event.event == name:
                            return event
                raise AssertionError("the notification stream ended")

            yield wait_for


@pytest.fixture(scope="module")
def sim(sessions_stack: Stack) -> Sim:
    return Sim(f"http://127.0.0.1:{sessions_stack.port('LLM_SIM_PORT')}")


@pytest.fixture
async def http(sessions_stack: Stack, sim: Sim) -> AsyncIterator[httpx.AsyncClient]:
    await sim.mode(mode="normal")
    async with httpx.AsyncClient(base_url=sessions_stack.url, timeout=30) as client:
        yield client
    await sim.mode(mode="normal")


async def login(client: httpx.AsyncClient, email: str | None = None) -> Athlete:
    email = email or f"runner-{uuid.uuid4().hex[:8]}@example.com"
    await client.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "S"})
    tokens = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return Athlete(client, {"Authorization": f"Bearer {tokens.json()['access_token']}"})


async def query(stack: Stack, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Read make run's Postgres directly, for what no route shows (usage, raw output)."""
    conn = await asyncpg.connect(database_url(stack.port("POSTGRES_PORT")))
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
    finally:
        await conn.close()
    return rows


async def extraction_usage(stack: Stack, session_id: str) -> list[tuple[str, str, bool]]:
    """The session owner's extraction rows in the usage ledger: (model, outcome, costed)."""
    rows = await query(
        stack,
        """SELECT u.model_code, u.outcome, u.cost_usd > 0 AS costed FROM llm_usage u
           JOIN coach_sessions s ON s.user_id = u.user_id
           WHERE s.id = $1 AND u.purpose = 'extraction' ORDER BY u.id""",
        uuid.UUID(session_id),
    )
    return [(row["model_code"], row["outcome"], row["costed"]) for row in rows]


async def worker_metric(stack: Stack, line_start: str) -> float:
    url = f"http://127.0.0.1:{stack.port('BRIEFING_WORKER_PORT')}/metrics"
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(url)).text
    values = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)
    ]
    return sum(values)


def calls(before: dict[str, Any], after: dict[str, Any], model: str) -> int:
    count: int = after["by_model"].get(model, 0) - before["by_model"].get(model, 0)
    return count


async def closing_turn(
    athlete: Athlete, sim: Sim, session_id: str, extraction_mode: dict[str, Any], **say: Any
) -> Turn:
    """The session's closing message; the extraction it queues sees ``extraction_mode``."""
    # A reply that takes a moment: the switch below lands while it streams.
    await sim.mode(mode="normal", text=CLOSING, end_session=True, token_ms=30)
    return await athlete.say(
        session_id,
        CLOSING_MESSAGE,
        then=lambda: sim.mode(**extraction_mode),
        **say,
    )


async def test_seed_003_timeline_202_then_the_result_by_poll_and_notification(
    http: httpx.AsyncClient, sim: Sim, sessions_stack: Stack
) -> None:
    athlete = await login(http)
    session = await athlete.create()
    assert session["status"] == "active"
    await sim.mode(mode="normal")
    first = await athlete.say(session["id"], "I'm training for the Berlin Marathon.")
    assert first.status_code == 200 and first.done["is_final"] is False

    async with athlete.notifications() as wait_for:
        slow = {"mode": "slow", "first_token_ms": 2500, "token_ms": 0, "text": VALID_TEXT}
        last = await closing_turn(athlete, sim, session["id"], slow)
        assert last.status_code == 200, last.body
        assert last.done["is_final"] is True and last.done["status"] == "complete"
        assert last.text == CLOSING  # the marker, sent in two halves, never shown
        before = await sim.stats()

        started = time.monotonic()
        waited = await athlete.complete(session["id"], "wait=1")
        elapsed = time.monotonic() - started
        assert waited.status_code == 202, waited.text
        assert 0.8 <= elapsed <= 2.5, elapsed
        assert waited.headers["location"] == f"/v1/coach/sessions/{session['id']}"
        assert int(waited.headers["retry-after"]) >= 1
        assert waited.headers["preference-applied"] == "wait=1"
        assert waited.json()["status"] == "extracting" and waited.json()["result"] is None

        completed = await wait_for("session.completed", 20)
    assert completed.data["session_id"] == session["id"]
    assert completed.data["result"] == VALIDATED

    polled = await athlete.poll(session["id"], "completed")
    assert polled["result"] == VALIDATED and polled["error"] is None
    # Each turn's message, then its reply (the two share a created_at).
    assert [m["role"] for m in polled["messages"]] == ["user", "assistant"] * 2
    replies = [m["content"] for m in polled["messages"] if m["role"] == "assistant"]
    assert replies[-1] == CLOSING and not any("[[" in reply for reply in replies)

    again = await athlete.complete(session["id"], "wait=1")
    assert again.status_code == 200, again.text
    assert again.json()["result"] == VALIDATED
    after = await sim.stats()
    assert calls(before, after, HAIKU) == 1, (before, after)
    assert after["requests"] - before["requests"] == 1
    # Its tokens and cost are in the usage ledger under its own purpose.
    assert await extraction_usage(sessions_stack, session["id"]) == [("CLAUDE_HAIKU", "ok", True)]
    assert await worker_metric(sessions_stack, SUCCEEDED) >= 1


async def test_a_fast_extraction_answers_200_inline(http: httpx.AsyncClient, sim: Sim) -> None:
    athlete = await login(http)
    session = await athlete.create()
    last = await closing_turn(athlete, sim, session["id"], {"mode": "normal", "text": VALID_TEXT})
    assert last.done["is_final"] is True
    inline = await athlete.complete(session["id"], "wait=10")
    assert inline.status_code == 200, inline.text
    assert inline.json()["status"] == "completed" and inline.json()["result"] == VALIDATED
    assert inline.headers["preference-applied"] == "wait=10"


async def test_an_extraction_in_the_simulators_default_mode_completes_the_session(
    http: httpx.AsyncClient, sim: Sim
) -> None:
    # No scripted text: the simulator answers the extraction's structured ask itself,
    # as it does in `make run` (its default mode), and that answer validates.
    athlete = await login(http)
    session = await athlete.create()
    last = await closing_turn(athlete, sim, session["id"], {"mode": "normal"})
    assert last.done["is_final"] is True
    completed = await athlete.complete(session["id"], "wait=10")
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "completed", completed.json()
    result = completed.json()["result"]
    assert isinstance(result, dict) and result, result
    assert completed.json()["error"] is None


async def test_a_dropped_closing_message_retried_with_its_key_gets_the_same_reply(
    http: httpx.AsyncClient, sim: Sim
) -> None:
    athlete = await login(http)
    session = await athlete.create()
    dropped = await closing_turn(
        athlete,
        sim,
        session["id"],
        {"mode": "normal", "text": VALID_TEXT},
        key="closing-e2e",
        drop=True,
    )
    assert dropped.status_code == 200 and not dropped.of("done")

    async def resume() -> list[Event]:
        async with http.stream(
            "GET", f"/v1/coach/messages/{dropped.message_id}/stream", headers=athlete.headers
        ) as response:
            assert response.status_code == 200
            return [event async for event in sse_events(response)]

    # Both while the reply is still streaming: the retry with its key, and a resume
    # from the reply log as for any chat reply.
    retry, resumed = await asyncio.gather(
        athlete.say(session["id"], CLOSING_MESSAGE, key="closing-e2e"), resume()
    )
    assert retry.status_code == 200, retry.body
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.message_id == dropped.message_id
    assert retry.text == CLOSING
    assert retry.done["is_final"] is True
    assert "".join(e.data["text"] for e in resumed if e.event == "delta") == CLOSING
    assert resumed[-1].event == "done" and resumed[-1].data["is_final"] is True

    refused = await athlete.say(session["id"], "Oh, one more thing!")
    assert refused.status_code == 409, refused.events
    assert refused.body is not None and refused.body["error"]["code"] == "session_not_active"
    assert (await athlete.poll(session["id"], "completed"))["result"] == VALIDATED
    # Even once the session has its result, the key still finds the same reply.
    late = await athlete.say(session["id"], CLOSING_MESSAGE, key="closing-e2e")
    assert late.status_code == 200 and late.message_id == dropped.message_id


async def test_the_admins_model_switch_sends_the_next_extraction_to_openai(
    http: httpx.AsyncClient, sim: Sim, sessions_stack: Stack
) -> None:
    admin = await login(http, ADMIN)
    athlete = await login(http)
    switched = await http.put(
        "/v1/admin/topics/onboarding",
        json={"conversation_config": {"extraction_model_code": "GPT_MINI"}},
        headers=admin.headers,
    )
    assert switched.status_code == 200, switched.text
    try:
        assert switched.json()["conversation_config"]["extraction_model_code"] == "GPT_MINI"
        session = await athlete.create()
        await sim.mode(mode="normal")
        assert (await athlete.say(session["id"], "Berlin, in September.")).status_code == 200
        await sim.mode(mode="normal", text=VALID_TEXT)
        before = await sim.stats()
        done = await athlete.complete(session["id"], "wait=10")
        assert done.status_code == 200, done.text
        assert done.json()["result"] == VALIDATED
        after = await sim.stats()
        assert calls(before, after, GPT_MINI) == 1 and calls(before, after, HAIKU) == 0
        openai = after["by_endpoint"]["/v1/chat/completions"]
        assert openai - before["by_endpoint"]["/v1/chat/completions"] == 1
        usage = await extraction_usage(sessions_stack, session["id"])
        assert usage == [("GPT_MINI", "ok", True)]
    finally:
        back = await http.put(
            "/v1/admin/topics/onboarding",
            json={"conversation_config": {"extraction_model_code": "CLAUDE_HAIKU"}},
            headers=admin.headers,
        )
        assert back.status_code == 200, back.text


async def test_invalid_json_is_retried_then_failed_and_the_admins_retry_completes_it(
    http: httpx.AsyncClient, sim: Sim, sessions_stack: Stack
) -> None:
    admin = await login(http, ADMIN)
    athlete = await login(http)
    session = await athlete.create()
    async with athlete.notifications() as wait_for:
        invalid = {"mode": "normal", "text": INVALID_TEXT}
        before = await sim.stats()
        last = await closing_turn(athlete, sim, session["id"], invalid)
        assert last.done["is_final"] is True
        failed_event = await wait_for("session.extraction_failed", 20)
    assert failed_event.data["session_id"] == session["id"]
    job_id = failed_event.data["job_id"]
    # The conversation's call, then one per attempt.
    assert calls(before, await sim.stats(), HAIKU) == 1 + JOB_MAX_ATTEMPTS

    # Not `complete`: from extraction_failed that queues the extraction again.
    polled = await athlete.session(session["id"])
    assert polled["status"] == "extraction_failed", polled
    assert polled["result"] is None and "not JSON" in polled["error"]
    pool = await asyncpg.connect(database_url(sessions_stack.port("POSTGRES_PORT")))
    try:
        raw = await pool.fetchval(
            "SELECT raw_output FROM coach_sessions WHERE id = $1", uuid.UUID(session["id"])
        )
    finally:
        await pool.close()
    assert raw == INVALID_TEXT

    health = await http.get("/v1/admin/jobs/health", headers=admin.headers)
    assert health.json()["metrics"]["counts"]["failed"] >= 1
    await sim.mode(mode="normal", text=VALID_TEXT)
    retried = await http.post(f"/v1/admin/jobs/{job_id}/retry", headers=admin.headers)
    assert retried.status_code == 202, retried.text
    assert retried.json()["enqueued"] is True
    completed = await athlete.poll(session["id"], "completed")
    assert completed["result"] == VALIDATED and completed["error"] is None
    assert (await extraction_usage(sessions_stack, session["id"]))[-1] == (
        "CLAUDE_HAIKU",
        "ok",
        True,
    )


async def test_complete_again_after_a_failed_extraction_retries_it(
    http: httpx.AsyncClient, sim: Sim
) -> None:
    athlete = await login(http)
    session = await athlete.create()
    last = await closing_turn(athlete, sim, session["id"], {"mode": "normal", "text": "[1, 2]"})
    assert last.done["is_final"] is True
    failed = await athlete.poll(session["id"], "extraction_failed")
    assert "not a JSON object" in failed["error"]
    await sim.mode(mode="normal", text=VALID_TEXT)
    before = await sim.stats()
    retried = await athlete.complete(session["id"], "wait=10")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "completed" and retried.json()["result"] == VALIDATED
    again = await athlete.complete(session["id"], "wait=10")
    assert again.status_code == 200 and again.json()["result"] == VALIDATED
    assert calls(before, await sim.stats(), HAIKU) == 1


async def test_max_turns_ends_a_race_debrief_whatever_the_model_says(
    http: httpx.AsyncClient, sim: Sim
) -> None:
    """The admin's max_turns reaches the coach, the merge keeps the model, and the
    other seeded topic's schema is the worker's."""
    admin = await login(http, ADMIN)
    athlete = await login(http)
    changed = await http.put(
        "/v1/admin/topics/race_debrief",
        json={"conversation_config": {"max_turns": 1}},
        headers=admin.headers,
    )
    assert changed.status_code == 200, changed.text
    try:
        config = changed.json()["conversation_config"]
        assert config == {"extraction_model_code": "CLAUDE_HAIKU", "max_turns": 1}
        session = await athlete.create("race_debrief")
        debrief = {"race_name": "Valencia", "effort": 8, "went_well": [], "to_improve": ["pacing"]}
        await sim.mode(mode="normal", token_ms=30)  # no marker
        only = await athlete.say(
            session["id"],
            "Valencia in 3:05; an 8 out of 10.",
            then=lambda: sim.mode(mode="normal", text=json.dumps(debrief)),
        )
        assert only.done["is_final"] is True
        done = await athlete.complete(session["id"], "wait=10")
        assert done.status_code == 200, done.text
        assert done.json()["result"] == {**debrief, "finish_time_s": None}
        listed = await http.get("/v1/coach/sessions", headers=athlete.headers)
        assert [item["id"] for item in listed.json()["items"]] == [session["id"]]
    finally:
        back = await http.put(
            "/v1/admin/topics/race_debrief",
            json={"conversation_config": {"max_turns": 8}},
            headers=admin.headers,
        )
        assert back.status_code == 200, back.text
