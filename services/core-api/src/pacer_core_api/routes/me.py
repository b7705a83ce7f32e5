"""The signed-in user's profile."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_common.auth import require_user
from pacer_common.errors import AccountGone
from pacer_core_api.state import app_state
from pacer_core_api.store import users


async def me(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    async with state["pool"].acquire() as conn:
        user = await users.user_by_id(conn, principal.user_id)
    if user is None:
        raise AccountGone()
    return JSONResponse(user.public())


ROUTES = [Route("/v1/me", me, methods=["GET"])]
