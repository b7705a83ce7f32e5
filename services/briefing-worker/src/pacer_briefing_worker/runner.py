"""Runs one attempt of a ledger job: claim, heartbeat while working, record the outcome.

Whatever way the attempt ends (done, an error, the LLM's deadline, arq's job
timeout, the worker shutting down, the reaper taking the job), the ledger row
says so; only a killed process leaves it to the reaper.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from pacer_briefing_worker.metrics import JOB_DURATION, JOBS_FINISHED, JOBS_STARTED
from pacer_briefing_worker.outcomes import Outcomes
from pacer_common.jobs import ledger
from pacer_common.jobs.ledger import Job
from pacer_common.jobs.settings import JobSettings
from pacer_common.llm import Deadline, LLMError, LLMTimeout
from pacer_common.logs import get_logger

log = get_logger(__name__)

Work = Callable[[Job, Deadline], Coroutine[Any, Any, dict[str, Any]]]
# How long recording an outcome may take once the attempt was cancelled.
SETTLE_TIMEOUT_S = 5.0


class PermanentJobError(Exception):
    """Retrying cannot help (e.g. the athlete was deleted)."""


class RetryableJobError(Exception):
    """The attempt failed in an expected way that another attempt may not repeat
    (e.g. the LLM's output did not validate): retried, and logged without a traceback."""


def _llm_error(error: LLMError) -> str:
    """For operators: what failed and where, without the message meant for users."""
    model = f" {error.model.code}" if error.model is not None else ""
    return f"LLM {error.code}{model}: {error.detail or error.message}"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(eq=False)
class JobRunner:
    pool: asyncpg.Pool
    settings: JobSettings
    outcomes: Outcomes
    work_deadline_s: float = field(kw_only=True)
    worker: str = field(init=False, default_factory=worker_name)
    # Set when the worker is stopping: a cancellation then means shutdown,
    # not arq's job timeout.
    stopping: bool = field(init=False, default=False)

    async def run(self, job_id: UUID, work: Work) -> str:
        """Returns how the attempt ended (arq logs it)."""
        async with self.pool.acquire() as conn:
            job = await ledger.claim(
                conn, job_id, worker=self.worker, timeout_s=self.settings.JOB_TIMEOUT_SECONDS
            )
        if job is None:
            # Already claimed by another run of the same attempt, or settled.
            return "not_claimed"
        JOBS_STARTED.labels(job.kind).inc()
        started_s = time.monotonic()
        deadline = Deadline.after(self.work_deadline_s)
        work_task = asyncio.create_task(work(job, deadline), name=f"job-{job.id}")
        heartbeat_task = asyncio.create_task(self._heartbeat(job), name=f"heartbeat-{job.id}")
        try:
            await asyncio.wait({work_task, heartbeat_task}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # arq's job timeout or the worker shutting down.
            heartbeat_task.cancel()
            work_task.cancel()
            timed_out = not self.stopping
            error = (
                f"timed out: no outcome within the {self.settings.JOB_TIMEOUT_SECONDS:g} s job timeout"
                if timed_out
                else "interrupted: the worker shut down"
            )
            await asyncio.shield(
                self._settle_failure(
                    job, started_s, timed_out=timed_out, retryable=True, error=error
                )
            )
            raise
        heartbeat_task.cancel()
        if not work_task.done():
            # The heartbeat found the attempt no longer ours: the reaper took it.
            work_task.cancel()
            with contextlib.suppress(BaseException):
                await work_task
            self._finished(job, started_s, "lost")
            return "lost"
        return await self._settle(job, started_s, work_task)

    async def _settle(
        self, job: Job, started_s: float, work_task: asyncio.Task[dict[str, Any]]
    ) -> str:
        error = work_task.exception()
        if error is None:
            async with self.pool.acquire() as conn:
                settled = await ledger.succeed(conn, job.id, job.attempts, work_task.result())
            if settled is None:
                self._finished(job, started_s, "lost")
                return "lost"
            self._finished(job, started_s, "succeeded")
            await self.outcomes.after_success(settled)
            return "succeeded"
        if isinstance(error, LLMTimeout):
            return await self._settle_failure(
                job,
                started_s,
                timed_out=True,
                retryable=True,
                error=f"timed out: {_llm_error(error)}",
            )
        if isinstance(error, LLMError):
            return await self._settle_failure(
                job, started_s, timed_out=False, retryable=error.retryable, error=_llm_error(error)
            )
        if isinstance(error, PermanentJobError | RetryableJobError):
            return await self._settle_failure(
                job,
                started_s,
                timed_out=False,
                retryable=isinstance(error, RetryableJobError),
                error=str(error)[:500],
            )
        log.error("job_crashed", job_id=str(job.id), kind=job.kind, exc_info=error)
        return await self._settle_failure(
            job,
            started_s,
            timed_out=False,
            retryable=True,
            error=f"{type(error).__name__}: {error}"[:500],
        )

    async def _settle_failure(
        self, job: Job, started_s: float, *, timed_out: bool, retryable: bool, error: str
    ) -> str:
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT_S), self.pool.acquire() as conn:
                settled = await ledger.settle_failure(
                    conn,
                    job.id,
                    job.attempts,
                    timed_out=timed_out,
                    retryable=retryable,
                    error=error,
                    settings=self.settings,
                )
        except (TimeoutError, OSError, asyncpg.PostgresError) as failure:
            # The row stays 'processing' and the reaper settles it after its deadline.
            log.error("job_outcome_not_recorded", job_id=str(job.id), error=str(failure))
            self._finished(job, started_s, "unrecorded")
            return "unrecorded"
        if settled is None:
            self._finished(job, started_s, "lost")
            return "lost"
        outcome = "retry" if settled.status == "queued" else settled.status
        self._finished(job, started_s, outcome)
        await self.outcomes.after_failure(settled)
        return outcome

    async def _heartbeat(self, job: Job) -> None:
        """Returns only when the attempt is no longer ours."""
        while True:
            await asyncio.sleep(self.settings.JOB_HEARTBEAT_SECONDS)
            try:
                async with self.pool.acquire() as conn:
                    if not await ledger.heartbeat(conn, job.id, job.attempts):
                        log.warning("job_lost", job_id=str(job.id), kind=job.kind)
                        return
            except Exception as error:
                # Postgres unreachable for a moment, or any other failure of the
                # touch itself: keep working; only a False answer means the job
                # is gone, and the reaper decides if silence lasts too long.
                log.warning("job_heartbeat_failed", job_id=str(job.id), error=str(error))

    @staticmethod
    def _finished(job: Job, started_s: float, outcome: str) -> None:
        JOBS_FINISHED.labels(job.kind, outcome).inc()
        JOB_DURATION.labels(job.kind, outcome).observe(time.monotonic() - started_s)
        log.info(
            "job_finished", job_id=str(job.id), kind=job.kind, attempt=job.attempts, outcome=outcome
        )
