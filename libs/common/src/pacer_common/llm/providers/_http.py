"""What both providers share about ``httpx2``, their SDKs' HTTP client: the
per-attempt timeout, and status codes and transport errors → LLMError.

Both SDKs send HTTP through ``httpx2`` (not ``httpx``), and the Anthropic SDK
lets its transport errors escape unwrapped while a stream is being read, so
each provider catches ``httpx2.HTTPError`` beside its own SDK's errors.
"""

from __future__ import annotations

import httpx2

from pacer_common.llm.errors import LLMError, LLMOverloaded, LLMTimeout, LLMUpstreamError
from pacer_common.llm.providers.base import SdkTimeouts
from pacer_common.llm.registry import ModelSpec

# Where providers say "back off": rate limited, unavailable, overloaded.
OVERLOADED_STATUSES = frozenset({429, 503, 529})


def from_status(status: int, model: ModelSpec, detail: str) -> LLMError:
    if status in OVERLOADED_STATUSES:
        return LLMOverloaded(model=model, detail=detail)
    if status >= 500:
        return LLMUpstreamError(model=model, detail=detail)
    # Any other 4xx is our bug or our key: sending it again, or elsewhere, will not help.
    return LLMUpstreamError(
        "The AI model could not handle this request.", model=model, retryable=False, detail=detail
    )


def from_transport(error: httpx2.HTTPError, model: ModelSpec, detail: str) -> LLMError:
    if isinstance(error, httpx2.TimeoutException):
        return LLMTimeout(model=model, detail=detail)
    return LLMUpstreamError(model=model, detail=detail)


def describe(error: BaseException, status: int | None = None, request_id: str | None = None) -> str:
    """A log line's worth: the type, the status and the request id; never a body or a key."""
    parts = [type(error).__name__]
    if status is not None:
        parts.append(f"status={status}")
    if request_id:
        parts.append(f"request_id={request_id}")
    return " ".join(parts)


def httpx_timeout(timeouts: SdkTimeouts) -> httpx2.Timeout:
    return httpx2.Timeout(timeouts.other_s, connect=timeouts.connect_s, read=timeouts.read_s)
