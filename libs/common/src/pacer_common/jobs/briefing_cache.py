"""The briefing cache in Redis: the worker writes, home reads (one MGET).

The keys and their TTLs are in :mod:`pacer_common.redis_names`.

``pacer:briefing:<athlete>``: the last LLM briefing, with when it was generated
and when the worker last confirmed its inputs unchanged (freshness counts from
that), the model and the fingerprint of the inputs.
``pacer:briefing-failure:<athlete>``: the last refresh failed for good; cleared
by the next success.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from uuid import UUID

import redis.asyncio as redis

from pacer_common import redis_names
from pacer_common.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class CachedBriefing:
    text: str
    model: str
    fingerprint: str
    generated_at: dt.datetime
    checked_at: dt.datetime

    def to_json(self) -> str:
        return json.dumps(
            {
                "text": self.text,
                "model": self.model,
                "fingerprint": self.fingerprint,
                "generated_at": self.generated_at.isoformat(),
                "checked_at": self.checked_at.isoformat(),
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> CachedBriefing:
        data = json.loads(raw)
        return cls(
            text=data["text"],
            model=data["model"],
            fingerprint=data["fingerprint"],
            generated_at=dt.datetime.fromisoformat(data["generated_at"]),
            checked_at=dt.datetime.fromisoformat(data["checked_at"]),
        )


@dataclass(frozen=True)
class RefreshFailure:
    at: dt.datetime
    error: str


Freshness = Literal["fresh", "stale", "expired"]


@dataclass(frozen=True)
class CacheEntry:
    briefing: CachedBriefing | None
    failure: RefreshFailure | None

    def freshness(self, now: dt.datetime, fresh_s: float, stale_max_s: float) -> Freshness:
        if self.briefing is None:
            return "expired"
        age_s = (now - self.briefing.checked_at).total_seconds()
        if age_s <= fresh_s:
            return "fresh"
        return "stale" if age_s <= stale_max_s else "expired"


async def read(client: redis.Redis, athlete_id: UUID) -> CacheEntry:
    raw_briefing, raw_failure = await client.mget(
        [redis_names.briefing_key(athlete_id), redis_names.briefing_failure_key(athlete_id)]
    )
    return CacheEntry(
        _decoded(raw_briefing, CachedBriefing.from_json, athlete_id),
        _decoded(raw_failure, _failure_from_json, athlete_id),
    )


def _failure_from_json(raw: str | bytes) -> RefreshFailure:
    data: dict[str, Any] = json.loads(raw)
    return RefreshFailure(dt.datetime.fromisoformat(data["at"]), data["error"])


def _decoded(
    raw: str | bytes | None, decode: Callable[[str | bytes], T], athlete_id: UUID
) -> T | None:
    """None for a missing entry, and for one that cannot be decoded (written by
    another version, or by hand): it is then as good as missing, and the next
    refresh overwrites it, instead of every read failing until its TTL ends."""
    if raw is None:
        return None
    try:
        return decode(raw)
    except (ValueError, KeyError, TypeError):
        log.warning("briefing_cache_entry_malformed", athlete_id=str(athlete_id), exc_info=True)
        return None


async def write(client: redis.Redis, athlete_id: UUID, briefing: CachedBriefing) -> None:
    async with client.pipeline(transaction=True) as pipe:
        pipe.set(
            redis_names.briefing_key(athlete_id),
            briefing.to_json(),
            ex=redis_names.BRIEFING_TTL_SECONDS,
        )
        pipe.delete(redis_names.briefing_failure_key(athlete_id))
        await pipe.execute()


async def record_failure(client: redis.Redis, athlete_id: UUID, failure: RefreshFailure) -> None:
    await client.set(
        redis_names.briefing_failure_key(athlete_id),
        json.dumps({"at": failure.at.isoformat(), "error": failure.error}),
        ex=redis_names.BRIEFING_FAILURE_TTL_SECONDS,
    )


async def claim_request_slot(client: redis.Redis, athlete_id: UUID, hold_s: float) -> bool:
    """True for the first caller within ``hold_s``: only it asks for a refresh."""
    return bool(
        await client.set(
            redis_names.briefing_requested_key(athlete_id), "1", nx=True, px=int(hold_s * 1000)
        )
    )
