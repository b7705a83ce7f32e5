"""Register, log in, refresh, log out."""

from __future__ import annotations

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
from pacer_core_api.security import refresh_cookie
from pacer_core_api.security.tokens import new_refresh_token, refresh_token_hash
from pacer_core_api.state import AppState, app_state
from pacer_core_api.store import users
from pacer_core_api.store.users import User

log = get_logger(__name__)


def _token_pair(state: AppState, user: User, refresh_token: str) -> dict[str, Any]:
    return {
        "access_token": state["token_issuer"].issue(user.principal),
        "refresh_token": refresh_token,
        "token_type": "bearer",
        "expires_in": state["token_issuer"].ttl_s,
    }


def _secure_cookies(state: AppState) -> bool:
    # Production is HTTPS only; dev and test run plain HTTP on loopback, where a
    # browser would never send a Secure cookie back.
    return state["settings"].ENVIRONMENT == "production"


def _tokens_response(
    request: Request, state: AppState, user: User, refresh_token: str
) -> JSONResponse:
    """The token pair in the body, or, in cookie mode, the refresh token in its cookie only."""
    pair = _token_pair(state, user, refresh_token)
    if not refresh_cookie.wants_cookie(request):
        return JSONResponse(pair)
    del pair["refresh_token"]
    response = JSONResponse(pair)
    refresh_cookie.set_cookie(
        response,
        refresh_token,
        max_age_s=state["settings"].REFRESH_TOKEN_TTL_SECONDS,
        secure=_secure_cookies(state),
    )
    return response


async def _presented_refresh_token(request: Request) -> str:
    if refresh_cookie.wants_cookie(request):
        return refresh_cookie.token_from_cookie(request)
    return (await parse_json_body(request, RefreshIn)).refresh_token


async def register(request: Request) -> JSONResponse:
    state = app_state(request)
    body = await parse_json_body(request, RegisterIn)
    # Counted before the hash: a refused sign-up costs one Redis call.
    await state["registration_throttle"].admit(
        client_ip(request, state["settings"].TRUSTED_PROXIES)
    )
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
    # The attempt is counted before the password is checked: however many
    # arrive at once, only as many as the limits allow are ever checked.
    async with state["login_throttle"].attempt(body.email, ip) as attempt:
        async with state["pool"].acquire() as conn:
            user = await users.user_by_email(conn, body.email)
        hashed = user.password_hash if user is not None else None
        # Always checked, before `user is None` is looked at: an unknown email
        # costs the same hash (against a dummy) as a wrong password, so the
        # answer's timing does not tell which emails have accounts.
        password_ok = await state["passwords"].verify(hashed, body.password)
        if user is None or not password_ok:
            attempt.failed()
            raise Unauthorized("Wrong email or password.", code="invalid_credentials")
        attempt.succeeded()
    refresh_token = new_refresh_token()
    async with state["pool"].acquire() as conn:
        await users.start_session(
            conn,
            user_id=user.id,
            token_hash=refresh_token_hash(refresh_token),
            ttl_s=state["settings"].REFRESH_TOKEN_TTL_SECONDS,
        )
    return _tokens_response(request, state, user, refresh_token)


async def refresh(request: Request) -> JSONResponse:
    state = app_state(request)
    presented = await _presented_refresh_token(request)
    next_token = new_refresh_token()
    async with state["pool"].acquire() as conn, conn.transaction():
        rotation = await users.rotate_refresh_token(
            conn,
            token_hash=refresh_token_hash(presented),
            new_token_hash=refresh_token_hash(next_token),
            ttl_s=state["settings"].REFRESH_TOKEN_TTL_SECONDS,
        )
    if rotation.outcome == "reused":
        # A rotated-out token came back: someone holds a copy. The session is over.
        log.warning("refresh_token_reused", user_id=str(rotation.user_id))
    if rotation.user is None:
        raise Unauthorized("The refresh token is invalid or expired.", code="invalid_refresh_token")
    return _tokens_response(request, state, rotation.user, next_token)


async def logout(request: Request) -> Response:
    state = app_state(request)
    response = Response(status_code=204)
    if refresh_cookie.wants_cookie(request):
        # No cookie: nothing to end, and the browser forgets it either way.
        presented = request.cookies.get(refresh_cookie.COOKIE_NAME, "")
        refresh_cookie.clear_cookie(response, secure=_secure_cookies(state))
    else:
        presented = (await parse_json_body(request, RefreshIn)).refresh_token
    if presented and len(presented) <= refresh_cookie.MAX_COOKIE_CHARS:
        async with state["pool"].acquire() as conn, conn.transaction():
            await users.end_session(conn, refresh_token_hash(presented))
    # 204 either way: logging out twice, or with an unknown token, is not an error.
    return response


ROUTES = [
    Route("/v1/auth/register", register, methods=["POST"]),
    Route("/v1/auth/login", login, methods=["POST"]),
    Route("/v1/auth/refresh", refresh, methods=["POST"]),
    Route("/v1/auth/logout", logout, methods=["POST"]),
]
