"""What every reply's producer uses, built once in the lifespan (:mod:`pacer_coach.lifespan`)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import redis.asyncio as redis

from pacer_coach.chat.late_store import LateStores
from pacer_coach.chat.log_writer import ReplyLogWriter
from pacer_coach.chat.tool_rounds import ToolLimits
from pacer_coach.extraction import JobQueue
from pacer_common.llm import LLMClient


@dataclass(frozen=True)
class ReplyServices:
    llm: LLMClient
    pool: asyncpg.Pool
    # The reply logs' client (and the cancel keys', and reply.done's announcement).
    redis: redis.Redis
    writer: ReplyLogWriter
    # A coaching session's extraction, queued when its closing reply ends.
    jobs: JobQueue
    late_stores: LateStores
    log_ttl_s: int  # REPLY_LOG_TTL_SECONDS: how long a log is kept after its `done`
    flush_bytes: int  # REPLY_FLUSH_BYTES: a delta entry is cut at this size
    tools: ToolLimits
