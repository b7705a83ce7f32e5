"""The briefing worker's settings: one typed object, read once from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, HttpUrl, model_validator

from pacer_common import redis_names
from pacer_common.jobs.settings import JobSettings
from pacer_common.llm import MODEL_REGISTRY, LLMSettings
from pacer_common.settings import Port, ServiceSettings, ShedLoopLagSamples, ShedLoopLagSeconds


class ReaperSettings(JobSettings):
    """What settling jobs needs (the reaper, outcomes, alerts): shared by the
    worker and ``pacer-jobs``, which settles jobs by hand without an LLM."""

    REAPER_INTERVAL_SECONDS: float = Field(default=60.0, gt=0, le=3600)
    # The reaper also settles coach replies still 'streaming' after this long
    # (their coach was killed): well past COACH_STREAM_TIMEOUT_SECONDS plus its drain.
    ABANDONED_REPLY_SECONDS: float = Field(default=600.0, gt=0, le=86_400)
    # Sooner, a 'streaming' reply whose producer's heartbeat is gone is settled
    # from its log in Redis (pacer_common.reply_log), with the text its client saw.
    ORPHAN_REPLY_SECONDS: float = Field(default=30.0, gt=0, le=86_400)
    # The coach's setting, read here too: a log the reaper ends (a reply whose coach
    # died before its first token) is kept as long as one its coach ended.
    REPLY_LOG_TTL_SECONDS: int = Field(
        default=redis_names.DEFAULT_REPLY_LOG_TTL_SECONDS, ge=10, le=86_400
    )
    # Job timeouts and failures, and "too many long-running jobs", are POSTed
    # here as JSON (a Slack-compatible {"text": ...} plus details).
    ALERT_WEBHOOK_URL: HttpUrl | None = None
    ALERT_WEBHOOK_TIMEOUT_SECONDS: float = Field(default=3.0, gt=0, le=30)
    # The long-running alert repeats at most this often.
    ALERT_REPEAT_SECONDS: float = Field(default=900.0, ge=0, le=86_400)


class BriefingWorkerSettings(ServiceSettings, LLMSettings, ReaperSettings):
    # The worker verifies no access tokens.
    JWT_PUBLIC_KEY_FILE: Path | None = None  # type: ignore[assignment]

    # /health and /metrics, internal only: the proxy never routes here.
    BRIEFING_WORKER_HOST: str = "127.0.0.1"
    BRIEFING_WORKER_PORT: Port = 9103
    # Load shedding on that port: /health and /metrics are never shed, anything
    # else is while the loop stays late (the same rule as the web services').
    BRIEFING_WORKER_SHED_LOOP_LAG_SECONDS: ShedLoopLagSeconds = 0.25
    BRIEFING_WORKER_SHED_LOOP_LAG_SAMPLES: ShedLoopLagSamples = 4

    # A cheap model: a briefing is a few sentences, refreshed often.
    BRIEFING_MODEL: str = Field(default="CLAUDE_HAIKU", validate_default=True)
    BRIEFING_MAX_TOKENS: int = Field(default=300, ge=16, le=4000)
    # A coaching session's extraction: one JSON object (a few lists of short items).
    EXTRACTION_MAX_TOKENS: int = Field(default=1000, ge=64, le=8000)
    # Jobs one worker runs at once: the bound on its concurrent LLM calls, so a
    # cron run over every athlete waits in the queue instead of flooding the LLM.
    WORKER_MAX_JOBS: int = Field(default=4, ge=1, le=100)
    # arq's poll of its queue when idle: the latency floor of every job.
    WORKER_POLL_SECONDS: float = Field(default=0.5, gt=0, le=10)

    # Periodic refresh of athletes who logged anything in the last N days.
    BRIEFING_REFRESH_EVERY_MINUTES: int = Field(default=15, ge=1, le=60)
    BRIEFING_ACTIVE_DAYS: int = Field(default=7, ge=1, le=365)

    # On SIGTERM, running jobs get this long to finish before they are
    # abandoned (their ledger rows are settled for a retry).
    WORKER_SHUTDOWN_GRACE_SECONDS: float = Field(default=3.0, ge=0, le=120)

    @model_validator(mode="after")
    def _briefing_model_known(self) -> BriefingWorkerSettings:
        spec = MODEL_REGISTRY.get(self.BRIEFING_MODEL)
        if spec is None:
            raise ValueError(
                f"BRIEFING_MODEL: unknown model code {self.BRIEFING_MODEL!r} "
                f"(one of {', '.join(sorted(MODEL_REGISTRY))})"
            )
        if spec.provider not in self.configured_providers():
            raise ValueError(f"BRIEFING_MODEL: {spec.provider} is not configured")
        if 60 % self.BRIEFING_REFRESH_EVERY_MINUTES:
            raise ValueError("BRIEFING_REFRESH_EVERY_MINUTES must divide 60 (a cron schedule)")
        return self

    @property
    def llm_deadline_s(self) -> float:
        """The LLM's share of the job deadline: the rest records the outcome."""
        return max(self.JOB_TIMEOUT_SECONDS - min(2.0, self.JOB_TIMEOUT_SECONDS * 0.1), 0.1)
