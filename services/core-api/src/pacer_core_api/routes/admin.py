"""Admin operations (admin role only): the jobs ledger (health, stuck jobs,
retry) and the coaching topics (list, read, change)."""

from __future__ import annotations

import datetime as dt
import re
from uuid import UUID

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_common.auth import require_admin
from pacer_common.errors import Conflict, NotFound, ValidationFailed
from pacer_common.jobs import ledger, queue
from pacer_common.logs import get_logger
from pacer_common.web.json_body import parse_json_body, path_uuid, validation_failed
from pacer_common.web.signed_in import account_connection
from pacer_core_api.schemas import TopicUpdateIn
from pacer_core_api.state import app_state
from pacer_core_api.store import topics

log = get_logger(__name__)


async def jobs_health(request: Request) -> JSONResponse:
    principal = require_admin(request)
    state = app_state(request)
    settings = state["settings"]
    async with account_connection(request, principal) as conn:
        health = await ledger.health(conn, settings)
    return JSONResponse(
        {
            "status": health.status,
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
            "metrics": {
                "counts": health.counts,
                "counts_window_hours": ledger.HEALTH_WINDOW.total_seconds() / 3600,
                "processing": health.processing,
                "long_running": health.long_running,
                "stuck": health.stuck,
            },
            "thresholds": {
                "job_timeout_seconds": settings.JOB_TIMEOUT_SECONDS,
                "heartbeat_timeout_seconds": settings.JOB_HEARTBEAT_TIMEOUT_SECONDS,
                "warning_seconds": settings.JOB_WARNING_SECONDS,
                "max_long_running": settings.MAX_LONG_RUNNING_JOBS,
                "max_attempts": settings.JOB_MAX_ATTEMPTS,
            },
        }
    )


async def jobs_stuck(request: Request) -> JSONResponse:
    principal = require_admin(request)
    state = app_state(request)
    async with account_connection(request, principal) as conn:
        jobs = await ledger.stuck(conn, state["settings"])
    now = dt.datetime.now(dt.UTC)
    return JSONResponse({"jobs": [job.as_json(now) for job in jobs], "count": len(jobs)})


async def retry_job(request: Request) -> JSONResponse:
    principal = require_admin(request)
    state = app_state(request)
    job_id = path_uuid(request, "job_id", "job id")
    async with account_connection(request, principal) as conn:
        try:
            job = await ledger.retry(conn, job_id)
        except ledger.NotRetryable:
            raise Conflict(
                "Only a failed or timed-out job can be retried.", code="job_not_retryable"
            ) from None
        except ledger.SubjectBusy:
            raise Conflict(
                "Another job for the same subject is already queued or running.",
                code="job_subject_busy",
            ) from None
    if job is None:
        raise NotFound("No such job.")
    log.info("job_retry_requested", job_id=str(job.id), admin=str(principal.user_id))
    try:
        await queue.enqueue_attempt(state["arq"], state["settings"], job, 0.0)
        enqueued = True
    except (RedisError, OSError):
        # Queued in the ledger: the worker enqueues it when it reconnects, or
        # the reaper once Redis answers.
        log.warning("job_retry_not_enqueued", job_id=str(job.id), exc_info=True)
        enqueued = False
    body = {"job": job.as_json(dt.datetime.now(dt.UTC)), "enqueued": enqueued}
    return JSONResponse(body, status_code=202)


# The slug rule of the topics table's CHECK constraint (migration 0006).
_SLUG = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _topic_key(request: Request) -> UUID | str:
    """The path's topic: its id, or its slug (``onboarding``), which is what an
    operator types. Neither shape is a 422; a well-formed unknown one, a 404."""
    raw = request.path_params["topic_id"]
    try:
        return UUID(raw)
    except ValueError:
        pass
    if _SLUG.fullmatch(raw):
        return str(raw)
    raise ValidationFailed("topic id: must be a topic's UUID or its slug")


async def list_topics(request: Request) -> JSONResponse:
    principal = require_admin(request)
    async with account_connection(request, principal) as conn:
        items = await topics.list_topics(conn)
    return JSONResponse({"items": items})


async def get_topic(request: Request) -> JSONResponse:
    principal = require_admin(request)
    key = _topic_key(request)
    async with account_connection(request, principal) as conn:
        topic = await topics.get_topic(conn, key)
    if topic is None:
        raise NotFound("No such topic.")
    return JSONResponse(topic)


async def put_topic(request: Request) -> JSONResponse:
    """A partial update: the fields given change; conversation_config's keys
    are merged over the stored ones, then validated whole."""
    principal = require_admin(request)
    key = _topic_key(request)
    body = await parse_json_body(request, TopicUpdateIn)
    change = topics.TopicChange(
        title=body.title,
        system_prompt=body.system_prompt,
        config_patch={}
        if body.conversation_config is None
        else body.conversation_config.model_dump(exclude_unset=True),
    )
    async with account_connection(request, principal) as conn:
        try:
            topic = await topics.update_topic(conn, key, change)
        except topics.InvalidConfig as invalid:
            raise validation_failed(invalid.error, prefix="conversation_config") from None
    if topic is None:
        raise NotFound("No such topic.")
    log.info(
        "topic_updated",
        topic=topic["slug"],
        fields=sorted(body.model_fields_set),
        config=topic["conversation_config"],
        admin=str(principal.user_id),
    )
    return JSONResponse(topic)


ROUTES = [
    Route("/v1/admin/jobs/health", jobs_health, methods=["GET"]),
    Route("/v1/admin/jobs/stuck", jobs_stuck, methods=["GET"]),
    Route("/v1/admin/jobs/{job_id}/retry", retry_job, methods=["POST"]),
    Route("/v1/admin/topics", list_topics, methods=["GET"]),
    Route("/v1/admin/topics/{topic_id}", get_topic, methods=["GET"]),
    Route("/v1/admin/topics/{topic_id}", put_topic, methods=["PUT"]),
]
