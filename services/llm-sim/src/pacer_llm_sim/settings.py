"""The simulator's configuration, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pacer_llm_sim.exceptions import SettingsError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090


@dataclass(frozen=True)
class Settings:
    """Where the simulator listens.

    >>> Settings.from_env({"LLM_SIM_PORT": "9001"}).port
    9001
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        host = env.get("LLM_SIM_HOST", "").strip() or DEFAULT_HOST
        return cls(host=host, port=_parse_port(env.get("LLM_SIM_PORT", "")))


def _parse_port(raw: str) -> int:
    if not raw.strip():
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise SettingsError(f"LLM_SIM_PORT must be an integer from 1 to 65535, got {raw!r}")
    return port
