"""``complete(fallback=False)``: only the requested model answers, even when the
fallback order names a healthy model of the other provider (the extraction job
calls the topic's model, chosen by an admin, and retries on its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from fixtures.llm_client import SHORT_TIMEOUTS, LLMClients, MemorySink
from fixtures.llm_sim import LLMSim, llm_sim_log, reset_around, running_llm_sim, sdk_settings
from pacer_common.llm import MODEL_REGISTRY, ChatMessage, Deadline, LLMOverloaded, LLMRequest


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def openai_sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LLMSim]:
    async with running_llm_sim(llm_sim_log(tmp_path_factory, "llm_sim_openai")) as other:
        async with reset_around(other) as reset:
            yield reset


REQUEST = LLMRequest(
    system="Reply with JSON.",
    messages=[ChatMessage("user", "Transcript.")],
    max_tokens=100,
    model=MODEL_REGISTRY["CLAUDE_HAIKU"],
)


async def test_without_fallback_the_failure_is_raised_and_the_other_provider_never_called(
    sim: LLMSim, openai_sim: LLMSim, llm_clients: LLMClients, sink: MemorySink
) -> None:
    await sim.set_mode(mode="error", status=529, retry_after_ms=10)
    await openai_sim.reset()
    client = llm_clients(
        **sdk_settings(sim.base_url, openai_sim.base_url),
        LLM_FALLBACK_ORDER="CLAUDE_HAIKU,GPT_MINI",
        **SHORT_TIMEOUTS,
    )

    with pytest.raises(LLMOverloaded):
        await client.complete(
            REQUEST, deadline=Deadline.after(5), user_id=None, purpose="test", fallback=False
        )
    assert (await sim.wait_for_stats(lambda s: s["active"] == 0))["requests"] == 1
    assert (await openai_sim.stats())["requests"] == 0
    assert [record.model_code for record in await sink.wait_for(1)] == ["CLAUDE_HAIKU"]

    # The default still falls back: the flag, not the settings, made the difference.
    answer = await client.complete(
        REQUEST, deadline=Deadline.after(5), user_id=None, purpose="test"
    )
    assert (answer.model.code, answer.fallback_used) == ("GPT_MINI", True)
