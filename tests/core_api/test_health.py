from __future__ import annotations

import asyncpg
import httpx

from fixtures.core_api import StartCoreApi
from fixtures.infra import free_port
from pacer_common.migrations import expected_schema_version


async def test_liveness_answers_without_io(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_reports_every_check_and_the_schema_version(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"postgres": "ok", "redis": "ok", "schema": "ok"}
    assert body["schema_version"] == expected_schema_version() >= 1


async def test_readiness_names_redis_when_it_is_down(start_core_api: StartCoreApi) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    async with start_core_api(REDIS_URL=dead_redis, READY_CHECK_TIMEOUT_SECONDS=0.5) as api:
        async with httpx.AsyncClient(base_url=api.base_url) as http:
            response = await http.get("/health/ready")
            assert response.status_code == 503
            body = response.json()
            assert body["checks"]["redis"] != "ok"
            assert body["checks"]["postgres"] == "ok"
            assert body["error"]["code"] == "not_ready"
            assert "redis" in body["error"]["message"]
            # Liveness does no I/O, so it stays up.
            assert (await http.get("/health")).status_code == 200


async def test_readiness_names_postgres_and_schema_when_they_fail(
    start_core_api: StartCoreApi, migrated_postgres: str
) -> None:
    admin = await asyncpg.connect(migrated_postgres)
    try:
        await admin.execute("DROP DATABASE IF EXISTS ready_probe WITH (FORCE)")
        await admin.execute("CREATE DATABASE ready_probe")
        probe_url = migrated_postgres.rsplit("/", 1)[0] + "/ready_probe"
        # No migrations: the schema is behind what the code expects.
        async with start_core_api(DATABASE_URL=probe_url, RUN_MIGRATIONS_ON_STARTUP=False) as api:
            async with httpx.AsyncClient(base_url=api.base_url) as http:
                behind = await http.get("/health/ready")
                assert behind.status_code == 503
                assert behind.json()["checks"]["schema"].startswith("behind")
                assert behind.json()["error"]["failed"] == ["schema"]

                await admin.execute("ALTER DATABASE ready_probe ALLOW_CONNECTIONS false")
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'ready_probe'"
                )
                down = await http.get("/health/ready")
                assert down.status_code == 503
                assert down.json()["checks"]["postgres"] != "ok"
                assert "postgres" in down.json()["error"]["message"]
    finally:
        await admin.execute("DROP DATABASE IF EXISTS ready_probe WITH (FORCE)")
        await admin.close()
