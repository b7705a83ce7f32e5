"""The athlete's training load over recent weeks (Home's chart)."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_common.auth import require_user
from pacer_common.web.json_body import parse_query
from pacer_common.web.signed_in import account_connection
from pacer_core_api.schemas import WeeklyStatsQuery
from pacer_core_api.store.weekly import weekly_load


async def weekly(request: Request) -> JSONResponse:
    principal = require_user(request)
    query = parse_query(request, WeeklyStatsQuery)
    async with account_connection(request, principal) as conn:
        weeks = await weekly_load(
            conn, principal.user_id, weeks=query.weeks, now=dt.datetime.now(dt.UTC)
        )
    return JSONResponse({"weeks": weeks})


ROUTES = [Route("/v1/stats/weekly", weekly, methods=["GET"])]
