"""What the lifespan opens and every handler reads from ``request.state``."""

from __future__ import annotations

from typing import TypedDict, cast

import asyncpg
import redis.asyncio as redis
from arq.connections import ArqRedis
from starlette.requests import Request

from pacer_common.auth import TokenVerifier
from pacer_core_api.security.login_throttle import LoginThrottle
from pacer_core_api.security.passwords import Passwords
from pacer_core_api.security.registration_throttle import RegistrationThrottle
from pacer_core_api.security.tokens import AccessTokenIssuer
from pacer_core_api.settings import CoreApiSettings


class AppState(TypedDict):
    settings: CoreApiSettings
    pool: asyncpg.Pool
    redis: redis.Redis
    # The same Redis, for arq's queue (arq reads bytes; `redis` decodes to str).
    arq: ArqRedis
    token_verifier: TokenVerifier
    token_issuer: AccessTokenIssuer
    passwords: Passwords
    login_throttle: LoginThrottle
    registration_throttle: RegistrationThrottle


def app_state(request: Request) -> AppState:
    """The lifespan's state, as the ASGI server copied it into this request's scope."""
    return cast(AppState, request.scope["state"])
