"""Where job timeouts and failures go: the athlete's notification stream and, when
ALERT_WEBHOOK_URL is set, a webhook POST that never blocks the caller."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import redis.asyncio as redis

from pacer_briefing_worker.metrics import ALERTS
from pacer_common.jobs import events
from pacer_common.jobs.ledger import Job
from pacer_common.llm.background import BackgroundTasks
from pacer_common.logs import get_logger

log = get_logger(__name__)


class Alerts:
    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        webhook_url: str | None,
        webhook_timeout_s: float,
        repeat_s: float,
    ) -> None:
        self._redis = redis_client
        self._webhook_url = webhook_url
        self._repeat_s = repeat_s
        self._http = httpx.AsyncClient(timeout=webhook_timeout_s)
        self._background = BackgroundTasks()
        self._last_long_running_alert = -float("inf")

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
                await events.publish(self._redis, user_id, event)
        except Exception as error:  # Redis down: the ledger still has it all.
            log.warning("job_event_not_published", job_id=str(job.id), error=str(error))
        self.webhook(f"Pacer job {event['type']}: {job.kind} {job.id}: {job.error}", event)

    def too_many_long_running(self, long_running: int, threshold: int, warning_s: float) -> None:
        now = time.monotonic()
        if now - self._last_long_running_alert < self._repeat_s:
            return
        self._last_long_running_alert = now
        log.warning("jobs_long_running", count=long_running, threshold=threshold)
        self.webhook(
            f"Pacer: {long_running} jobs running longer than {warning_s:g} s (threshold {threshold})",
            {"type": "jobs.long_running", "count": long_running, "threshold": threshold},
        )

    def webhook(self, text: str, details: dict[str, Any]) -> None:
        """Fire and forget, bounded by the webhook timeout."""
        if self._webhook_url is None:
            return
        self._background.spawn(self._post({"text": text, **details}), name="alert-webhook")

    async def _post(self, body: dict[str, Any]) -> None:
        assert self._webhook_url is not None
        try:
            response = await self._http.post(self._webhook_url, json=body)
            response.raise_for_status()
            ALERTS.labels("sent").inc()
        except httpx.HTTPError as error:
            ALERTS.labels("failed").inc()
            # The URL may hold a token: log only the kind of failure.
            log.warning("alert_webhook_failed", error=type(error).__name__)
