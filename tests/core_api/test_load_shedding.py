"""core-api refuses new requests (503 overloaded) while its event loop stays late,
answers its probes all the while, and serves again once the loop catches up."""

from __future__ import annotations

import httpx

from fixtures.core_api import StartCoreApi, register_and_login
from fixtures.loop_lag import assert_overloaded, loop_kept_late, poll_status, shed_total

# Lag readings of at least 0.1 s (loop_kept_late's blocks), three in a row over 0.05 s.
SHEDDING = {"CORE_API_SHED_LOOP_LAG_SECONDS": 0.05, "CORE_API_SHED_LOOP_LAG_SAMPLES": 3}


async def test_core_api_sheds_while_its_loop_stays_late_and_stops_after(
    start_core_api: StartCoreApi, clean_state: None
) -> None:
    async with (
        start_core_api(**SHEDDING) as api,
        httpx.AsyncClient(base_url=api.base_url, timeout=30) as http,
    ):
        athlete = await register_and_login(http)
        assert (await http.get("/v1/home", headers=athlete.headers)).status_code == 200
        shed_before = shed_total((await http.get(api.metrics_url)).text)
        async with loop_kept_late():
            shed = await poll_status(
                http, "GET", "/v1/home", 503, timeout_s=30, headers=athlete.headers
            )
            assert_overloaded(shed)
            # Before auth: a forged token is refused as overloaded, not as 401.
            forged = await http.get("/v1/home", headers={"Authorization": "Bearer forged"})
            assert_overloaded(forged)
            # Before routing: even a path that does not exist.
            assert_overloaded(await http.get("/v1/no-such-route"))
            # The probes are never shed: Docker and Caddy must not drop a busy replica.
            assert (await http.get("/health")).status_code == 200
            ready = await http.get("/health/ready")
            # Readiness runs (it is not refused at the door); under this much lag its
            # checks may time out, which is its own verdict, not shedding.
            assert ready.status_code == 200 or ready.json()["error"]["code"] == "not_ready"
            # An absolute URL: the metrics port, which is not shed-able at all (its own thread).
            assert shed_total((await http.get(api.metrics_url)).text) >= shed_before + 3
        # The loop caught up: the next reading under the threshold stops the shedding.
        home = await poll_status(
            http, "GET", "/v1/home", 200, timeout_s=10, headers=athlete.headers
        )
        assert "briefing" in home.json()
