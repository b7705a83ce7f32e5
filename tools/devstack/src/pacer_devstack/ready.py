"""Wait until every part of the stack answers its health check, then say so."""

from __future__ import annotations

import time

import httpx

from pacer_devstack.config import StackConfig

POLL_INTERVAL_S = 0.25


# A route of the coach's through the proxy, asked without a token: the coach's
# own 401 says Caddy has it in its pool (its active check passed), where a 503
# says not yet.
PROXY_COACH_PATH = "/v1/coach/conversations"


def health_checks(config: StackConfig) -> dict[str, str]:
    # Readiness through the proxy covers Caddy, core-api, Postgres, Redis and the schema.
    return {
        "proxy → core-api /health/ready": f"{config.proxy_url}/health/ready",
        "proxy → coach": f"{config.proxy_url}{PROXY_COACH_PATH}",
        "llm-sim /health": f"http://127.0.0.1:{config.llm_sim_port}/health",
        "coach /health/ready": f"http://127.0.0.1:{config.coach_port}/health/ready",
        "briefing-worker /health": f"http://127.0.0.1:{config.briefing_worker_port}/health",
    }


def _passes(url: str, status: int) -> bool:
    return status == (401 if url.endswith(PROXY_COACH_PATH) else 200)


def wait_until_ready(config: StackConfig, timeout_s: float) -> list[str]:
    """Poll until all checks pass; return the failing checks (empty when ready)."""
    deadline = time.monotonic() + timeout_s
    pending = health_checks(config)
    with httpx.Client(timeout=2.0) as client:
        while True:
            for name, url in list(pending.items()):
                try:
                    if _passes(url, client.get(url).status_code):
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if not pending or time.monotonic() >= deadline:
                return list(pending)
            time.sleep(POLL_INTERVAL_S)
