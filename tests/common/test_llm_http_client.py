"""``LLM_HTTP_CLIENT=aiohttp`` (the SDKs' DefaultAioHttpClient, issue 24): the same outcome as
the SDKs' own httpx2 client in every simulator mode and both dialects: the same texts,
counts and errors, and the first-token and idle deadlines holding exactly as they do."""

from __future__ import annotations

import time

import pytest
from common.test_llm_raw_stream import MODES, TIMEOUTS, ask, outcome

from fixtures.llm_client import MODELS, LLMClients, model_of
from fixtures.llm_sim import LLMSim, sdk_settings
from pacer_common.llm.registry import Provider

# A deadline's error must come within this of the same deadline on the httpx2 client.
DEADLINE_SLACK_S = 0.5


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_aiohttp_and_httpx_clients_see_the_same_in_every_mode(
    sim: LLMSim, llm_clients: LLMClients, provider: Provider, mode: str
) -> None:
    fields, max_tokens = MODES[mode]
    model = model_of(provider)
    seen, took = {}, {}
    for http_client in ("httpx", "aiohttp"):
        await sim.set_mode(**fields)
        client = llm_clients(
            **sdk_settings(sim.base_url),
            LLM_FALLBACK_ORDER="",
            **TIMEOUTS,
            LLM_HTTP_CLIENT=http_client,
        )
        started = time.monotonic()
        seen[http_client] = await outcome(client, ask(model, max_tokens))
        took[http_client] = time.monotonic() - started
        await sim.wait_for_stats(lambda stats: stats["active"] == 0)
    assert seen["aiohttp"] == seen["httpx"]
    if mode in ("hang", "idle_gap"):
        # The deadline ended it, as early on one client as on the other.
        assert seen["aiohttp"]["error"][0] == "LLMTimeout"
        assert abs(took["aiohttp"] - took["httpx"]) <= DEADLINE_SLACK_S, took
