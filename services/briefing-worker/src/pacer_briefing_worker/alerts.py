"""Where job timeouts and failures go: the athlete's notification stream and, when
ALERT_WEBHOOK_URL is set, a webhook POST that never blocks the caller."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as redis

from pacer_briefing_worker.metrics import ALERTS
from pacer_common.jobs import events
from pacer_common.jobs.ledger import Job
from pacer_common.llm.background import BackgroundTasks
from pacer_common.logs import get_logger

log = get_logger(__name__)


@dataclass(eq=False)
class Alerts:
    redis: redis.Redis
    webhook_url: str | None = field(kw_only=True)
    webhook_timeout_s: float = field(kw_only=True)
    # The long-running-jobs alert is sent at most once in this many seconds.
    repeat_s: float = field(kw_only=True)
    _http: httpx.AsyncClient = field(init=False)
    _background: BackgroundTasks = field(init=False, default_factory=BackgroundTasks)
    _last_long_running_alert: float = field(init=False, default=-float("inf"))

    def __post_init__(self) -> None:
        self._http = httpx.AsyncClient(timeout=self.webhook_timeout_s)

    async def aclose(self) -> None:
        await self._background.drain(timeout_s=2.0)
        await self._http.aclose()

    async def job_ended_badly(self, job: Job, user_id: str | None) -> None:
        """A job timed out or failed: tell its user's notification stream (none:
        no one to tell) and the webhook."""
        event = events.job_event(job, dt.datetime.now(dt.UTC))
        log.warning(
            "job_" + event["type"].removeprefix("job."),
            job_id=str(job.id),
            kind=job.kind,
            subject=job.subject,
            attempts=job.attempts,
            error=job.error,
        )
        try:
            if user_id is not None:
                await events.publish(self.redis, user_id, event)
        except Exception as error:  # Redis down: the ledger still has it all.
            log.warning("job_event_not_published", job_id=str(job.id), error=str(error))
        self.webhook(f"Pacer job {event['type']}: {job.kind} {job.id}: {job.error}", event)

    def too_many_long_running(self, long_running: int, threshold: int, warning_s: float) -> None:
        now = time.monotonic()
        if now - self._last_long_running_alert < self.repeat_s:
            return
        self._last_long_running_alert = now
        log.warning("jobs_long_running", count=long_running, threshold=threshold)
        self.webhook(
            f"Pacer: {long_running} jobs running longer than {warning_s:g} s (threshold {threshold})",
            {"type": "jobs.long_running", "count": long_running, "threshold": threshold},
        )

    def webhook(self, text: str, details: dict[str, Any]) -> None:
        """Fire and forget, bounded by the webhook timeout."""
        if self.webhook_url is None:
            return
        self._background.spawn(self._post({"text": text, **details}), name="alert-webhook")

    async def _post(self, body: dict[str, Any]) -> None:
        assert self.webhook_url is not None
        try:
            response = await self._http.post(self.webhook_url, json=body)
            response.raise_for_status()
            ALERTS.labels("sent").inc()
        except httpx.HTTPError as error:
            ALERTS.labels("failed").inc()
            # The URL may hold a token: log only the kind of failure.
            log.warning("alert_webhook_failed", error=type(error).__name__)
