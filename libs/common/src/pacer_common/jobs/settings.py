"""Job and briefing thresholds: a settings mixin for core-api and the briefing worker,
so that the worker's deadlines and the admin endpoints' idea of "stuck" agree."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

from pacer_common import redis_names
from pacer_common.settings import SETTINGS_CONFIG


class JobSettings(BaseSettings):
    model_config = SETTINGS_CONFIG

    # arq's Redis queue; a different name per deployment sharing one Redis.
    JOB_QUEUE_NAME: str = Field(default=redis_names.DEFAULT_JOB_QUEUE_NAME, min_length=1)
    # A job's whole run, claim to outcome; also arq's job timeout.
    JOB_TIMEOUT_SECONDS: float = Field(default=60.0, gt=0, le=3600)
    JOB_MAX_ATTEMPTS: int = Field(default=3, ge=1, le=20)
    # The worker touches a running job this often; a job not touched for
    # JOB_HEARTBEAT_TIMEOUT_SECONDS is stuck (its worker died or froze).
    JOB_HEARTBEAT_SECONDS: float = Field(default=5.0, gt=0, le=600)
    JOB_HEARTBEAT_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0, le=3600)
    # Retry n (counted since the last manual retry) waits
    # JOB_RETRY_BACKOFF_SECONDS * 2^(n-1), at most the max: ledger._next_state computes it in SQL.
    JOB_RETRY_BACKOFF_SECONDS: float = Field(default=10.0, ge=0, le=3600)
    JOB_RETRY_BACKOFF_MAX_SECONDS: float = Field(default=300.0, ge=0, le=86_400)
    # Running longer than this is "long-running"; more than MAX_LONG_RUNNING_JOBS
    # of those at once is a warning (seed 002's thresholds, scaled to LLM calls).
    JOB_WARNING_SECONDS: float = Field(default=45.0, gt=0, le=86_400)
    MAX_LONG_RUNNING_JOBS: int = Field(default=3, ge=0, le=10_000)
    # A queued job that no worker claimed this long after it was due is queued
    # in arq again (its enqueue was lost, e.g. Redis was down at the time).
    JOB_QUEUED_GRACE_SECONDS: float = Field(default=120.0, gt=0, le=86_400)

    # Home: a briefing confirmed within FRESH is "fresh"; within STALE_MAX it is
    # served as "stale" and refreshed; older, home shows the rule-based text.
    BRIEFING_FRESH_SECONDS: float = Field(default=900.0, gt=0, le=86_400)
    BRIEFING_STALE_MAX_SECONDS: float = Field(default=3600.0, gt=0, le=7 * 86_400)
    # Triggers within this window collapse into one job (a burst of saves).
    BRIEFING_DEBOUNCE_SECONDS: float = Field(default=1.0, ge=0, le=300)
    # After a refresh failed for good, home asks again only after this long,
    # so a broken LLM is not hammered by every home view.
    BRIEFING_RETRY_AFTER_FAILURE_SECONDS: float = Field(default=300.0, ge=0, le=86_400)

    @model_validator(mode="after")
    def _consistent(self) -> JobSettings:
        if self.JOB_HEARTBEAT_TIMEOUT_SECONDS <= self.JOB_HEARTBEAT_SECONDS:
            raise ValueError("JOB_HEARTBEAT_TIMEOUT_SECONDS must exceed JOB_HEARTBEAT_SECONDS")
        if self.BRIEFING_STALE_MAX_SECONDS < self.BRIEFING_FRESH_SECONDS:
            raise ValueError("BRIEFING_STALE_MAX_SECONDS must not be below BRIEFING_FRESH_SECONDS")
        return self
