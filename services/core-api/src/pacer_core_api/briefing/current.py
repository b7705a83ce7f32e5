"""The one function home reads its briefing through. It never calls an LLM and
never waits for a job: one Redis read, and at most one refresh request.

- LLM briefing confirmed within BRIEFING_FRESH_SECONDS → ``fresh``.
- within BRIEFING_STALE_MAX_SECONDS → ``stale``: served, and a refresh is queued.
- older or missing → the rule-based text, ``pending`` (a refresh is queued) or
  ``unavailable`` (the last refresh failed for good, or Redis cannot be read).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from uuid import UUID

from prometheus_client import Counter
from redis.exceptions import RedisError

from pacer_common.jobs import briefing_cache
from pacer_common.logs import get_logger
from pacer_common.outages import warn_failed_open
from pacer_core_api.briefing import refresh
from pacer_core_api.briefing.rules import rule_based_text
from pacer_core_api.state import AppState
from pacer_core_api.store.summary import AthleteSummary

log = get_logger(__name__)

BriefingStatus = Literal["fresh", "stale", "pending", "unavailable"]

# result: hit (fresh), stale (served, refresh queued), miss (rule-based), error (Redis unreadable).
BRIEFING_CACHE = Counter(
    "briefing_cache_requests_total", "Home's briefing cache reads, by result.", ["result"]
)


def _rules(summary: AthleteSummary, status: BriefingStatus, now: dt.datetime) -> dict[str, Any]:
    return {
        "status": status,
        "text": rule_based_text(summary),
        "generated_at": now.isoformat(),
        "source": "rules",
    }


async def current_briefing(
    state: AppState, athlete_id: UUID, summary: AthleteSummary, now: dt.datetime
) -> dict[str, Any]:
    settings = state["settings"]
    try:
        entry = await briefing_cache.read(state["redis"], athlete_id)
    except (RedisError, OSError) as error:
        # Redis down or slow (its socket timeout bounds this): home still answers.
        # A malformed entry is not this: the cache reads it as missing.
        BRIEFING_CACHE.labels("error").inc()
        warn_failed_open(log, "briefing_cache_unreadable", error)
        return _rules(summary, "unavailable", now)

    freshness = entry.freshness(
        now, settings.BRIEFING_FRESH_SECONDS, settings.BRIEFING_STALE_MAX_SECONDS
    )
    if freshness == "fresh" and entry.briefing is not None:
        BRIEFING_CACHE.labels("hit").inc()
        return _llm(entry.briefing, "fresh")

    failed_recently = entry.failure is not None and (
        (now - entry.failure.at).total_seconds() < settings.BRIEFING_RETRY_AFTER_FAILURE_SECONDS
    )
    first = entry.briefing is None and entry.failure is None
    queued = False if failed_recently else await refresh.from_home(state, athlete_id, first=first)
    if freshness == "stale" and entry.briefing is not None:
        BRIEFING_CACHE.labels("stale").inc()
        return _llm(entry.briefing, "stale")
    BRIEFING_CACHE.labels("miss").inc()
    return _rules(summary, "pending" if queued and entry.failure is None else "unavailable", now)


def _llm(briefing: briefing_cache.CachedBriefing, status: BriefingStatus) -> dict[str, Any]:
    return {
        "status": status,
        "text": briefing.text,
        "generated_at": briefing.generated_at.isoformat(),
        "source": "llm",
        "model": briefing.model,
    }
