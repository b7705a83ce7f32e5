"""`make run`'s proxy, end to end: headers, hidden routes, and the coach going down."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fixtures.stack import Stack
from fixtures.waiting import elapse_sync, poll_sync

PASSWORD = "correct horse battery"
# A client gives up on a chat that has not started within this.
QUICK_ERROR_S = 3.0


def _supervisorctl(stack: Stack, *args: str) -> str:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "supervisorctl"),
            "-c",
            str(stack.data_dir / "run" / "supervisord.conf"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.stdout + result.stderr


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _token(http: httpx.Client, email: str) -> str:
    http.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "Runner"})
    login = http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


def test_responses_carry_security_headers_and_a_request_id(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        for path in ("/health", "/v1/home", "/"):
            response = http.get(path)
            headers = response.headers
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["x-frame-options"] == "DENY"
            assert "default-src 'self'" in headers["content-security-policy"]
            assert "server" not in headers
            # One id, the same one the services logged and, for errors, put in the body.
            assert len(headers.get_list("x-request-id")) == 1
        assert http.get("/v1/home").json()["error"]["code"] == "unauthorized"
        # `/` is the browser client (web/), under the same headers.
        client = http.get("/")
        assert client.status_code == 200
        assert client.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/js/main.js">' in client.text
        # A 404 of the proxy's own is still JSON, with the request id.
        missing = http.get("/internal/anything")
        assert missing.status_code == 404
        assert missing.json()["error"]["request_id"] == missing.headers["x-request-id"]


def test_metrics_and_internal_paths_are_404_through_the_proxy(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        for path in ("/metrics", "/v1/metrics", "/internal/health", "/_sim/mode"):
            response = http.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
        # The metrics are still there, on their own port, for Prometheus.
        metrics = http.get(f"http://127.0.0.1:{stack.port('CORE_API_METRICS_PORT')}/metrics")
        assert "http_requests_total" in metrics.text


def test_with_the_coach_down_home_answers_and_chat_fails_fast_in_json(stack: Stack) -> None:
    coach_port = stack.port("COACH_PORT")
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        auth = {"Authorization": f"Bearer {_token(http, 'failover@example.com')}"}
        assert http.get("/v1/coach/conversations", headers=auth).status_code == 200
        try:
            # Stopped, not killed: supervisord would restart a killed coach at once.
            assert "stopped" in _supervisorctl(stack, "stop", "pacer:coach")
            poll_sync(
                lambda: not _listening(coach_port),
                timeout_s=15,
                interval_s=0.1,
                what="the coach to stop listening",
            )

            # Several times: the first finds the connection refused (502), later
            # ones find the replica marked down by the health checks (503).
            for attempt in range(6):
                started = time.monotonic()
                chat = http.post("/v1/coach/chat", json={"message": "Still there?"}, headers=auth)
                took = time.monotonic() - started
                assert chat.status_code in (502, 503), chat.text
                assert chat.headers["content-type"] == "application/json"
                error = chat.json()["error"]
                assert error["code"] == "unavailable" and error["message"]
                assert error["request_id"] == chat.headers["x-request-id"]
                assert took < QUICK_ERROR_S, f"attempt {attempt} took {took:.1f} s"

                started = time.monotonic()
                home = http.get("/v1/home", headers=auth)
                assert home.status_code == 200
                assert time.monotonic() - started < 1.0
                elapse_sync(1.0, why="pacing: spans a few active health-check rounds")
        finally:
            _supervisorctl(stack, "start", "pacer:coach")

        # Back in the pool once it answers its health check again.
        poll_sync(
            lambda: http.get("/v1/coach/conversations", headers=auth).status_code == 200,
            timeout_s=45,
            what="the proxy to take the coach back",
        )
