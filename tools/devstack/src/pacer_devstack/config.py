"""Ports and folders of one dev stack, from the environment with defaults.

Every port is a variable so that two stacks run side by side; the data folder
defaults to one per proxy port for the same reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]

# variable: (default, what listens there)
PORT_DEFAULTS: dict[str, tuple[int, str]] = {
    "PACER_HTTP_PORT": (8080, "Caddy, the only public entry"),
    "LLM_SIM_PORT": (8090, "LLM simulator (dev only)"),
    "CORE_API_PORT": (8001, "core-api"),
    "CORE_API_METRICS_PORT": (9101, "core-api Prometheus metrics (internal)"),
    "COACH_PORT": (8002, "coach"),
    "COACH_METRICS_PORT": (9102, "coach Prometheus metrics (internal)"),
    "BRIEFING_WORKER_PORT": (9103, "briefing-worker /health and Prometheus metrics (internal)"),
    "POSTGRES_PORT": (5433, "embedded Postgres"),
    "REDIS_PORT": (6380, "Valkey (Redis-compatible)"),
}

# One developer's machine: every account its tests, benchmarks and browser make
# comes from loopback, hundreds an hour. Production keeps core-api's defaults;
# set these in the environment to try the real limits under `make run`. The
# containers' tests and benchmark raise them the same way (production files
# and `make containers-up` keep the defaults).
DEV_SIGNUP_LIMITS = {
    "REGISTER_MAX_PER_IP": "1000000",
    "REGISTER_MAX_GLOBAL": "1000000",
    "NEW_ACCOUNT_BRIEFINGS_PER_MINUTE": "100000",
}


class StackConfigError(ValueError):
    pass


@dataclass(frozen=True)
class StackConfig:
    http_port: int
    llm_sim_port: int
    core_api_port: int
    core_api_metrics_port: int
    coach_port: int
    coach_metrics_port: int
    briefing_worker_port: int
    postgres_port: int
    redis_port: int
    data_dir: Path

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def ports(self) -> dict[str, int]:
        """Every port by its variable name."""
        return {
            "PACER_HTTP_PORT": self.http_port,
            "LLM_SIM_PORT": self.llm_sim_port,
            "CORE_API_PORT": self.core_api_port,
            "CORE_API_METRICS_PORT": self.core_api_metrics_port,
            "COACH_PORT": self.coach_port,
            "COACH_METRICS_PORT": self.coach_metrics_port,
            "BRIEFING_WORKER_PORT": self.briefing_worker_port,
            "POSTGRES_PORT": self.postgres_port,
            "REDIS_PORT": self.redis_port,
        }

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "valkey"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> StackConfig:
        env = dict(os.environ if env is None else env)
        ports: dict[str, int] = {}
        for name, (default, _) in PORT_DEFAULTS.items():
            raw = env.get(name, str(default))
            if not raw.isdigit() or not 1 <= int(raw) <= 65535:
                raise StackConfigError(f"{name} must be a port number (1-65535), got {raw!r}")
            ports[name] = int(raw)
        if len(set(ports.values())) != len(ports):
            raise StackConfigError(f"ports must all differ: {ports}")
        data_dir = Path(
            env.get("PACER_DATA_DIR") or REPO_ROOT / ".pacer" / f"stack-{ports['PACER_HTTP_PORT']}"
        ).resolve()
        return cls(
            http_port=ports["PACER_HTTP_PORT"],
            llm_sim_port=ports["LLM_SIM_PORT"],
            core_api_port=ports["CORE_API_PORT"],
            core_api_metrics_port=ports["CORE_API_METRICS_PORT"],
            coach_port=ports["COACH_PORT"],
            coach_metrics_port=ports["COACH_METRICS_PORT"],
            briefing_worker_port=ports["BRIEFING_WORKER_PORT"],
            postgres_port=ports["POSTGRES_PORT"],
            redis_port=ports["REDIS_PORT"],
            data_dir=data_dir,
        )
