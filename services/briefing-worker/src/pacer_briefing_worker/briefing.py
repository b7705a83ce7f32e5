"""The briefing job's work: read the athlete's data, ask the LLM only if it changed,
write the result to the cache home reads."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import redis.asyncio as redis

from pacer_common import notifications
from pacer_common.jobs import briefing_cache
from pacer_common.jobs.briefing_cache import CachedBriefing
from pacer_common.llm import ChatMessage, Deadline, LLMClient, LLMRequest, ModelSpec
from pacer_common.logs import get_logger
from pacer_common.tables import users
from pacer_common.tables.athlete_context import athlete_context, describe_athlete

INSTRUCTIONS = (
    "You are Pacer, a careful running coach. Write today's briefing for the athlete's "
    "home screen: two to four short sentences, plain text, no greeting and no lists. "
    "Ground it in the data below (recovery, recent load, what is coming up) and end "
    "with one concrete suggestion for today. Never give medical diagnoses."
)
PURPOSE = "briefing"

log = get_logger(__name__)


class AthleteGone(Exception):
    """The athlete was deleted after the job was queued: nothing to brief."""


def fingerprint(prompt_data: str, model: ModelSpec) -> str:
    """Same data, same day (it is in the text) and same model: same briefing."""
    return hashlib.sha256(f"{model.code}\n{prompt_data}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class BriefingInputs:
    prompt_data: str
    fingerprint: str


async def read_inputs(
    pool: asyncpg.Pool, athlete_id: UUID, model: ModelSpec, now: dt.datetime
) -> BriefingInputs:
    async with pool.acquire() as conn:
        if not await users.account_exists(conn, athlete_id):
            raise AthleteGone(str(athlete_id))
        context = await athlete_context(conn, athlete_id, now)
    prompt_data = describe_athlete(context, now.date())
    return BriefingInputs(prompt_data, fingerprint(prompt_data, model))


async def refresh(
    *,
    pool: asyncpg.Pool,
    cache: redis.Redis,
    llm: LLMClient,
    model: ModelSpec,
    max_tokens: int,
    athlete_id: UUID,
    deadline: Deadline,
) -> dict[str, Any]:
    """One refresh; returns the outcome recorded in the ledger."""
    now = dt.datetime.now(dt.UTC)
    inputs = await read_inputs(pool, athlete_id, model, now)
    cached = (await briefing_cache.read(cache, athlete_id)).briefing
    if cached is not None and cached.fingerprint == inputs.fingerprint:
        # Nothing changed since it was written: confirm it instead of paying for a new one.
        await briefing_cache.write(
            cache, athlete_id, CachedBriefing(**{**cached.__dict__, "checked_at": now})
        )
        await _briefing_ready(cache, athlete_id, now, changed=False)
        return {"llm_called": False, "fingerprint": inputs.fingerprint, "model": cached.model}
    completion = await llm.complete(
        LLMRequest(
            system=INSTRUCTIONS,
            messages=[ChatMessage(role="user", content=inputs.prompt_data)],
            max_tokens=max_tokens,
            model=model,
        ),
        deadline=deadline,
        user_id=athlete_id,
        purpose=PURPOSE,
    )
    generated_at = dt.datetime.now(dt.UTC)
    await briefing_cache.write(
        cache,
        athlete_id,
        CachedBriefing(
            text=completion.text.strip(),
            model=completion.model.code,
            fingerprint=inputs.fingerprint,
            generated_at=generated_at,
            checked_at=generated_at,
        ),
    )
    await _briefing_ready(cache, athlete_id, generated_at, changed=True)
    return {
        "llm_called": True,
        "fingerprint": inputs.fingerprint,
        "model": completion.model.code,
        "input_tokens": completion.input_tokens,
        "output_tokens": completion.output_tokens,
    }


async def _briefing_ready(
    cache: redis.Redis, athlete_id: UUID, at: dt.datetime, *, changed: bool
) -> None:
    """Tell the athlete's open apps that home has a fresh briefing (``changed``: new text)."""
    try:
        await notifications.publish(
            cache, athlete_id, "briefing.ready", {"changed": changed, "at": at.isoformat()}
        )
    except Exception as error:  # the briefing is stored; a missed nudge is no failure
        log.warning("briefing_ready_not_published", athlete_id=str(athlete_id), error=str(error))
