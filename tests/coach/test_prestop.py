"""The Kubernetes preStop hook (``python -m pacer_coach.prestop``) against a real
coach process: run as the kubelet runs it, hook first and SIGTERM after, no
reply is cut."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from fixtures.coach import chat
from fixtures.coach_process import CoachProcessEnv, running_coach
from fixtures.core_api import Athlete
from fixtures.infra import free_port
from fixtures.llm_sim import LLMSim


async def _prestop(*args: str) -> tuple[dict[str, object], float]:
    """Run the hook; its JSON line and how long it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    hook = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pacer_coach.prestop", *args, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(hook.communicate(), timeout=60)
    assert hook.returncode == 0, stderr
    return json.loads(stderr.decode().strip().splitlines()[-1]), loop.time() - started


async def test_the_hook_waits_for_open_replies_so_sigterm_cuts_none(
    coach_process_env: CoachProcessEnv,
    runner: Athlete,
    sim: LLMSim,
) -> None:
    env = coach_process_env()
    metrics = f"--metrics-url=http://127.0.0.1:{env['COACH_METRICS_PORT']}/metrics"
    async with running_coach(env) as (process, http):
        # Each reply runs about 2 s: longer than the hook's minimum wait.
        await sim.set_mode(mode="slow", first_token_ms=0, token_ms=100, tokens=20)
        chats = [asyncio.create_task(chat(http, runner)) for _ in range(2)]
        await sim.wait_for_stats(lambda stats: stats["active"] >= 2)
        ended, took = await _prestop("--min-seconds=0.2", "--max-seconds=30", metrics)
        # The hook returned only once both replies had ended on their own.
        assert all(task.done() for task in chats)
        process.send_signal(signal.SIGTERM)
        results = await asyncio.gather(*chats)
        code = await asyncio.wait_for(process.wait(), timeout=5)
    assert ended["reason"] == "no_open_replies"
    assert took < 30
    assert code == 0
    for result in results:
        assert result.of("error") == []
        assert result.events[-1].event == "done"
        assert result.events[-1].data["status"] == "complete"


async def test_the_hook_gives_up_at_its_maximum(
    coach_process_env: CoachProcessEnv,
    runner: Athlete,
    sim: LLMSim,
) -> None:
    env = coach_process_env()
    metrics = f"--metrics-url=http://127.0.0.1:{env['COACH_METRICS_PORT']}/metrics"
    async with running_coach(env) as (process, http):
        await sim.set_mode(mode="slow", first_token_ms=0, token_ms=200, tokens=1000)
        reply = asyncio.create_task(chat(http, runner))
        await sim.wait_for_stats(lambda stats: stats["active"] >= 1)
        ended, took = await _prestop("--min-seconds=0.1", "--max-seconds=1.5", metrics)
        assert not reply.done()
        # What follows the hook is the drain, as before: stored and ended.
        process.send_signal(signal.SIGTERM)
        result = await reply
        await asyncio.wait_for(process.wait(), timeout=5)
    assert ended["reason"] == "max_wait"
    assert 1.5 <= took < 10
    assert result.of("error")[0].data["code"] == "shutdown"


async def test_a_metrics_port_that_does_not_answer_ends_the_wait() -> None:
    url = f"--metrics-url=http://127.0.0.1:{free_port()}/metrics"
    ended, took = await _prestop("--min-seconds=0", "--max-seconds=60", url)
    assert ended["reason"] == "metrics_unreadable"
    assert took < 10
