"""The LLM layer's settings, a mixin for the settings object of each service that calls an LLM.

    class CoachSettings(ServiceSettings, LLMSettings): ...

Model codes are checked against the registry at start-up, and so is the
provider behind each: a provider with neither an API key nor a base URL is
*not configured* and none of its models may be named anywhere (the default,
a tier, or the fallback order), so a typo or a missing key stops the service
with a message naming the field instead of failing the first user's chat.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings

from pacer_common.llm.registry import MODEL_REGISTRY, PROVIDERS, Provider
from pacer_common.settings import SETTINGS_CONFIG, CommaList

_CREDENTIAL_FIELDS: dict[Provider, tuple[str, str]] = {
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
}


class LLMSettings(BaseSettings):
    model_config = SETTINGS_CONFIG

    # Credentials and endpoints come first: the model-code checks below read
    # them (pydantic validates fields in declaration order).
    ANTHROPIC_API_KEY: SecretStr | None = None
    OPENAI_API_KEY: SecretStr | None = None
    # Set to reach the LLM simulator ("http://127.0.0.1:8090" and ".../v1") or a gateway.
    ANTHROPIC_BASE_URL: str | None = None
    OPENAI_BASE_URL: str | None = None

    DEFAULT_MODEL: str = Field(default="CLAUDE_HAIKU", validate_default=True)
    # Per tier; unset means DEFAULT_MODEL.
    MODEL_FREE: str | None = None
    MODEL_PAID: str | None = None
    # Comma-separated codes. When a model fails before its first token, the
    # request goes once to the first of these on a different provider.
    LLM_FALLBACK_ORDER: CommaList = Field(
        default_factory=lambda: ["CLAUDE_HAIKU", "GPT_MINI"], validate_default=True
    )

    # Retries inside the SDK; they all fit in the request's one deadline.
    LLM_SDK_MAX_RETRIES: int = Field(default=1, ge=0, le=10)
    # The SDK's own timeout for the phases without a dedicated one (write, pool
    # wait), and the ceiling of every phase of one attempt.
    LLM_SDK_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0, le=600)
    LLM_CONNECT_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0, le=120)
    # Request sent → first text token (for a whole answer: → the whole answer).
    LLM_FIRST_TOKEN_TIMEOUT_SECONDS: float = Field(default=20.0, gt=0, le=600)
    # Longest gap between two tokens once the first has come (also the SDK's read timeout).
    LLM_IDLE_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0, le=600)
    # Read streamed answers from the SDK's raw response (SSE bytes, json.loads) rather
    # than its typed event objects: the same requests, errors and retries, less CPU per token.
    LLM_RAW_STREAM: bool = True
    # The HTTP client under both SDKs: aiohttp (their DefaultAioHttpClient, the SDKs'
    # `aiohttp` extra: cheaper per read of a streamed answer, README "The storm") or
    # httpx2 (the SDKs' own). Same requests, retries, errors and deadlines either way.
    LLM_HTTP_CLIENT: Literal["httpx", "aiohttp"] = "aiohttp"

    @field_validator(
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "ANTHROPIC_BASE_URL",
        "OPENAI_BASE_URL",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `OPENAI_API_KEY=` in an env file means "no key", not a key of "".
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("DEFAULT_MODEL", "MODEL_FREE", "MODEL_PAID")
    @classmethod
    def _usable_code(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            _check_code(value, info.data)
        return value

    @field_validator("LLM_FALLBACK_ORDER")
    @classmethod
    def _usable_codes(cls, value: list[str], info: ValidationInfo) -> list[str]:
        for code in value:
            _check_code(code, info.data)
        return value

    def provider_configured(self, provider: Provider) -> bool:
        return _configured(provider, self.__dict__)

    def configured_providers(self) -> tuple[Provider, ...]:
        return tuple(p for p in PROVIDERS if self.provider_configured(p))


def _configured(provider: Provider, values: dict[str, object]) -> bool:
    key_field, url_field = _CREDENTIAL_FIELDS[provider]
    return values.get(key_field) is not None or values.get(url_field) is not None


def _check_code(code: str, values: dict[str, object]) -> None:
    spec = MODEL_REGISTRY.get(code)
    if spec is None:
        raise ValueError(f"unknown model code {code!r}; known: {', '.join(sorted(MODEL_REGISTRY))}")
    if not _configured(spec.provider, values):
        key_field, url_field = _CREDENTIAL_FIELDS[spec.provider]
        raise ValueError(
            f"{code} runs on {spec.provider}, which is not configured: "
            f"set {key_field} (or {url_field}), or name a model of a configured provider"
        )
