"""The athlete's journey through the production topology: TLS Caddy, two core-api replicas,
the coach, the briefing worker, Postgres and Redis as containers (issue 21)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from containers.client import (
    Reply,
    events_of,
    https,
    new_athlete,
    read_until,
    sim_mode,
    sim_reset,
    stored_message,
)
from fixtures.waiting import poll_sync
from pacer_devstack.containers.stack import LocalStack

# The first test of the folder also waits for the stack (and, cold, its images).
pytestmark = pytest.mark.timeout(1800)


def test_register_checkin_fresh_briefing_streamed_chat_and_stored_conversation(
    containers: LocalStack,
) -> None:
    sim_reset(containers)
    sim_mode(containers, mode="normal", tokens=30, token_ms=10)
    with https(containers) as http:
        ready = http.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        # Production's TLS site: HSTS, the security headers, one request id.
        assert "max-age=" in ready.headers["strict-transport-security"]
        assert ready.headers["x-content-type-options"] == "nosniff"
        assert http.get("/").headers["content-type"].startswith("text/html")

        athlete = new_athlete(http)
        # A setting in the caller's environment reached core-api (tests/containers/conftest.py).
        assert athlete.expires_in == 1234
        checkin = {"sleep_hours": 7.5, "soreness": 2, "mood": 4}
        assert http.post("/v1/checkins", json=checkin, headers=athlete.headers).status_code == 201

        def fresh_briefing() -> dict[str, Any] | None:
            home = http.get("/v1/home", headers=athlete.headers)
            assert home.status_code == 200, home.text
            found: dict[str, Any] = home.json()["briefing"]
            return found if found.get("status") == "fresh" else None

        briefing = poll_sync(fresh_briefing, timeout_s=30, what="a fresh briefing")
        assert briefing["source"] == "llm" and briefing["text"]

        reply = Reply()
        with http.stream(
            "POST",
            "/v1/coach/chat",
            json={"message": "How should I train today?"},
            headers=athlete.headers,
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            read_until(events_of(response), reply)
        assert reply.events[0].name == "meta"
        assert reply.done is not None and reply.done.data["status"] == "complete"
        deltas = [event for event in reply.events if event.name == "delta"]
        assert len(deltas) > 1, "streamed, not answered in one piece"

        message = stored_message(http, athlete, reply)
        assert (message["status"], message["content"]) == ("complete", reply.text)
        listed = http.get("/v1/coach/conversations", headers=athlete.headers).json()["items"]
        assert [c["id"] for c in listed] == [reply.conversation_id]


def test_the_tls_certificate_is_caddys_own_and_plain_http_is_not_served(
    containers: LocalStack,
) -> None:
    # Without Caddy's internal root the certificate is not trusted: it is not a public one.
    with httpx.Client(timeout=10) as untrusting, pytest.raises(httpx.ConnectError):
        untrusting.get(f"{containers.url}/health")
    # Plain HTTP to the published port reaches no service: Caddy refuses it as such.
    with httpx.Client(timeout=10) as plain:
        refused = plain.get(f"http://127.0.0.1:{containers.port}/health")
    assert refused.status_code == 400
    assert "HTTPS" in refused.text and "status" not in refused.text
