"""The athlete's data: check-ins, activities, plan and goal."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pacer_common.auth import require_account, require_user
from pacer_common.errors import NotFound
from pacer_common.web.json_body import parse_json_body, parse_query, path_uuid
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


async def list_checkins(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    query = parse_query(request, CheckinListQuery)
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
        items = await athlete.list_checkins(
            conn, principal.user_id, limit=query.limit, before=query.before
        )
    return JSONResponse({"items": items})


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
    async with state["pool"].acquire() as conn:
        # An account deleted under a live token gets 401, as on every route, not 404.
        await require_account(conn, principal)
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
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
        deleted = await athlete.delete_activity(conn, principal.user_id, activity_id)
    if not deleted:
        raise NotFound(_NO_ACTIVITY)
    await after_data_saved(state, principal.user_id, "activity")
    return Response(status_code=204)


async def list_activities(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    query = parse_query(request, ActivityListQuery)
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
        items = await athlete.list_activities(
            conn, principal.user_id, limit=query.limit, before=query.before
        )
    return JSONResponse({"items": items})


async def put_plan(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    body = await parse_json_body(request, PlanIn)
    async with state["pool"].acquire() as conn:
        plan = await athlete.put_plan(conn, principal.user_id, body)
    # After the block: the data is committed before the worker can read it.
    await after_data_saved(state, principal.user_id, "plan")
    return JSONResponse(plan)


async def get_plan(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
        plan = await athlete.get_plan(conn, principal.user_id)
    if plan is None:
        raise NotFound("No plan yet: PUT /v1/plan to set one.")
    return JSONResponse(plan)


async def put_goal(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    body = await parse_json_body(request, GoalIn)
    async with state["pool"].acquire() as conn:
        goal = await athlete.put_goal(conn, principal.user_id, body)
    # After the block: the data is committed before the worker can read it.
    await after_data_saved(state, principal.user_id, "goal")
    return JSONResponse(goal)


async def get_goal(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
        goal = await athlete.get_goal(conn, principal.user_id)
    if goal is None:
        raise NotFound("No goal yet: PUT /v1/goal to set one.")
    return JSONResponse(goal)


ROUTES = [
    Route("/v1/checkins", post_checkin, methods=["POST"]),
    Route("/v1/checkins", list_checkins, methods=["GET"]),
    Route("/v1/activities", post_activity, methods=["POST"]),
    Route("/v1/activities", list_activities, methods=["GET"]),
    Route("/v1/activities/{activity_id}", put_activity, methods=["PUT"]),
    Route("/v1/activities/{activity_id}", delete_activity, methods=["DELETE"]),
    Route("/v1/plan", put_plan, methods=["PUT"]),
    Route("/v1/plan", get_plan, methods=["GET"]),
    Route("/v1/goal", put_goal, methods=["PUT"]),
    Route("/v1/goal", get_goal, methods=["GET"]),
]
