"""The production topology on a real Docker engine (issue 21), once for the whole folder.

The package-scoped fixture does what `make containers-up` does (engine from apt when
missing, images built only when their content changed, the production Compose file
plus deploy/docker-compose.local.yml) with two coach replicas, and `make
containers-down` when the folder's last test ends, so the rest of the suite does not
share the CPU with an idle stack. Where no engine can be had (no root, no apt) every
test skips with the reason. The stack's name is fixed (`pacer`, the production file's
`name:`): a stack left running by `make containers-up` is replaced, then removed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from pacer_devstack.config import DEV_SIGNUP_LIMITS
from pacer_devstack.containers import stack as local
from pacer_devstack.containers.__main__ import wait_ready_through_caddy
from pacer_devstack.containers.engine import EngineUnavailable, ensure_engine, stop_dockerd
from pacer_devstack.containers.images import ensure_images
from pacer_devstack.harness import free_ports

# Settings the tests need, passed as `make containers-up` passes the caller's.
TEST_SETTINGS = {
    # Every account the tests make signs up from one address (the host), as under
    # `make run`.
    **DEV_SIGNUP_LIMITS,
    # Passed through to the services as `make run` passes them (test_journey checks it).
    "ACCESS_TOKEN_TTL_SECONDS": "1234",
    # The capacity test holds many streams from few athletes.
    "SSE_MAX_STREAMS_PER_USER": "100",
    # A briefing refresh retried fast when a test has the simulator fail it.
    "JOB_RETRY_BACKOFF_SECONDS": "1",
    "JOB_RETRY_BACKOFF_MAX_SECONDS": "2",
}


@pytest.fixture(scope="package")
def containers() -> Iterator[local.LocalStack]:
    try:
        started_dockerd = ensure_engine()
    except EngineUnavailable as error:
        pytest.skip(f"no Docker engine can be had here: {error}")
    started = time.monotonic()
    images = ensure_images()
    built = time.monotonic() - started
    # Free ports unless given: a `make run` on this machine may hold 8090 (its simulator).
    caddy_port, sim_port = free_ports(2)
    running = local.LocalStack(
        port=int(os.environ.get("PACER_CONTAINERS_PORT", caddy_port)),
        llm_sim_port=int(os.environ.get("LLM_SIM_PORT", sim_port)),
        coach_replicas=2,
    )
    environ = {**os.environ, **TEST_SETTINGS}
    try:
        local.up(running, images, environ)
        wait_ready_through_caddy(running)
        print(
            f"\ncontainers: images {built:.0f} s, stack up {time.monotonic() - started - built:.0f} s"
        )
        yield running
    finally:
        if os.environ.get("PACER_CONTAINERS_KEEP") != "1":
            local.down(running)
    # PACER_CONTAINERS_KEEP=1 (while working on these tests) leaves the stack up.
    if os.environ.get("PACER_CONTAINERS_KEEP") != "1":
        assert not local.containers(), "containers-down left containers behind"
        # A daemon the suite started, it stops (the images stay on disk for the next run).
        if started_dockerd is not None:
            stop_dockerd(started_dockerd)
