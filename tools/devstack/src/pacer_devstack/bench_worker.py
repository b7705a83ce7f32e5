"""``make bench-worker``: the briefing worker beside home, on a fresh make-run stack.

1. /v1/home p99 through the proxy with a cached (fresh) briefing: idle, then
   while the worker runs 50 refreshes against a slow simulator (goal: p99 at most 1.5 times idle).
2. The reaper: time from a job's deadline to its ``timed_out`` mark, for jobs
   left 'processing' as a killed worker leaves them (goal: within one interval).
3. The worker's RSS idle and after the refreshes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Protocol

import asyncpg
import httpx

from pacer_devstack import postgres
from pacer_devstack.bench import (
    LATENCY_HEADER,
    athlete_token,
    latency_line,
    load_generator,
    median_of_rounds,
    stop_on_sigterm,
)
from pacer_devstack.bench_coach import _rss_mib, _sim
from pacer_devstack.harness import start_stack

PASSWORD = "bench password 1"


def _wait(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"bench-worker: timed out waiting for {what}")
        time.sleep(0.2)


def _fresh(client: httpx.Client, token: str) -> bool:
    home = client.get("/v1/home", headers={"Authorization": f"Bearer {token}"}).json()
    return bool(home["briefing"]["status"] == "fresh")


async def jobs_running(database_url: str) -> int:
    """Ledger jobs still queued or processing."""
    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'processing')"
            )
        )
    finally:
        await conn.close()


class HasUrl(Protocol):
    """A stack's entry: the dev stack or the containers (bench_storm --target)."""

    @property
    def url(self) -> str: ...


def register_athletes(stack: HasUrl, count: int) -> list[str]:
    """``count`` athletes' access tokens (registration triggers no refresh)."""
    tokens = []
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        for index in range(count):
            email = f"bench-worker-{index}@example.com"
            client.post(
                "/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "B"}
            )
            login = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
            tokens.append(login.json()["access_token"])
    return tokens


async def trigger_refreshes(url: str, tokens: list[str]) -> None:
    """Each athlete saves a check-in at once: one refresh job each."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        saves = await asyncio.gather(
            *(
                client.post(
                    "/v1/checkins",
                    json={"sleep_hours": 7, "soreness": 2, "mood": 4},
                    headers={"Authorization": f"Bearer {token}"},
                )
                for token in tokens
            )
        )
    for save in saves:
        save.raise_for_status()


async def reaper_lag(database_url: str, jobs: int, timeout_s: float) -> list[float]:
    """Seconds from each job's deadline to its timed_out mark."""
    conn = await asyncpg.connect(database_url)
    try:
        ids = [
            row["id"]
            for row in await conn.fetch(
                """INSERT INTO jobs (kind, subject, status, attempts, started_at, heartbeat_at, deadline_at)
                   SELECT 'refresh_briefing', gen_random_uuid()::text, 'processing', $2, now(), now() + interval '1 hour',
                          now() + interval '2 seconds' + (n * interval '150 milliseconds')
                   FROM generate_series(1, $1) AS n RETURNING id""",
                jobs,
                99,  # no retries: the mark is all that is measured
            )
        ]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rows = await conn.fetch(
                """SELECT extract(epoch FROM finished_at - deadline_at) AS lag FROM jobs
                   WHERE id = ANY($1) AND status <> 'processing'""",
                ids,
            )
            if len(rows) == len(ids):
                return [float(row["lag"]) for row in rows]
            await asyncio.sleep(0.2)
        raise SystemExit("bench-worker: the reaper did not mark every job in time")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--refreshes", type=int, default=50)
    parser.add_argument("--reaper-interval", type=float, default=5.0)
    parser.add_argument("--reaper-jobs", type=int, default=20)
    args = parser.parse_args()
    stop_on_sigterm()
    env = {
        "REAPER_INTERVAL_SECONDS": str(args.reaper_interval),
        "BRIEFING_DEBOUNCE_SECONDS": "0.2",
        # Slow answers must finish, not time out: this measures home beside busy jobs.
        "JOB_TIMEOUT_SECONDS": "120",
    }
    with tempfile.TemporaryDirectory(prefix="pacer-bench-worker-") as folder:
        stack = start_stack(Path(folder) / "data", env)
        database_url = postgres.database_url(stack.port("POSTGRES_PORT"))
        try:
            token = athlete_token(stack.url)
            with httpx.Client(base_url=stack.url, timeout=10) as client:
                _wait(lambda: _fresh(client, token), 30, "the bench athlete's fresh briefing")
            headers = {"Authorization": f"Bearer {token}"}
            worker_idle = _rss_mib(stack, "pacer_briefing_worker")
            print(f"briefing-worker RSS idle: {worker_idle:.1f} MiB")
            print(
                f"\n/v1/home (cached fresh briefing) through the proxy, {args.clients} clients "
                f"({load_generator()}), median of {args.rounds} rounds of {args.seconds:g} s (ms)"
            )
            print(LATENCY_HEADER)
            idle = median_of_rounds(
                stack.url, "/v1/home", headers, args.clients, args.seconds, args.rounds
            )
            print(latency_line("idle", idle))

            tokens = register_athletes(stack, args.refreshes)
            # ~5.5 s per answer: 50 refreshes, WORKER_MAX_JOBS (4) at a time, outlast the rounds.
            _sim(
                stack,
                "/_sim/mode",
                {"mode": "slow", "first_token_ms": 3000, "token_ms": 100, "tokens": 25},
            )
            started = time.monotonic()
            asyncio.run(trigger_refreshes(stack.url, tokens))
            busy = median_of_rounds(
                stack.url, "/v1/home", headers, args.clients, args.seconds, args.rounds
            )
            still_running = asyncio.run(jobs_running(database_url))
            print(latency_line(f"{args.refreshes} refreshes", busy))
            print(
                f"\np99 busy / idle = {busy['p99'] / idle['p99']:.2f} (goal ≤ 1.5); "
                f"{still_running} refresh jobs still queued or running when the last round ended"
            )
            _wait(
                lambda: asyncio.run(jobs_running(database_url)) == 0,
                300,
                "the refreshes to finish",
            )
            print(
                f"{args.refreshes} refreshes done in {time.monotonic() - started:.1f} s; "
                f"briefing-worker RSS {_rss_mib(stack, 'pacer_briefing_worker'):.1f} MiB, "
                f"core-api {_rss_mib(stack, 'pacer_core_api'):.1f} MiB"
            )
            _sim(stack, "/_sim/reset", {})

            lags = sorted(
                asyncio.run(
                    reaper_lag(database_url, args.reaper_jobs, 60 + 3 * args.reaper_interval)
                )
            )
            print(
                f"\nreaper (REAPER_INTERVAL_SECONDS={args.reaper_interval:g}): deadline → timed_out mark "
                f"over {len(lags)} jobs: median {statistics.median(lags):.2f} s, max {lags[-1]:.2f} s "
                f"(goal ≤ one interval)"
            )
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
