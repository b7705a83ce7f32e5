"""SDK drivers for the simulator's own tests; `llm_sim` and `sim` come from
fixtures.llm_sim, which tests/conftest.py loads as a plugin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from llm_sim.drivers import DRIVERS, AnthropicDriver, Driver, OpenAIDriver

from fixtures.llm_sim import LLMSim


@pytest.fixture(params=[pytest.param(False, id="whole"), pytest.param(True, id="stream")])
def stream(request: pytest.FixtureRequest) -> bool:
    """Each test that takes `stream` asks for the whole answer, then for a stream."""
    streaming: bool = request.param
    return streaming


@pytest_asyncio.fixture(loop_scope="session", params=sorted(DRIVERS))
async def driver(request: pytest.FixtureRequest, sim: LLMSim) -> AsyncIterator[Driver]:
    """Each test that takes `driver` runs once per provider SDK."""
    driver = DRIVERS[request.param](sim.base_url)
    yield driver
    await driver.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def anthropic_driver(sim: LLMSim) -> AsyncIterator[AnthropicDriver]:
    driver = AnthropicDriver(sim.base_url)
    yield driver
    await driver.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def openai_driver(sim: LLMSim) -> AsyncIterator[OpenAIDriver]:
    driver = OpenAIDriver(sim.base_url)
    yield driver
    await driver.aclose()
