"""The worker's HTTP port sheds like the web services while its loop stays late:
/health and /metrics are never shed (the probe and the scrape must see a busy
worker), anything else is refused with 503 overloaded until the loop catches up.
Today the port serves only those two, so what is shed here is an unknown path,
whose answer turns from 404 into 503 and back."""

from __future__ import annotations

import re

import httpx

from fixtures.loop_lag import assert_overloaded, loop_kept_late, poll_status, shed_total
from fixtures.worker import StartWorker

SHEDDING = {
    "BRIEFING_WORKER_SHED_LOOP_LAG_SECONDS": 0.05,
    "BRIEFING_WORKER_SHED_LOOP_LAG_SAMPLES": 3,
}


async def test_worker_port_sheds_while_its_loop_stays_late_but_never_health_or_metrics(
    start_worker: StartWorker, clean_state: None
) -> None:
    async with start_worker(**SHEDDING) as worker:
        base_url = worker.health_url.removesuffix("/health")
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            assert (await http.get("/elsewhere")).status_code == 404
            shed_before = shed_total((await http.get("/metrics")).text)
            async with loop_kept_late():
                assert_overloaded(await poll_status(http, "GET", "/elsewhere", 503, timeout_s=30))
                health = await http.get("/health")
                assert health.status_code == 200 and health.json()["status"] == "ok"
                metrics = await http.get("/metrics")
                assert metrics.status_code == 200
                assert shed_total(metrics.text) >= shed_before + 1
                # The same sampler sets the lag gauge the EventLoopLag alert reads.
                lag = re.search(r"^event_loop_lag_seconds (\S+)$", metrics.text, re.MULTILINE)
                assert lag is not None and float(lag.group(1)) > 0.05
            await poll_status(http, "GET", "/elsewhere", 404, timeout_s=10)
