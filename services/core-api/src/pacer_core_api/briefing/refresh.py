"""Asking the briefing worker for a refresh, from core-api's request handlers.

Never fails the request because Postgres or Redis is away (:mod:`pacer_common.outages`):
the athlete's data is already committed, and a refresh that could not be
queued is picked up when the worker reconnects, by the reaper (a ledger row
without its queue entry) or by the next trigger, home view or cron run.
"""

from __future__ import annotations

from uuid import UUID

from redis.exceptions import RedisError

from pacer_common import redis_names
from pacer_common.jobs import briefing_cache, queue
from pacer_common.logs import get_logger
from pacer_common.outages import warn_failed_open
from pacer_core_api.state import AppState

log = get_logger(__name__)


async def request_refresh(
    state: AppState, athlete_id: UUID, *, reason: str, data_changed: bool
) -> bool:
    """True if a refresh is now queued or running for the athlete (never raises for an outage)."""
    return await queue.refresh_after_save(
        state["pool"],
        state["arq"],
        state["settings"],
        athlete_id,
        reason=reason,
        data_changed=data_changed,
    )


async def after_data_saved(state: AppState, athlete_id: UUID, what: str) -> None:
    await request_refresh(state, athlete_id, reason=what, data_changed=True)


async def _within_first_briefings_budget(state: AppState) -> bool:
    """Count one first briefing in this minute's budget (for everyone together)."""
    key = redis_names.FIRST_BRIEFINGS_KEY
    count = int(await state["redis"].incr(key))
    if count == 1:
        await state["redis"].expire(key, redis_names.FIRST_BRIEFINGS_WINDOW_SECONDS)
    return count <= state["settings"].NEW_ACCOUNT_BRIEFINGS_PER_MINUTE


async def from_home(state: AppState, athlete_id: UUID, *, first: bool = False) -> bool:
    """Home found no usable briefing: ask once per debounce window, not once per view.

    ``first``: the athlete never had one (every new account). Those share a
    budget per minute, so that a flood of sign-ups costs a Redis counter each,
    not an LLM call each; past it the athlete keeps the rule-based briefing and
    the next view asks again.
    """
    settings = state["settings"]
    hold_s = max(settings.BRIEFING_DEBOUNCE_SECONDS, 1.0) * 10
    try:
        if not await briefing_cache.claim_request_slot(state["redis"], athlete_id, hold_s):
            return True
        if first and not await _within_first_briefings_budget(state):
            log.warning("first_briefing_deferred")
            await state["redis"].delete(redis_names.briefing_requested_key(athlete_id))
            return False
    except (RedisError, OSError) as error:
        # Redis refusing writes (full under noeviction, read-only replica): home still answers.
        warn_failed_open(log, "briefing_refresh_not_queued", error, reason="home")
        return False
    return await request_refresh(state, athlete_id, reason="home", data_changed=False)
