"""The athlete's data: check-ins, activities, plan and goal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal
from uuid import UUID

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pacer_common.auth import require_user
from pacer_common.errors import NotFound
from pacer_common.web.json_body import parse_json_body, path_uuid
from pacer_common.web.keyset_cursor import encoder
from pacer_common.web.signed_in import account_connection, paged_list
from pacer_core_api.briefing.refresh import after_data_saved
from pacer_core_api.schemas import (
    ActivityIn,
    ActivityListQuery,
    CheckinIn,
    CheckinListQuery,
    GoalIn,
    PlanIn,
)
from pacer_core_api.state import app_state
from pacer_core_api.store import athlete


async def post_checkin(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    body = await parse_json_body(request, CheckinIn)
    async with state["pool"].acquire() as conn:
        checkin, created = await athlete.upsert_checkin(conn, principal.user_id, body)
    # After the block: the data is committed before the worker can read it.
    await after_data_saved(state, principal.user_id, "checkin")
    return JSONResponse(checkin, status_code=201 if created else 200)


list_checkins = paged_list(CheckinListQuery, athlete.list_checkins)


async def post_activity(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    body = await parse_json_body(request, ActivityIn)
    async with state["pool"].acquire() as conn:
        activity = await athlete.insert_activity(conn, principal.user_id, body)
    # After the block: the data is committed before the worker can read it.
    await after_data_saved(state, principal.user_id, "activity")
    return JSONResponse(activity, status_code=201)


_NO_ACTIVITY = "No such activity."


async def put_activity(request: Request) -> JSONResponse:
    """Replace an activity, validated as a new one; a refresh follows as after a save."""
    state = app_state(request)
    principal = require_user(request)
    activity_id = path_uuid(request, "activity_id", "activity_id")
    body = await parse_json_body(request, ActivityIn)
    # An account deleted under a live token gets 401, as on every route, not 404.
    async with account_connection(request, principal) as conn:
        activity = await athlete.update_activity(conn, principal.user_id, activity_id, body)
    # Someone else's activity is "not found" too: its existence is not theirs to learn.
    if activity is None:
        raise NotFound(_NO_ACTIVITY)
    await after_data_saved(state, principal.user_id, "activity")
    return JSONResponse(activity)


async def delete_activity(request: Request) -> Response:
    state = app_state(request)
    principal = require_user(request)
    activity_id = path_uuid(request, "activity_id", "activity_id")
    async with account_connection(request, principal) as conn:
        deleted = await athlete.delete_activity(conn, principal.user_id, activity_id)
    if not deleted:
        raise NotFound(_NO_ACTIVITY)
    await after_data_saved(state, principal.user_id, "activity")
    return Response(status_code=204)


list_activities = paged_list(ActivityListQuery, athlete.list_activities, encoder("started_at"))


def _one_document(
    path: str,
    kind: Literal["plan", "goal"],
    body_type: type[PlanIn] | type[GoalIn],
    put: Callable[[asyncpg.Connection, UUID, Any], Awaitable[dict[str, Any]]],
    get: Callable[[asyncpg.Connection, UUID], Awaitable[dict[str, Any] | None]],
) -> list[Route]:
    """``PUT`` and ``GET`` of a document the athlete has at most one of (the plan, the goal):
    a save refreshes the briefing as a check-in does; a ``GET`` before any save is 404."""

    async def put_document(request: Request) -> JSONResponse:
        state = app_state(request)
        principal = require_user(request)
        body = await parse_json_body(request, body_type)
        async with state["pool"].acquire() as conn:
            saved = await put(conn, principal.user_id, body)
        # After the block: the data is committed before the worker can read it.
        await after_data_saved(state, principal.user_id, kind)
        return JSONResponse(saved)

    async def get_document(request: Request) -> JSONResponse:
        principal = require_user(request)
        async with account_connection(request, principal) as conn:
            found = await get(conn, principal.user_id)
        if found is None:
            raise NotFound(f"No {kind} yet: PUT {path} to set one.")
        return JSONResponse(found)

    put_document.__name__ = f"put_{kind}"
    get_document.__name__ = f"get_{kind}"
    return [
        Route(path, put_document, methods=["PUT"]),
        Route(path, get_document, methods=["GET"]),
    ]


ROUTES = [
    Route("/v1/checkins", post_checkin, methods=["POST"]),
    Route("/v1/checkins", list_checkins, methods=["GET"]),
    Route("/v1/activities", post_activity, methods=["POST"]),
    Route("/v1/activities", list_activities, methods=["GET"]),
    Route("/v1/activities/{activity_id}", put_activity, methods=["PUT"]),
    Route("/v1/activities/{activity_id}", delete_activity, methods=["DELETE"]),
    *_one_document("/v1/plan", "plan", PlanIn, athlete.put_plan, athlete.get_plan),
    *_one_document("/v1/goal", "goal", GoalIn, athlete.put_goal, athlete.get_goal),
]
