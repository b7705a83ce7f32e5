"""Faults on the running containers: a coach or core-api replica crashing, the coach
restarted by Compose mid-reply, Postgres restarted (issue 21)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from containers.client import (
    Reply,
    compose,
    container_names,
    crash,
    events_of,
    https,
    inspect,
    new_athlete,
    read_until,
    resume,
    run_in,
    sim_mode,
    sim_reset,
    wait_healthy,
    wait_settled,
)
from fixtures.waiting import poll_sync
from pacer_devstack.containers.stack import LocalStack

pytestmark = pytest.mark.timeout(1800)
# Slow enough to be caught mid-reply, fast enough to finish in seconds.
SLOW = {"mode": "slow", "first_token_ms": 200, "token_ms": 100, "tokens": 60}


def _open_streams(coach: str) -> float:
    """coach_open_streams from the replica's own metrics port (not published: asked inside)."""
    probe = run_in(
        coach,
        "python",
        "-c",
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9102/metrics').read().decode())",
    )
    for line in probe.stdout.splitlines():
        if line.startswith("coach_open_streams "):
            return float(line.split()[1])
    return 0.0


def test_a_coach_replica_killed_mid_reply_the_client_resumes_on_the_other(
    containers: LocalStack,
) -> None:
    coaches = container_names("coach")
    assert len(coaches) == 2, coaches
    sim_reset(containers)
    sim_mode(containers, **SLOW)
    with https(containers) as http:
        athlete = new_athlete(http)
        reply = Reply()
        with http.stream(
            "POST", "/v1/coach/chat", json={"message": "Plan my week"}, headers=athlete.headers
        ) as response:
            assert response.status_code == 200
            events = events_of(response)
            read_until(events, reply, stop=lambda r: len(r.text.split()) >= 5)
            # Which replica holds this stream: the one with the reply's id in flight.
            # The replica holding this stream (the only one open on the stack).
            (target,) = [name for name in coaches if _open_streams(name) > 0]
            crash(target)
            read_until(events, reply)
        seen_before_resume = reply.text
        resume(http, athlete, reply)
        assert reply.done is not None
        message = wait_settled(http, athlete, reply)
        # Every piece of text once, in order: what the client shows is what was stored.
        assert reply.text.startswith(seen_before_resume)
        assert message["content"] == reply.text
        assert message["status"] in {"complete", "partial"}
        assert reply.done.data["status"] == message["status"]
    wait_healthy(target)


def test_compose_restart_of_the_coach_drains_every_open_reply_within_the_grace_period(
    containers: LocalStack,
) -> None:
    sim_reset(containers)
    sim_mode(containers, mode="slow", first_token_ms=100, token_ms=200, tokens=300)
    grace_s = 10.0  # docker-compose.prod.yml's stop_grace_period for the coach
    with https(containers) as http:
        athlete = new_athlete(http)
        replies = [Reply() for _ in range(3)]
        streams = [
            http.stream(
                "POST", "/v1/coach/chat", json={"message": f"Reply {i}"}, headers=athlete.headers
            )
            for i in range(len(replies))
        ]
        responses = [stream.__enter__() for stream in streams]
        try:
            feeds = []
            for response, reply in zip(responses, replies, strict=True):
                assert response.status_code == 200
                feeds.append(events_of(response))
                read_until(feeds[-1], reply, stop=lambda r: len(r.text.split()) >= 3)
            readers = [
                threading.Thread(target=read_until, args=(feed, reply), daemon=True)
                for feed, reply in zip(feeds, replies, strict=True)
            ]
            for reader in readers:
                reader.start()
            started = time.monotonic()
            compose(containers, "restart", "coach", timeout=120)
            took = time.monotonic() - started
            for reader in readers:
                reader.join(timeout=30)
        finally:
            for stream in streams:
                stream.__exit__(None, None, None)
        # Both replicas stop together and start again; a coach still draining at the
        # grace period would be SIGKILLed there, so the whole restart stays under it.
        assert took < grace_s, f"restart took {took:.1f} s"
        for name in container_names("coach"):
            wait_healthy(name)
        for reply in replies:
            # The drain ended each stream with its done, and stored what the client saw.
            assert reply.done is not None, reply.events[-3:]
            message = wait_settled(http, athlete, reply, deadline_s=5)
            assert message["status"] == reply.done.data["status"] == "partial", message
            assert message["content"] == reply.text


def test_a_core_api_replica_crashes_and_home_keeps_answering_until_it_is_back(
    containers: LocalStack,
) -> None:
    replicas = container_names("core-api")
    assert len(replicas) == 2, replicas
    victim = replicas[0]
    restarts = int(inspect(victim)["RestartCount"])
    with https(containers, timeout=10) as http:
        athlete = new_athlete(http)
        assert http.get("/v1/home", headers=athlete.headers).status_code == 200
        crash(victim)
        failures: list[str] = []
        answered = 0
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            home = http.get("/v1/home", headers=athlete.headers)
            answered += 1
            if home.status_code != 200:
                failures.append(f"{home.status_code} {home.text[:100]}")
        assert not failures, f"{len(failures)} of {answered} failed: {failures[:3]}"
        # Docker's restart policy brings it back, and Caddy's health checks take it back.
        wait_healthy(victim)
        assert int(inspect(victim)["RestartCount"]) == restarts + 1
        assert http.get("/v1/home", headers=athlete.headers).status_code == 200


def test_postgres_restarted_answers_503_unavailable_then_recovers_with_no_service_restarted(
    containers: LocalStack,
) -> None:
    services = [n for s in ("core-api", "coach", "briefing-worker") for n in container_names(s)]
    before = {name: inspect(name)["State"]["StartedAt"] for name in services}
    with https(containers, timeout=10) as http:
        athlete = new_athlete(http)
        assert http.get("/v1/home", headers=athlete.headers).status_code == 200
        compose(containers, "stop", "postgres")
        try:
            down = http.get("/v1/home", headers=athlete.headers)
            assert down.status_code == 503, down.text
            assert down.json()["error"]["code"] == "unavailable"
            assert int(down.headers["retry-after"]) > 0
            ready = http.get("/health/ready")
            assert ready.status_code == 503
        finally:
            compose(containers, "start", "postgres")

        def home_answers() -> bool:
            try:
                return http.get("/v1/home", headers=athlete.headers).status_code == 200
            except httpx.HTTPError:
                return False

        poll_sync(home_answers, timeout_s=60, interval_s=0.5, what="home after Postgres came back")
        assert http.get("/health/ready").status_code == 200
    after = {name: inspect(name)["State"]["StartedAt"] for name in services}
    assert after == before, "a service was restarted"
