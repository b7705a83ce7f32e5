"""Register, log in, refresh, log out."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pacer_common.auth import Role
from pacer_common.errors import Conflict, Unauthorized
from pacer_common.logs import get_logger
from pacer_common.web.json_body import parse_json_body
from pacer_core_api.client_ip import client_ip
from pacer_core_api.schemas import LoginIn, RefreshIn, RegisterIn
from pacer_core_api.security.tokens import new_refresh_token, refresh_token_hash
from pacer_core_api.state import AppState, app_state
from pacer_core_api.store import users
from pacer_core_api.store.users import User

log = get_logger(__name__)


async def _token_pair(state: AppState, user: User, family_id: uuid.UUID) -> dict[str, Any]:
    refresh_token = new_refresh_token()
    async with state["pool"].acquire() as conn:
        await users.store_refresh_token(
            conn,
            user_id=user.id,
            family_id=family_id,
            token_hash=refresh_token_hash(refresh_token),
            ttl_s=state["settings"].REFRESH_TOKEN_TTL_SECONDS,
        )
    return {
        "access_token": state["token_issuer"].issue(user.principal),
        "refresh_token": refresh_token,
        "token_type": "bearer",
        "expires_in": state["token_issuer"].ttl_s,
    }


async def register(request: Request) -> JSONResponse:
    state = app_state(request)
    body = await parse_json_body(request, RegisterIn)
    email = body.email.lower()
    role: Role = "admin" if email in state["settings"].ADMIN_EMAILS else "athlete"
    password_hash = await state["passwords"].hash(body.password)
    async with state["pool"].acquire() as conn:
        user = await users.create_user(
            conn, email=email, name=body.name, password_hash=password_hash, role=role
        )
    if user is None:
        raise Conflict("An account with this email already exists.", code="email_taken")
    log.info("user_registered", user_id=str(user.id), role=role)
    return JSONResponse(user.public(), status_code=201)


async def login(request: Request) -> JSONResponse:
    state = app_state(request)
    body = await parse_json_body(request, LoginIn)
    ip = client_ip(request, state["settings"].TRUSTED_PROXIES)
    throttle = state["login_throttle"]
    await throttle.check(body.email, ip)
    async with state["pool"].acquire() as conn:
        user = await users.user_by_email(conn, body.email)
    hashed = user.password_hash if user is not None else None
    if user is None or not await state["passwords"].verify(hashed, body.password):
        await throttle.record_failure(body.email, ip)
        raise Unauthorized("Wrong email or password.", code="invalid_credentials")
    await throttle.record_success(body.email, ip)
    return JSONResponse(await _token_pair(state, user, family_id=uuid.uuid4()))


async def refresh(request: Request) -> JSONResponse:
    state = app_state(request)
    body = await parse_json_body(request, RefreshIn)
    async with state["pool"].acquire() as conn, conn.transaction():
        use = await users.consume_refresh_token(conn, refresh_token_hash(body.refresh_token))
        if use is not None and use.outcome == "reused":
            # A rotated-out token came back: someone holds a copy. End the session.
            await users.revoke_family(conn, use.family_id)
            log.warning("refresh_token_reused", user_id=str(use.user_id))
        user = await users.user_by_id(conn, use.user_id) if use is not None else None
    if use is None or use.outcome != "ok" or user is None:
        raise Unauthorized("The refresh token is invalid or expired.", code="invalid_refresh_token")
    return JSONResponse(await _token_pair(state, user, family_id=use.family_id))


async def logout(request: Request) -> Response:
    state = app_state(request)
    body = await parse_json_body(request, RefreshIn)
    async with state["pool"].acquire() as conn:
        family_id = await users.family_of(conn, refresh_token_hash(body.refresh_token))
        if family_id is not None:
            await users.revoke_family(conn, family_id)
    # 204 either way: logging out twice, or with an unknown token, is not an error.
    return Response(status_code=204)


ROUTES = [
    Route("/v1/auth/register", register, methods=["POST"]),
    Route("/v1/auth/login", login, methods=["POST"]),
    Route("/v1/auth/refresh", refresh, methods=["POST"]),
    Route("/v1/auth/logout", logout, methods=["POST"]),
]
