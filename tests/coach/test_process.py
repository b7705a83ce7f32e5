"""The real `python -m pacer_coach` process: SIGTERM with open streams, and bad settings."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from fixtures.coach import chat
from fixtures.core_api import Athlete
from fixtures.infra import free_port
from fixtures.llm_sim import LLMSim


async def test_sigterm_ends_every_stream_and_exits_within_5_seconds(
    migrated_postgres: str, jwt_key_files: tuple[Path, Path], runner: Athlete, sim: LLMSim
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": migrated_postgres,
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "JWT_PUBLIC_KEY_FILE": str(jwt_key_files[1]),
        "COACH_PORT": str(port),
        "COACH_METRICS_PORT": str(free_port()),
        "ANTHROPIC_API_KEY": "test-key",
        "OPENAI_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": sim.base_url,
        "OPENAI_BASE_URL": f"{sim.base_url}/v1",
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pacer_coach",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(300):
                try:
                    if (await http.get("/health/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            await sim.set_mode(mode="slow", first_token_ms=0, token_ms=200, tokens=1000)
            streams = [asyncio.create_task(chat(http, runner)) for _ in range(3)]
            await sim.wait_for_stats(lambda stats: stats["active"] >= 3)
            started = asyncio.get_running_loop().time()
            process.send_signal(signal.SIGTERM)
            results = await asyncio.gather(*streams)
            code = await asyncio.wait_for(process.wait(), timeout=5)
            took = asyncio.get_running_loop().time() - started
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 0
    assert took < 5
    for result in results:
        assert [event.event for event in result.events[-2:]] == ["error", "done"]
        assert result.of("error")[0].data["code"] == "shutdown"


async def test_a_missing_setting_stops_the_coach_with_a_clear_message() -> None:
    clean = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME"}}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pacer_coach", env=clean, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2
    assert b"DATABASE_URL: required but not set" in stderr
