"""Where tools are offered: plain chat, with instructions that a proposal is not a save;
never a coaching session's messages (an interview that ends in its extraction)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from fixtures.coach import chat
from fixtures.coach_sessions import create_session, say
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim
from pacer_coach.chat.prompt import TOOL_INSTRUCTIONS
from pacer_coach.tools.catalogue import TOOLS

RUN = "I ran 10k this morning in 52 minutes"


async def test_plain_chat_offers_every_tool_and_says_proposals_are_not_saves(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim
) -> None:
    await chat(coach_client, runner, "How should I train today?")
    request = (await sim.stats())["last_request"]
    assert sorted(tool["name"] for tool in request["tools"]) == sorted(TOOLS)
    assert TOOL_INSTRUCTIONS in request["system"]


@pytest.mark.usefixtures("session_topics")
async def test_a_sessions_message_gets_no_tools(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    session = await create_session(coach_client, runner)
    result = await say(coach_client, runner, session["id"], RUN)

    assert result.of("tool") == [] and result.events[-1].data["status"] == "complete"
    request = (await sim.stats())["last_request"]
    assert "tools" not in request and TOOL_INSTRUCTIONS not in request["system"]
    assert await pg_pool.fetchval("SELECT count(*) FROM coach_proposals") == 0
