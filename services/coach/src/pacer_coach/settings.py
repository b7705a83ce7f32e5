"""The coach's settings: one typed object, read once from the environment."""

from __future__ import annotations

from pydantic import Field, model_validator

from pacer_common.jobs.settings import JobSettings
from pacer_common.llm import LLMSettings
from pacer_common.settings import (
    MessageLimitSettings,
    Port,
    ServiceSettings,
    ShedLoopLagSamples,
    ShedLoopLagSeconds,
)

# POST /v1/coach/sessions/{id}/complete never waits longer than this, whatever
# `Prefer: wait` asks: the request must end well under a 30 s gateway timeout.
EXTRACTION_WAIT_MAX_SECONDS = 25


# JobSettings: the coach submits extraction jobs (queue name, ledger thresholds).
# MessageLimitSettings: COACH_MESSAGE_MAX_CHARS, shared with core-api's client-config.
class CoachSettings(ServiceSettings, LLMSettings, JobSettings, MessageLimitSettings):
    COACH_HOST: str = "127.0.0.1"
    COACH_PORT: Port = 8002
    COACH_METRICS_HOST: str = "127.0.0.1"
    COACH_METRICS_PORT: Port = 9102
    COACH_BACKLOG: int = Field(default=2048, ge=16, le=65535)

    # The whole reply, first byte to `done`; the seed's hotfix value.
    COACH_STREAM_TIMEOUT_SECONDS: float = Field(default=120.0, gt=0, le=3600)
    # A comment line this often keeps idle streams open through proxies.
    SSE_PING_SECONDS: float = Field(default=15.0, gt=0, le=300)
    # Open streams per coach process: warn above, refuse new chats (503) at the cap.
    SSE_WARN_CONNECTIONS: int = Field(default=150, ge=1)
    SSE_MAX_CONNECTIONS: int = Field(default=200, ge=1)
    # Below the cap, a loop late this long for 4 readings in a row refuses new
    # requests, chats included (503 overloaded); streams already open go on.
    COACH_SHED_LOOP_LAG_SECONDS: ShedLoopLagSeconds = 0.25
    COACH_SHED_LOOP_LAG_SAMPLES: ShedLoopLagSamples = 4
    # Open streams per user per coach process: over it, 429 before quota is spent.
    SSE_MAX_STREAMS_PER_USER: int = Field(default=3, ge=1, le=1000)
    # GET /v1/coach/events (long-lived, mostly idle) has its own caps, apart from
    # the chat slots: per process (503 at the cap) and per user per process (429).
    # Each open one holds one Redis connection while it waits (routes/events.py).
    EVENTS_MAX_CONNECTIONS: int = Field(default=1000, ge=1, le=100_000)
    EVENTS_MAX_STREAMS_PER_USER: int = Field(default=5, ge=1, le=1000)
    # On SIGTERM (server.py): how long open streams get to store their reply and
    # send `error: shutdown` and `done`; then hypercorn waits up to the graceful
    # timeout for the connections left before cutting them (whole exit < 5 s).
    COACH_DRAIN_SECONDS: float = Field(default=2.0, ge=0, le=30)
    COACH_GRACEFUL_TIMEOUT_SECONDS: float = Field(default=2.0, ge=0, le=30)

    # Reply logs (chat/outbox.py): deltas coalesced into one log entry and one SSE
    # event per window; a finished reply's log is kept this long for resumes.
    REPLY_FLUSH_MS: int = Field(default=40, ge=1, le=1000)
    # ... and when a reply's tokens are sparse its window grows up to this bound
    # (chat/coalesce.py says why 150 ms); at or below REPLY_FLUSH_MS: no growing.
    REPLY_FLUSH_MAX_MS: int = Field(default=150, ge=1, le=1000)
    REPLY_LOG_TTL_SECONDS: int = Field(default=600, ge=10, le=86_400)
    # A delta entry is cut early once its text reaches this size; 1 writes one
    # entry (and one SSE event) per token, as before coalescing (make bench-coach).
    REPLY_FLUSH_BYTES: int = Field(default=2048, ge=1, le=1_048_576)

    # Messages per user per calendar month (UTC), by tier (seed runbook names).
    RATE_LIMIT_FREE: int = Field(default=50, ge=0)
    RATE_LIMIT_PAID: int = Field(default=500, ge=0)

    COACH_MAX_REPLY_TOKENS: int = Field(default=800, ge=1, le=32_000)
    # Conversation history in the prompt: at most this many earlier messages,
    # and at most this many characters (~4 characters a token), newest kept.
    COACH_HISTORY_MAX_MESSAGES: int = Field(default=20, ge=0, le=500)
    COACH_HISTORY_MAX_CHARS: int = Field(default=12_000, ge=0, le=1_000_000)

    # Coaching sessions: how long `complete` waits for the extraction when the
    # client sends no `Prefer: wait` (then it answers 202 and the client polls).
    EXTRACTION_INLINE_WAIT_SECONDS: float = Field(
        default=10.0, ge=0, le=EXTRACTION_WAIT_MAX_SECONDS
    )
    # Sessions cost no quota until a message is sent: a user's active ones are
    # capped (409 too_many_active_sessions) so a loop cannot fill the tables.
    COACH_MAX_ACTIVE_SESSIONS: int = Field(default=10, ge=1, le=1000)

    # Tools (pacer_coach.tools): each call's own deadline, inside the reply's one
    # COACH_STREAM_TIMEOUT_SECONDS (seed 004's name and default); model/tool rounds
    # per reply (the last round offers no tools, so the reply ends in text); how
    # long a proposal waits for the athlete's apply or dismiss.
    FUNCTION_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0, le=600)
    COACH_MAX_TOOL_STEPS: int = Field(default=4, ge=0, le=20)
    COACH_PROPOSAL_TTL_SECONDS: int = Field(default=7 * 86_400, ge=60, le=90 * 86_400)

    @model_validator(mode="after")
    def _warn_below_cap(self) -> CoachSettings:
        if self.SSE_WARN_CONNECTIONS > self.SSE_MAX_CONNECTIONS:
            raise ValueError("SSE_WARN_CONNECTIONS must not exceed SSE_MAX_CONNECTIONS")
        return self

    def monthly_limit(self, tier: str) -> int:
        return self.RATE_LIMIT_PAID if tier == "paid" else self.RATE_LIMIT_FREE
