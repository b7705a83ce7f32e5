"""What the coach's lifespan opens and every handler reads from the request scope."""

from __future__ import annotations

from typing import TypedDict, cast

import asyncpg
import redis.asyncio as redis
from starlette.requests import Request

from pacer_coach.chat.streams import OpenStreams
from pacer_coach.notifications import EventStreams
from pacer_coach.settings import CoachSettings
from pacer_common.auth import TokenVerifier
from pacer_common.llm import LLMClient


class AppState(TypedDict):
    settings: CoachSettings
    pool: asyncpg.Pool
    llm: LLMClient
    token_verifier: TokenVerifier
    streams: OpenStreams
    # Short commands (replays, publishing); the blocking reads of the open
    # notification streams have their own pool, one connection each.
    redis: redis.Redis
    events_reader: redis.Redis
    events: EventStreams


def app_state(request: Request) -> AppState:
    return cast(AppState, request.scope["state"])
