"""The simulator as a process: settings, start-up errors and shutdown."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from fixtures.llm_sim import STOP_TIMEOUT_S, start_llm_sim
from fixtures.processes import run_module
from pacer_llm_sim.exceptions import SettingsError
from pacer_llm_sim.settings import Settings


def test_settings_defaults() -> None:
    assert Settings.from_env({}) == Settings(host="127.0.0.1", port=8090)


def test_settings_read_host_and_port() -> None:
    settings = Settings.from_env({"LLM_SIM_HOST": "0.0.0.0", "LLM_SIM_PORT": "9001"})

    assert settings == Settings(host="0.0.0.0", port=9001)


@pytest.mark.parametrize("port", ["abc", "0", "65536", "80.5"])
def test_settings_refuse_a_malformed_port(port: str) -> None:
    with pytest.raises(SettingsError, match="LLM_SIM_PORT"):
        Settings.from_env({"LLM_SIM_PORT": port})


def test_malformed_port_stops_the_process_with_a_message() -> None:
    env = {"LLM_SIM_PORT": "not-a-port", "PATH": ""}
    result = run_module("pacer_llm_sim", env=env, timeout_s=30)

    assert result.returncode == 2
    assert "LLM_SIM_PORT must be an integer" in result.stderr


async def test_sigterm_stops_promptly_even_with_a_hanging_request(tmp_path: Path) -> None:
    sim = await start_llm_sim(tmp_path / "llm_sim.log")
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=30) as http:
        await sim.set_mode(mode="hang")
        hanging = asyncio.create_task(http.post("/v1/messages", json=body))
        await sim.wait_for_stats(lambda s: s["active"] == 1)

        started = time.monotonic()
        returncode = await sim.stop()
        stopped_after_s = time.monotonic() - started
        response = await hanging

    # stop() escalates to SIGKILL after STOP_TIMEOUT_S; 0 means it exited by itself.
    assert returncode == 0, sim.log()
    assert stopped_after_s < STOP_TIMEOUT_S
    # A hanging request never gets an answer from the simulator; uvicorn closes
    # it with its own plain 500 when the server stops (hypercorn's had no body).
    assert response.status_code == 500
    assert response.content == b"Internal Server Error"
    assert "LLM simulator stopped" in sim.log()
    # Ending a hanging request unanswered is deliberate, not logged as an error.
    assert "ERROR" not in sim.log()
