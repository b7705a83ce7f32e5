"""The coach refuses new chats (503 overloaded) while its event loop stays late,
long before the connection cap, without cutting the streams already open."""

from __future__ import annotations

import asyncio

import httpx

from fixtures.coach import StartCoach, chat
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim
from fixtures.loop_lag import assert_overloaded, loop_kept_late, poll_status, shed_total

SHEDDING = {"COACH_SHED_LOOP_LAG_SECONDS": 0.05, "COACH_SHED_LOOP_LAG_SAMPLES": 3}


async def test_coach_sheds_new_chats_below_the_cap_and_keeps_open_streams(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, clean_state: None
) -> None:
    # A reply that takes ~6 s at the simulator: it is open the whole time the loop is late.
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=100, tokens=60)
    async with (
        start_coach(
            **SHEDDING, LLM_IDLE_TIMEOUT_SECONDS=20, COACH_STREAM_TIMEOUT_SECONDS=60
        ) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=60) as http,
    ):
        shed_before = shed_total((await http.get(coach.metrics_url)).text)
        held = asyncio.create_task(chat(http, runner))
        await sim.wait_for_stats(lambda stats: stats["active"] >= 1)
        async with loop_kept_late():
            # A cheap route tells when shedding has begun, without opening streams.
            shed = await poll_status(
                http, "GET", "/v1/coach/conversations", 503, timeout_s=30, headers=runner.headers
            )
            assert_overloaded(shed)
            refused = await chat(http, runner)
            assert refused.status_code == 503 and refused.body is not None
            assert refused.body["error"]["code"] == "overloaded"
            assert refused.headers["Retry-After"] == "2"
            # One stream open, the cap 200 away: the loop, not the count, refused it.
            assert coach.settings.SSE_MAX_CONNECTIONS == 200
            assert (await http.get("/health")).status_code == 200
            assert not held.done()
            assert shed_total((await http.get(coach.metrics_url)).text) >= shed_before + 2
        # The stream open before the loop got late was never cut: its reply is whole.
        kept = await held
        assert kept.status_code == 200
        assert kept.events[-1].event == "done"
        assert kept.events[-1].data["status"] == "complete"
        # And once the loop catches up, chats are let in again.
        await poll_status(
            http, "GET", "/v1/coach/conversations", 200, timeout_s=10, headers=runner.headers
        )
        await sim.set_mode(mode="normal")
        again = await chat(http, runner)
        assert again.status_code == 200
        assert again.events[-1].data["status"] == "complete"
