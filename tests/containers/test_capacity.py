"""Each container's memory under load, against its limit and deploy/CAPACITY.md (issue 21).

The load, all through Caddy's TLS at once: STREAMS chat replies streaming over both
coach replicas, a login burst (argon2id, core-api's worst case), home requests and
briefing refreshes. Memory is sampled from each container's cgroup four times a second
(pacer_devstack.containers.bench_target: usage less inactive page cache, as `docker
stats` counts it; bench-storm's containers mode samples the same way). Every peak must leave
its container's limit the 20 % margin CAPACITY.md's rules promise (limit >= 1.2 x the
load), and stay within CAPACITY.md's "RSS under load" figure for the service plus
FIGURE_ALLOWANCE: the cgroup also counts the page cache a process keeps reading (its
libraries), which an RSS does not. A figure the containers exceed is a figure that is
wrong.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from deploy.model import capacity_tables

from containers.client import Athlete, https, inspect, new_athlete, sim_mode, sim_reset
from pacer_devstack.containers import stack as local
from pacer_devstack.containers.bench_target import MemorySampler
from pacer_devstack.containers.engine import docker
from pacer_devstack.containers.stack import LocalStack

pytestmark = pytest.mark.timeout(1800)
STREAMS = 60
LOGINS = 24
MIB = 1024 * 1024
LIMIT_MARGIN = 1.2  # CAPACITY.md: each limit is at least 1.2 x the RSS under load
FIGURE_ALLOWANCE = 1.1


async def _stream(client: httpx.AsyncClient, athlete: Athlete, index: int) -> str:
    async with client.stream(
        "POST", "/v1/coach/chat", json={"message": f"Load {index}"}, headers=athlete.headers
    ) as response:
        assert response.status_code == 200, await response.aread()
        async for _ in response.aiter_bytes():
            pass
    return "ok"


async def _load(running: LocalStack, athletes: list[Athlete]) -> None:
    async with httpx.AsyncClient(
        base_url=running.url,
        verify=running.tls(),
        timeout=60,
        limits=httpx.Limits(max_connections=STREAMS + 20),
    ) as client:
        streams = [
            asyncio.create_task(_stream(client, athletes[i % len(athletes)], i))
            for i in range(STREAMS)
        ]
        semaphore = asyncio.Semaphore(12)

        async def login(athlete: Athlete) -> None:
            async with semaphore:
                answer = await client.post(
                    "/v1/auth/login",
                    json={"email": athlete.email, "password": "correct horse battery"},
                )
                assert answer.status_code == 200, answer.text

        async def homes(athlete: Athlete) -> None:
            for _ in range(40):
                assert (await client.get("/v1/home", headers=athlete.headers)).status_code == 200

        async def checkins(athlete: Athlete) -> None:
            body = {"sleep_hours": 7, "soreness": 3, "mood": 3}
            saved = await client.post("/v1/checkins", json=body, headers=athlete.headers)
            assert saved.status_code == 201, saved.text

        await asyncio.gather(
            *(login(athletes[i % len(athletes)]) for i in range(LOGINS)),
            *(homes(athlete) for athlete in athletes),
            *(checkins(athlete) for athlete in athletes),
        )
        await asyncio.gather(*streams)


def test_each_containers_memory_under_load_stays_within_its_limit_and_capacity_md(
    containers: LocalStack,
) -> None:
    (table,) = [t for t in capacity_tables() if t.droplet == "2vcpu-4gb"]
    running = [c for c in local.containers() if c["state"] == "running"]
    ids = {c["name"]: inspect(c["name"])["Id"] for c in running}
    service_of = {c["name"]: c["service"] for c in running}
    sim_reset(containers)
    # 60 tokens at 10/s: every stream is open for about 6 s, all at once.
    sim_mode(containers, mode="slow", first_token_ms=500, token_ms=100, tokens=60)
    with https(containers) as http:
        athletes = [new_athlete(http) for _ in range(STREAMS // 3)]
    sampler = MemorySampler(ids)
    sampler.start()
    try:
        asyncio.run(_load(containers, athletes))
    finally:
        sampler.stop.set()
        sampler.join()
    report = []
    problems = []
    for name, peak in sorted(sampler.peaks.items()):
        limit = int(inspect(name)["HostConfig"]["Memory"])
        row = table.rows.get(service_of[name])
        figure = row.rss_load.value if row is not None else None
        report.append(
            f"{name}: {peak / MIB:.0f} MiB (limit {limit / MIB:.0f}, CAPACITY.md {figure})"
        )
        if limit and peak * LIMIT_MARGIN > limit:
            problems.append(f"{name}: {peak / MIB:.0f} MiB leaves its limit less than 20 %")
        if figure is not None and peak / MIB > figure * FIGURE_ALLOWANCE:
            problems.append(f"{name}: {peak / MIB:.0f} MiB > CAPACITY.md's {figure:.0f} MiB")
    print("\n" + "\n".join(report))
    assert not problems, "\n".join(problems + report)
    # Nothing was OOM-killed along the way.
    for name in ids:
        assert inspect(name)["State"]["OOMKilled"] is False, name
    assert (
        docker(
            "ps",
            "--filter",
            "label=com.docker.compose.project=pacer",
            "--filter",
            "status=exited",
            "-q",
        )
        == ""
    )
