"""The coach's proposals: the athlete lists them, applies one or dismisses it.

Applying saves the change through the athlete's own save path (the same
validation, the same SQL, the same briefing refresh as core-api's routes:
:mod:`pacer_common.athlete_schemas`, :mod:`pacer_common.tables.athlete_data`,
:func:`pacer_common.jobs.queue.refresh_after_save`). Twice applied is once
saved, and both answers are the same proposal (:mod:`pacer_coach.store.proposals`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_coach.schemas import ProposalListQuery
from pacer_coach.state import app_state
from pacer_coach.store import proposals
from pacer_common.auth import Principal, require_account, require_user
from pacer_common.jobs.queue import refresh_after_save
from pacer_common.web.json_body import parse_query, path_uuid

_T = TypeVar("_T")


async def list_proposals(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    query = parse_query(request, ProposalListQuery)
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
        items = await proposals.list_proposals(conn, principal.user_id, query.status, query.limit)
    return JSONResponse({"items": items})


async def apply_proposal(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    proposal, saved = await _decide(request, principal, proposals.apply)
    if saved:
        # After the commit, as after the athlete's own save: the worker reads saved data.
        jobs = state["replies"].jobs
        await refresh_after_save(
            state["pool"], jobs.arq, jobs.settings, principal.user_id, reason=proposal["kind"]
        )
    return JSONResponse(proposal)


async def dismiss_proposal(request: Request) -> JSONResponse:
    return JSONResponse(await _decide(request, require_user(request), proposals.dismiss))


async def _decide(
    request: Request,
    principal: Principal,
    decision: Callable[[asyncpg.Connection, UUID, UUID], Awaitable[_T]],
) -> _T:
    """The athlete's ``decision`` on the proposal the path names, in one transaction."""
    proposal_id = path_uuid(request, "proposal_id", "proposal id")
    async with app_state(request)["pool"].acquire() as conn:
        await require_account(conn, principal)
        async with conn.transaction():
            return await decision(conn, principal.user_id, proposal_id)


ROUTES = [
    Route("/v1/coach/proposals", list_proposals, methods=["GET"]),
    Route("/v1/coach/proposals/{proposal_id}/apply", apply_proposal, methods=["POST"]),
    Route("/v1/coach/proposals/{proposal_id}/dismiss", dismiss_proposal, methods=["POST"]),
]
