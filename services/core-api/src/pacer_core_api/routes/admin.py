"""Operations on the jobs ledger (admin role only): health, stuck jobs, retry."""

from __future__ import annotations

import datetime as dt

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_common.auth import require_account, require_admin
from pacer_common.errors import Conflict, NotFound
from pacer_common.jobs import ledger, queue
from pacer_common.logs import get_logger
from pacer_common.web.json_body import path_uuid
from pacer_core_api.state import app_state

log = get_logger(__name__)


async def jobs_health(request: Request) -> JSONResponse:
    principal = require_admin(request)
    state = app_state(request)
    settings = state["settings"]
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
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
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
        jobs = await ledger.stuck(conn, state["settings"])
    now = dt.datetime.now(dt.UTC)
    return JSONResponse({"jobs": [job.as_json(now) for job in jobs], "count": len(jobs)})


async def retry_job(request: Request) -> JSONResponse:
    principal = require_admin(request)
    state = app_state(request)
    job_id = path_uuid(request, "job_id", "job id")
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
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


ROUTES = [
    Route("/v1/admin/jobs/health", jobs_health, methods=["GET"]),
    Route("/v1/admin/jobs/stuck", jobs_stuck, methods=["GET"]),
    Route("/v1/admin/jobs/{job_id}/retry", retry_job, methods=["POST"]),
]
