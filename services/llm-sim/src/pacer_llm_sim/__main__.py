"""``python -m pacer_llm_sim``: serve the simulator with hypercorn on uvloop until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import cast

import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.typing import Framework

from pacer_llm_sim.app import create_app
from pacer_llm_sim.control import SimState
from pacer_llm_sim.exceptions import SettingsError
from pacer_llm_sim.settings import Settings

log = logging.getLogger("pacer_llm_sim")

# Hanging requests end as soon as `stopping` is set; this only bounds a slow stream.
GRACEFUL_TIMEOUT_S = 1.0


def _bind(settings: Settings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"{host}:{settings.port}"


async def run(settings: Settings) -> None:
    sim = SimState()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, sim.stopping.set)
    config = Config()
    config.bind = [_bind(settings)]
    config.graceful_timeout = GRACEFUL_TIMEOUT_S
    # Hypercorn's own "Running on ..." line then goes through the root logger, once.
    config.errorlog = logging.getLogger("hypercorn.error")
    # Starlette's ASGI types are looser than hypercorn's TypedDicts; the app is plain ASGI 3.
    app = cast(Framework, create_app(sim))
    await serve(app, config, shutdown_trigger=sim.stopping.wait)
    log.info("LLM simulator stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None
    uvloop.run(run(settings))


if __name__ == "__main__":
    main()
