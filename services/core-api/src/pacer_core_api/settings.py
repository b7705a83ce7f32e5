"""core-api's settings: one typed object, read once from the environment."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import NoDecode

from pacer_common.jobs.settings import JobSettings
from pacer_common.settings import (
    ExistingFile,
    MessageLimitSettings,
    Port,
    ServiceSettings,
    ShedLoopLagSamples,
    ShedLoopLagSeconds,
    split_commas,
)


# MessageLimitSettings: the coach's message limit, told to the browser client (client-config).
class CoreApiSettings(ServiceSettings, JobSettings, MessageLimitSettings):
    CORE_API_HOST: str = "127.0.0.1"
    CORE_API_PORT: Port = 8001
    # Prometheus metrics: a separate port the proxy never routes to.
    CORE_API_METRICS_HOST: str = "127.0.0.1"
    CORE_API_METRICS_PORT: Port = 9101
    # 1 runs the app in hypercorn's own process (no parent or resource-tracker
    # process: ~40 MB saved); scale out with replicas before raising this.
    CORE_API_WORKERS: int = Field(default=1, ge=1, le=16)
    # hypercorn's default of 100 overflowed under a burst of connections (MEASURED.md).
    CORE_API_BACKLOG: int = Field(default=2048, ge=16, le=65535)
    CORE_API_GRACEFUL_TIMEOUT_SECONDS: float = Field(default=5.0, ge=0, le=60)
    RUN_MIGRATIONS_ON_STARTUP: bool = True
    # A loop this late for ~1 s (4 readings) already makes home take a second:
    # refuse new requests (503 overloaded) until it catches up.
    CORE_API_SHED_LOOP_LAG_SECONDS: ShedLoopLagSeconds = 0.25
    CORE_API_SHED_LOOP_LAG_SAMPLES: ShedLoopLagSamples = 4

    JWT_PRIVATE_KEY_FILE: ExistingFile
    ACCESS_TOKEN_TTL_SECONDS: int = Field(default=900, ge=60, le=86_400)
    REFRESH_TOKEN_TTL_SECONDS: int = Field(default=30 * 86_400, ge=3600, le=365 * 86_400)
    ADMIN_EMAILS: Annotated[frozenset[str], NoDecode, BeforeValidator(split_commas)] = frozenset()

    # Failed logins (security/login_throttle.py), counted in a window started by
    # the first failure. Past the first limit that address gets 429 for that
    # account, past the second for accounts it never signed in to; the account
    # as a whole is only slowed down (never refused) past the third.
    LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP: int = Field(default=5, ge=1, le=1000)
    LOGIN_MAX_FAILURES_PER_IP: int = Field(default=20, ge=1, le=100_000)
    LOGIN_ACCOUNT_SLOWDOWN_AFTER_FAILURES: int = Field(default=5, ge=1, le=100_000)
    LOGIN_ACCOUNT_MAX_DELAY_SECONDS: float = Field(default=4.0, ge=0, le=30)
    LOGIN_FAILURE_WINDOW_SECONDS: int = Field(default=900, ge=1, le=86_400)
    # Registrations (security/registration_throttle.py), counted before the
    # password is hashed: per client address, and for everyone together.
    REGISTER_MAX_PER_IP: int = Field(default=10, ge=1, le=1_000_000)
    REGISTER_IP_WINDOW_SECONDS: int = Field(default=3600, ge=1, le=86_400)
    REGISTER_MAX_GLOBAL: int = Field(default=60, ge=1, le=1_000_000)
    REGISTER_GLOBAL_WINDOW_SECONDS: int = Field(default=60, ge=1, le=86_400)
    # First briefings (an athlete with none yet, as every new account) that home
    # queues per minute, for everyone together; past it a new athlete gets the
    # rule-based briefing (no job, no LLM call) until the next minute.
    NEW_ACCOUNT_BRIEFINGS_PER_MINUTE: int = Field(default=30, ge=1, le=100_000)
    # Only these peers may set X-Forwarded-For (the proxy): addresses or networks
    # ("10.244.0.0/16", the pod network on Kubernetes: client_ip.py says why).
    TRUSTED_PROXIES: Annotated[frozenset[str], NoDecode, BeforeValidator(split_commas)] = frozenset(
        {"127.0.0.1", "::1"}
    )

    # argon2id cost (RFC 9106's second recommendation by default). Hashes run
    # off the event loop, at most PASSWORD_HASH_CONCURRENCY logins at once, so
    # that a login burst can neither stall other requests nor use unbounded memory.
    ARGON2_TIME_COST: int = Field(default=3, ge=1, le=10)
    ARGON2_MEMORY_KIB: int = Field(default=64 * 1024, ge=8, le=1024 * 1024)
    ARGON2_PARALLELISM: int = Field(default=4, ge=1, le=16)
    PASSWORD_HASH_CONCURRENCY: int = Field(default=2, ge=1, le=32)
    # Sign-ups hash in slots of their own, beside the logins' above: a flood of
    # registrations can never make a login wait for a hash.
    REGISTER_HASH_CONCURRENCY: int = Field(default=1, ge=1, le=32)

    # The browser client's idle timeout on a coach stream (GET /v1/client-config):
    # no byte, event or keep-alive comment, for this long and it gives up on the
    # connection. Above the coach's keep-alive (SSE_PING_SECONDS, 15) and its
    # first-token wait; tests shorten it.
    CLIENT_STREAM_IDLE_TIMEOUT_SECONDS: float = Field(default=135.0, ge=0.5, le=3600)

    @field_validator("TRUSTED_PROXIES")
    @classmethod
    def _addresses_or_networks(cls, value: frozenset[str]) -> frozenset[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"not an address or a network: {entry!r}") from None
        return value

    @field_validator("ADMIN_EMAILS")
    @classmethod
    def _lower_case_emails(cls, value: frozenset[str]) -> frozenset[str]:
        # Registration compares the lower-cased email.
        return frozenset(email.lower() for email in value)
