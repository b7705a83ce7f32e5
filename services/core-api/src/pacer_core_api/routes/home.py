"""The home screen: summary plus briefing. Never waits on an LLM."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_common.auth import require_account, require_user
from pacer_core_api.briefing.current import current_briefing
from pacer_core_api.state import app_state
from pacer_core_api.store.summary import athlete_summary


async def home(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    now = dt.datetime.now(dt.UTC)
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
        summary = await athlete_summary(conn, principal.user_id, now)
    briefing = await current_briefing(state, principal.user_id, summary, now)
    return JSONResponse({"summary": summary.as_json(), "briefing": briefing})


ROUTES = [Route("/v1/home", home, methods=["GET"])]
