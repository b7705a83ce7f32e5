"""One module per provider SDK; the only place ``anthropic`` and ``openai`` are imported.

Each SDK module is imported when its provider is configured, so a process that
only reads :class:`~pacer_common.llm.LLMSettings` does not pay for the SDKs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pacer_common.llm.providers.base import ProviderClient, SdkTimeouts
from pacer_common.llm.registry import Provider

if TYPE_CHECKING:
    from pacer_common.llm.providers._sdk import HttpClientKind, SdkProvider

# A provider reached through a base URL alone (the simulator, a gateway that
# adds the key) still needs a key for the SDK to build its headers. Passing one
# also keeps the SDK from hunting for credentials in profiles on disk.
PLACEHOLDER_API_KEY = "not-set"


def build_provider(
    name: Provider,
    *,
    api_key: str | None,
    base_url: str | None,
    max_retries: int,
    timeouts: SdkTimeouts,
    raw_stream: bool = True,
    http_client: HttpClientKind = "httpx",
) -> ProviderClient:
    return _provider_class(name).create(
        api_key=api_key if api_key is not None else PLACEHOLDER_API_KEY,
        base_url=base_url,
        max_retries=max_retries,
        timeouts=timeouts,
        raw_stream=raw_stream,
        http_client=http_client,
    )


def _provider_class(name: Provider) -> type[SdkProvider[Any]]:
    if name == "anthropic":
        from pacer_common.llm.providers.anthropic import AnthropicProvider

        return AnthropicProvider
    from pacer_common.llm.providers.openai import OpenAIProvider

    return OpenAIProvider


__all__ = ["PLACEHOLDER_API_KEY", "ProviderClient", "SdkTimeouts", "build_provider"]
