"""What the coach's lifespan opens and every handler reads from the request scope."""

from __future__ import annotations

from typing import TypedDict, cast

import asyncpg
import redis.asyncio as redis
from starlette.requests import Request

from pacer_coach.chat.services import ReplyServices
from pacer_coach.chat.streams import OpenStreams
from pacer_coach.notifications import EventStreams
from pacer_coach.settings import CoachSettings
from pacer_common.auth import TokenVerifier
from pacer_common.llm import LLMClient


class AppState(TypedDict):
    settings: CoachSettings
    pool: asyncpg.Pool
    llm: LLMClient
    # Short commands and the notification streams' starts; the blocking reads of the
    # open notification streams have their own pool (events_reader).
    redis: redis.Redis
    # What every reply's producer and reader use: the reply logs' client (``redis``
    # itself, or the benchmarks' in-memory stand-in), the log writer, the queue, the
    # stores Postgres could not take at once.
    replies: ReplyServices
    token_verifier: TokenVerifier
    streams: OpenStreams
    events_reader: redis.Redis
    events: EventStreams


def app_state(request: Request) -> AppState:
    return cast(AppState, request.scope["state"])
