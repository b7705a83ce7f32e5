"""The base of every service's one typed settings object.

Each service subclasses :class:`ServiceSettings`, adds its own fields
(UPPER_CASE, units in the name) and loads it once with :func:`load_settings`,
which stops the process with a readable message when a value is missing or
malformed, without echoing the values (they may be secrets).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Environment = Literal["development", "test", "production"]
# What deploy/.env.prod.example puts where a secret must go.
PLACEHOLDER = "CHANGE_ME"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
# The request body limit: every service's MAX_REQUEST_BODY_BYTES, and the proxy's
# (pacer_devstack.proxy renders the same figure into the Caddyfile).
DEFAULT_MAX_REQUEST_BODY_BYTES = 64 * 1024
MIN_BODY_BYTES = 1024
MAX_BODY_BYTES = 10 * 1024 * 1024
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
Port = Annotated[int, Field(ge=1, le=65535)]
# Load shedding (pacer_common.web.load_shedding), per service: shed new requests
# while this many lag readings in a row (one each 0.25 s) are over this many seconds.
ShedLoopLagSeconds = Annotated[float, Field(gt=0, le=60)]
ShedLoopLagSamples = Annotated[int, Field(ge=1, le=100)]


def split_commas(value: object) -> object:
    """Comma-separated lists, as in the seed runbook: "https://a.example,https://b.example"."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _is_local_origin(origin: str) -> bool:
    return (urlsplit(origin).hostname or "") in _LOCAL_HOSTS


def _existing_file(value: Path) -> Path:
    if not value.is_file():
        raise ValueError(f"no such file: {value}")
    return value


# A list read from one comma-separated variable (NoDecode: not as JSON).
CommaList = Annotated[list[str], NoDecode, BeforeValidator(split_commas)]
ExistingFile = Annotated[Path, AfterValidator(_existing_file)]


# Shared by every settings class and mixin. env_ignore_empty: `NAME=` in an env
# file (Compose's env_file passes it as "") means "not set", so the default
# applies instead of a validation error.
SETTINGS_CONFIG = SettingsConfigDict(
    frozen=True, extra="ignore", case_sensitive=True, env_ignore_empty=True
)


class ServiceSettings(BaseSettings):
    model_config = SETTINGS_CONFIG

    # "production" refuses what only a development stack may use (see
    # _no_development_defaults_in_production); "test" and "development" do not.
    ENVIRONMENT: Environment = "development"
    LOG_LEVEL: LogLevel = "INFO"
    # Required: the stack has nothing to run against without them.
    DATABASE_URL: str = Field(min_length=1)
    REDIS_URL: str = Field(min_length=1)
    # Public half of core-api's EdDSA signing key: every service verifies
    # access tokens itself, without a shared secret and without calling core-api.
    JWT_PUBLIC_KEY_FILE: ExistingFile
    JWT_ISSUER: str = "pacer-core-api"
    JWT_AUDIENCE: str = "pacer"
    ALLOWED_ORIGINS: CommaList = Field(default_factory=list)
    # Caddy refuses bigger bodies first, with the same figure (pacer_devstack.proxy).
    MAX_REQUEST_BODY_BYTES: int = Field(
        default=DEFAULT_MAX_REQUEST_BODY_BYTES, ge=MIN_BODY_BYTES, le=MAX_BODY_BYTES
    )
    DB_POOL_MAX_SIZE: int = Field(default=10, ge=1, le=100)
    DB_STARTUP_WAIT_SECONDS: float = Field(default=30.0, ge=0, le=600)
    DB_COMMAND_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0, le=300)
    READY_CHECK_TIMEOUT_SECONDS: float = Field(default=1.0, gt=0, le=30)

    @model_validator(mode="after")
    def _no_development_defaults_in_production(self) -> ServiceSettings:
        if self.ENVIRONMENT != "production":
            return self
        problems = []
        if PLACEHOLDER in self.DATABASE_URL or PLACEHOLDER in self.REDIS_URL:
            problems.append(f"DATABASE_URL/REDIS_URL still hold the {PLACEHOLDER} placeholder")
        if not urlsplit(self.DATABASE_URL).password:
            # The development stack's Postgres trusts loopback; production's must not.
            problems.append("DATABASE_URL has no password")
        local = [origin for origin in self.ALLOWED_ORIGINS if _is_local_origin(origin)]
        if local:
            problems.append(f"ALLOWED_ORIGINS names development origins: {', '.join(local)}")
        if problems:
            raise ValueError("ENVIRONMENT=production refuses: " + "; ".join(problems))
        return self


# The longest message an athlete may send the coach, in characters, by default.
MESSAGE_MAX_CHARS = 4000


class MessageLimitSettings(BaseSettings):
    """The message limit, read from one variable by every service that needs it:
    the coach refuses a longer message (422), and core-api tells the browser
    client (GET /v1/client-config), whose composer stops there."""

    model_config = SETTINGS_CONFIG

    COACH_MESSAGE_MAX_CHARS: int = Field(default=MESSAGE_MAX_CHARS, ge=1, le=100_000)


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def format_settings_error(cls: type[BaseSettings], error: ValidationError) -> str:
    lines = [f"{cls.__name__}: invalid configuration (see .env.example):"]
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"])
        message = "required but not set" if item["type"] == "missing" else item["msg"]
        lines.append(f"  {name}: {message}")
    return "\n".join(lines)


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Read ``cls`` from the environment or exit with a clear message.

    >>> settings = load_settings(CoreApiSettings)  # doctest: +SKIP
    """
    try:
        return cls()
    except ValidationError as error:
        print(format_settings_error(cls, error), file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None
