"""One usage row per LLM attempt, handed to whatever stores them.

The layer does not know Postgres: a service passes a :class:`UsageSink` (the
coach's writes ``llm_usage`` rows). An attempt hands its row over from a task of
its own, so a consumer cancelled mid-write (the browser left as the reply ended)
cannot lose it; a failing or slow sink is logged and never breaks the call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol
from uuid import UUID

from pacer_common.llm.registry import Provider
from pacer_common.logs import get_logger

log = get_logger(__name__)

# "recovered" and "interrupted": a chat reply settled from its log after its producer
# could not store it (pacer_common.reply_log.settle).
Outcome = Literal[
    "ok", "timeout", "overloaded", "upstream_error", "cancelled", "recovered", "interrupted"
]

# A sink write longer than this is abandoned (and logged): rows are cheap, a stuck pool is not.
USAGE_WRITE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class UsageRecord:
    user_id: UUID | None
    purpose: str
    provider: Provider
    model_code: str
    model_id: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    ttft_ms: int | None
    duration_ms: int
    outcome: Outcome
    fallback: bool


class UsageSink(Protocol):
    async def record(self, record: UsageRecord) -> None: ...


async def write_usage(sink: UsageSink | None, record: UsageRecord) -> None:
    """Hand ``record`` to ``sink``; log instead of raising if it fails or is slow."""
    if sink is None:
        return
    try:
        async with asyncio.timeout(USAGE_WRITE_TIMEOUT_S):
            await sink.record(record)
    except Exception:
        log.exception(
            "llm_usage_write_failed",
            provider=record.provider,
            model=record.model_code,
            outcome=record.outcome,
            purpose=record.purpose,
        )
