"""The LLM layer's usage records, written to Postgres (table llm_usage), one row per attempt."""

from __future__ import annotations

import asyncpg

from pacer_common.llm.usage import UsageRecord


class PostgresUsageSink:
    """On a pool (the LLM layer's rows), or on a connection whose transaction the row
    must share (a reply settled from its log: the row only if the settling wins)."""

    def __init__(self, pool: asyncpg.Pool | asyncpg.Connection) -> None:
        self._pool = pool

    async def record(self, record: UsageRecord) -> None:
        await self._pool.execute(
            """INSERT INTO llm_usage (user_id, purpose, provider, model_code, model_id,
                   input_tokens, output_tokens, cost_usd, ttft_ms, duration_ms, outcome, fallback)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
            record.user_id,
            record.purpose,
            record.provider,
            record.model_code,
            record.model_id,
            record.input_tokens,
            record.output_tokens,
            record.cost_usd,
            record.ttft_ms,
            record.duration_ms,
            record.outcome,
            record.fallback,
        )
