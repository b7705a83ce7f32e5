"""Fixed reply text and a session's closing marker, through both SDKs.

Coaching-session tests need exact replies (valid or invalid JSON for an
extraction) and a deterministic end of session that does not depend on wording.
"""

from __future__ import annotations

import json

from llm_sim.drivers import Driver

from fixtures.llm_sim import LLMSim
from pacer_llm_sim.control import SESSION_END_MARKER

EXTRACTION = json.dumps({"race_name": "Berlin Marathon", "effort": 7}, indent=2) + "\n"


async def test_text_is_the_reply_exactly(sim: LLMSim, driver: Driver, stream: bool) -> None:
    await sim.set_mode(mode="normal", text=EXTRACTION)

    answer = await driver.ask("Extract the result", stream=stream)

    assert answer.text == EXTRACTION
    assert json.loads(answer.text)["effort"] == 7
    assert answer.output_tokens == len(EXTRACTION.split())


async def test_text_streams_word_by_word(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="normal", text="  Easy run today.\nThen rest.")

    deltas = [delta async for delta in driver.tokens("plan")]

    assert deltas == ["  ", "Easy ", "run ", "today.\n", "Then ", "rest."]


async def test_end_session_appends_the_marker_split_across_two_deltas(
    sim: LLMSim, driver: Driver
) -> None:
    await sim.set_mode(mode="normal", tokens=3, end_session=True)

    deltas = [delta async for delta in driver.tokens("Goodbye coach")]

    assert "".join(deltas[-2:]) == SESSION_END_MARKER
    assert SESSION_END_MARKER not in deltas[-1] and SESSION_END_MARKER not in deltas[-2]
    assert len(deltas) == 5


async def test_end_session_with_text_ends_with_the_marker(
    sim: LLMSim, driver: Driver, stream: bool
) -> None:
    await sim.set_mode(mode="normal", text="Good luck out there. ", end_session=True)

    answer = await driver.ask("Thanks", stream=stream)

    assert answer.text == "Good luck out there. " + SESSION_END_MARKER
