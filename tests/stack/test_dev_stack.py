"""`make run`'s stack, end to end through Caddy."""

from __future__ import annotations

import os
import signal
import statistics
import time
from collections.abc import Callable

import httpx

from fixtures.stack import Stack, start_stack
from fixtures.waiting import poll_sync

PASSWORD = "correct horse battery"


def _poll(check: Callable[[], object], deadline_s: float = 30.0) -> None:
    def holds() -> object:
        try:
            return check()
        except httpx.HTTPError:
            return False  # the stack is still starting that part

    poll_sync(holds, timeout_s=deadline_s, interval_s=0.1, what="the condition")


def test_the_athlete_journey_through_the_proxy(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        assert http.get("/health").json() == {"status": "ok"}
        ready = http.get("/health/ready").json()
        assert ready["status"] == "ready" and ready["schema_version"] >= 1

        account = {"email": "runner@example.com", "password": PASSWORD, "name": "Runner"}
        assert http.post("/v1/auth/register", json=account).status_code == 201
        tokens = http.post(
            "/v1/auth/login", json={"email": account["email"], "password": PASSWORD}
        ).json()
        # ACCESS_TOKEN_TTL_SECONDS given to `make run` reached core-api.
        assert tokens["expires_in"] == 1234
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        checkin = {"sleep_hours": 7.5, "soreness": 2, "mood": 4}
        assert http.post("/v1/checkins", json=checkin, headers=auth).status_code == 201
        activity = {"sport": "run", "started_at": "2026-01-05T07:00:00Z", "duration_s": 1800}
        assert http.post("/v1/activities", json=activity, headers=auth).status_code == 201

        home = http.get("/v1/home", headers=auth)
        assert home.status_code == 200
        body = home.json()
        assert body["summary"]["last_checkin"]["soreness"] == 2
        assert body["briefing"]["source"] == "rules"
        assert body["briefing"]["text"]


def test_request_ids_pass_through_the_proxy(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url) as http:
        assert (
            http.get("/health", headers={"X-Request-ID": "trace-42"}).headers["X-Request-ID"]
            == "trace-42"
        )
        made = http.get("/health").headers["X-Request-ID"]
        assert len(made) == 36  # Caddy's {http.request.uuid}


def test_metrics_are_not_reachable_through_the_proxy(stack: Stack) -> None:
    metrics_port = stack.port("CORE_API_METRICS_PORT")
    with httpx.Client() as http:
        assert http.get(f"{stack.url}/metrics").status_code == 404
        assert http.get(f"{stack.url}/metrics").json()["error"]["code"] == "not_found"
        assert "http_requests_total" in http.get(f"http://127.0.0.1:{metrics_port}/metrics").text


def test_the_simulator_is_up(stack: Stack) -> None:
    with httpx.Client() as http:
        response = http.get(f"http://127.0.0.1:{stack.port('LLM_SIM_PORT')}/health")
        assert response.status_code == 200


def test_a_crashed_service_is_restarted_without_stopping_the_others(stack: Stack) -> None:
    core_api = stack.pid_of("-m pacer_core_api")
    simulator = stack.pid_of("-m pacer_llm_sim")
    os.kill(core_api, signal.SIGKILL)

    def restarted() -> bool:
        with httpx.Client(base_url=stack.url, timeout=2) as http:
            healthy = http.get("/health/ready").status_code == 200
        return healthy and stack.pid_of("-m pacer_core_api") != core_api

    _poll(restarted)
    assert stack.pid_of("-m pacer_llm_sim") == simulator


def test_two_stacks_side_by_side_and_data_survives_a_restart(
    stack: Stack, tmp_path_factory: object
) -> None:
    import pytest

    assert isinstance(tmp_path_factory, pytest.TempPathFactory)
    data_dir = tmp_path_factory.mktemp("second") / "data"
    second = start_stack(data_dir)
    try:
        account = {"email": "second@example.com", "password": PASSWORD, "name": "Second"}
        with httpx.Client(base_url=second.url) as http:
            assert http.post("/v1/auth/register", json=account).status_code == 201
        # The first stack is untouched by the second.
        with httpx.Client(base_url=stack.url) as http:
            assert http.get("/health/ready").status_code == 200
    finally:
        took = second.stop()
    assert not second.pids(), f"left behind: {second.pids()}"
    assert not second.open_ports()
    assert took < 10, f"stopping took {took:.1f} s"

    again = start_stack(data_dir)
    try:
        with httpx.Client(base_url=again.url) as http:
            login = http.post(
                "/v1/auth/login", json={"email": "second@example.com", "password": PASSWORD}
            )
            assert login.status_code == 200
    finally:
        again.stop()
    assert not again.pids()


def test_a_chat_streams_through_the_proxy_unbuffered(stack: Stack) -> None:
    sim = f"http://127.0.0.1:{stack.port('LLM_SIM_PORT')}"
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        account = {"email": "chatter@example.com", "password": PASSWORD, "name": "Chatter"}
        http.post("/v1/auth/register", json=account)
        token = http.post(
            "/v1/auth/login", json={"email": account["email"], "password": PASSWORD}
        ).json()["access_token"]
        # 10 tokens 300 ms apart: buffering would deliver them all at the end.
        http.post(
            f"{sim}/_sim/mode",
            json={"mode": "slow", "first_token_ms": 0, "token_ms": 300, "tokens": 10},
        )
        try:
            arrivals: list[float] = []
            with http.stream(
                "POST",
                "/v1/coach/chat",
                json={"message": "Hello coach"},
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                body = ""
                for chunk in response.iter_text():
                    body += chunk
                    if "event: delta" in chunk:
                        arrivals.append(time.monotonic())
        finally:
            http.post(f"{sim}/_sim/reset")
    # Every event carries its reply-log id first (changed on purpose with the reply log).
    assert "\nevent: done\n" in body.replace("\r\n", "\n").rstrip().split("\n\n")[-1] + "\n"
    assert arrivals[-1] - arrivals[0] > 1.5, "deltas arrived in one burst: the proxy buffered"


def test_a_hung_llm_ends_the_chat_at_the_stream_timeout_and_home_stays_fast(stack: Stack) -> None:
    import threading

    sim = f"http://127.0.0.1:{stack.port('LLM_SIM_PORT')}"
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        account = {"email": "patient@example.com", "password": PASSWORD, "name": "Patient"}
        http.post("/v1/auth/register", json=account)
        token = http.post(
            "/v1/auth/login", json={"email": account["email"], "password": PASSWORD}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        http.post(f"{sim}/_sim/mode", json={"mode": "hang"})
        outcome: dict[str, object] = {}

        def chat() -> None:
            started = time.monotonic()
            with httpx.Client(base_url=stack.url, timeout=30) as own:
                response = own.post(
                    "/v1/coach/chat", json={"message": "Are you there?"}, headers=auth
                )
            outcome["body"] = response.text
            outcome["took"] = time.monotonic() - started

        home_times: list[float] = []
        try:
            chatting = threading.Thread(target=chat)
            chatting.start()
            # While the chat hangs on the LLM, home answers as usual.
            while chatting.is_alive():
                before = time.monotonic()
                assert http.get("/v1/home", headers=auth).status_code == 200
                home_times.append(time.monotonic() - before)
                chatting.join(timeout=0.2)
        finally:
            http.post(f"{sim}/_sim/reset")
    events = str(outcome["body"]).replace("\r\n", "\n").strip().split("\n\n")
    # Every event carries its reply-log id first (changed on purpose with the reply log).
    assert "\nevent: error\n" in events[-2] and '"code":"timeout"' in events[-2]
    assert "\nevent: done\n" in events[-1] + "\n"
    # COACH_STREAM_TIMEOUT_SECONDS=6 for this stack (the first-token deadline is 20 s).
    took = outcome["took"]
    assert isinstance(took, float) and 5.5 < took < 9
    assert len(home_times) >= 10
    assert statistics.median(home_times) < 0.1 and max(home_times) < 0.5
