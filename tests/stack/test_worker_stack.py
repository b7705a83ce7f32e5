"""The briefing worker in make run's stack, through Caddy: a check-in makes a
fresh briefing appear on home; with the LLM hanging, home stays fast and the
stuck job shows in /v1/admin/jobs/stuck, then ends failed after its retries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fixtures.stack import Stack, start_stack
from fixtures.waiting import poll_sync

ADMIN = "ops@example.com"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def worker_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("worker-stack") / "data",
        {
            "ADMIN_EMAILS": ADMIN,
            "JOB_TIMEOUT_SECONDS": "3",
            "JOB_RETRY_BACKOFF_SECONDS": "1",
            "REAPER_INTERVAL_SECONDS": "1",
            "BRIEFING_DEBOUNCE_SECONDS": "0.2",
        },
    )
    yield running
    running.stop()
    assert not running.pids(), f"left behind: {running.pids()}"


def _login(client: httpx.Client, email: str) -> dict[str, str]:
    client.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "S"})
    tokens = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def _poll(check: Any, timeout_s: float, what: str) -> Any:
    return poll_sync(check, timeout_s=timeout_s, interval_s=0.1, what=what)


def test_worker_is_healthy_and_its_port_is_not_behind_the_proxy(worker_stack: Stack) -> None:
    own = httpx.get(
        f"http://127.0.0.1:{worker_stack.port('BRIEFING_WORKER_PORT')}/health", timeout=5
    )
    assert own.status_code == 200 and own.json()["status"] == "ok"
    assert "j_complete=" in own.json()["arq"]  # arq's own health check line
    metrics = httpx.get(
        f"http://127.0.0.1:{worker_stack.port('BRIEFING_WORKER_PORT')}/metrics", timeout=5
    )
    assert "jobs_queue_depth" in metrics.text


def test_a_checkin_makes_a_fresh_briefing_appear_on_home(worker_stack: Stack) -> None:
    with httpx.Client(base_url=worker_stack.url, timeout=10) as client:
        headers = _login(client, "runner-fresh@example.com")
        saved = client.post(
            "/v1/checkins", json={"sleep_hours": 8, "soreness": 1, "mood": 5}, headers=headers
        )
        assert saved.status_code == 201

        def fresh() -> dict[str, Any] | None:
            briefing = client.get("/v1/home", headers=headers).json()["briefing"]
            return briefing if briefing["status"] == "fresh" else None

        briefing = _poll(fresh, 15, "a fresh briefing on home")
    assert briefing["source"] == "llm"


def test_with_the_llm_hanging_home_stays_fast_and_the_stuck_job_is_reaped_then_failed(
    worker_stack: Stack,
) -> None:
    sim = f"http://127.0.0.1:{worker_stack.port('LLM_SIM_PORT')}"
    assert httpx.post(f"{sim}/_sim/mode", json={"mode": "hang"}, timeout=5).status_code == 200
    try:
        with httpx.Client(base_url=worker_stack.url, timeout=10) as client:
            admin = _login(client, ADMIN)
            headers = _login(client, "runner-hang@example.com")
            saved = client.post(
                "/v1/checkins", json={"sleep_hours": 5, "soreness": 4, "mood": 2}, headers=headers
            )
            assert saved.status_code == 201
            slowest = 0.0

            def home_fast() -> None:
                nonlocal slowest
                started = time.perf_counter()
                response = client.get("/v1/home", headers=headers)
                slowest = max(slowest, time.perf_counter() - started)
                assert response.status_code == 200

            def stuck() -> list[dict[str, Any]] | None:
                home_fast()
                jobs = client.get("/v1/admin/jobs/stuck", headers=admin).json()["jobs"]
                return jobs or None

            [job] = _poll(stuck, 20, "the hung job in /v1/admin/jobs/stuck")
            assert job["error"].startswith("timed out")

            def failed() -> dict[str, Any] | None:
                home_fast()
                health = client.get("/v1/admin/jobs/health", headers=admin).json()
                return health if health["metrics"]["counts"]["failed"] == 1 else None

            health = _poll(failed, 30, "the job to fail after its retries")
            assert client.get("/v1/admin/jobs/stuck", headers=admin).json()["count"] == 0
            briefing = client.get("/v1/home", headers=headers).json()["briefing"]
    finally:
        httpx.post(f"{sim}/_sim/mode", json={"mode": "normal"}, timeout=5)
    assert health["metrics"]["counts"]["timed_out"] == 0
    assert briefing["status"] == "unavailable"
    # An attempt holds the LLM for JOB_TIMEOUT_SECONDS=3: home never waited for one.
    assert slowest < 2.0, slowest
