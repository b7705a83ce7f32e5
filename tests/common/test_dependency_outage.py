"""Postgres stops under running services: every route that needs it answers 503
``unavailable`` with ``Retry-After`` (not 500), and recovers when Postgres is back,
with no restart of the services.

The suite's shared Postgres cannot be stopped, so this module runs its own.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from fixtures.coach import Coach, StartCoach
from fixtures.core_api import PASSWORD, Athlete, CoreApi, StartCoreApi, register_and_login
from fixtures.infra import free_port, stop, wait_for_port
from fixtures.waiting import poll
from pacer_common.migrations import apply_migrations
from pacer_devstack import postgres


@dataclass
class OwnPostgres:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return postgres.database_url(self.port)

    def start(self) -> None:
        self.process = subprocess.Popen(
            postgres.server_command(self.data_dir, self.port, fsync=False),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **postgres.server_kwargs(),
        )
        wait_for_port(self.port, self.process, "postgres")

    async def wait_accepting(self) -> None:
        """The port opens before Postgres accepts sessions ("the database system is starting up")."""

        async def accepting() -> bool:
            try:
                await (await asyncpg.connect(self.url)).close()
            except (asyncpg.CannotConnectNowError, OSError):
                return False
            return True

        await poll(accepting, timeout_s=30, what="Postgres to accept sessions")

    def stop(self) -> None:
        assert self.process is not None
        stop(self.process, signal.SIGINT)  # fast shutdown: open connections are cut
        self.process = None


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[OwnPostgres]:
    root = Path(tempfile.mkdtemp(prefix="pacer-test-outage-"))
    postgres.ensure_cluster(root / "data", fsync=False)
    server = OwnPostgres(root / "data", free_port())
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
async def services(
    own_postgres: OwnPostgres, start_core_api: StartCoreApi, start_coach: StartCoach
) -> AsyncIterator[tuple[CoreApi, Coach]]:
    await own_postgres.wait_accepting()
    conn = await asyncpg.connect(own_postgres.url)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    async with (
        start_core_api(DATABASE_URL=own_postgres.url, DB_COMMAND_TIMEOUT_SECONDS=2) as api,
        start_coach(DATABASE_URL=own_postgres.url) as coach,
    ):
        yield api, coach


def assert_unavailable(response: httpx.Response, what: str) -> None:
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text}"
    assert response.json()["error"]["code"] == "unavailable", what
    assert int(response.headers["retry-after"]) >= 1, what


async def test_postgres_down_is_503_everywhere_and_recovers(
    services: tuple[CoreApi, Coach], own_postgres: OwnPostgres
) -> None:
    api, coach = services
    async with (
        httpx.AsyncClient(base_url=api.base_url, timeout=15) as core,
        httpx.AsyncClient(base_url=coach.base_url, timeout=15) as chat,
    ):
        athlete: Athlete = await register_and_login(core)
        requests = [
            (core, "GET", "/v1/home", None),
            (core, "GET", "/v1/checkins", None),
            (core, "POST", "/v1/checkins", {"sleep_hours": 7.0, "soreness": 2, "mood": 4}),
            (core, "POST", "/v1/auth/login", {"email": athlete.email, "password": PASSWORD}),
            (chat, "POST", "/v1/coach/chat", {"message": "How far today?"}),
            (chat, "GET", "/v1/coach/conversations", None),
        ]

        own_postgres.stop()
        try:
            for client, method, path, body in requests:
                # Twice: the first finds the pool's dead connections, the second
                # has to open a new one and is refused.
                for attempt in (1, 2):
                    response = await client.request(
                        method, path, json=body, headers=athlete.headers
                    )
                    assert_unavailable(response, f"{method} {path} (try {attempt})")
        finally:
            own_postgres.start()
            await own_postgres.wait_accepting()

        for client, method, path, body in requests:
            response = await client.request(method, path, json=body, headers=athlete.headers)
            assert response.status_code < 300, f"{method} {path}: {response.text}"
