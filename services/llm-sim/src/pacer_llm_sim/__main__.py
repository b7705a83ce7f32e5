"""``python -m pacer_llm_sim``: serve the simulator with uvicorn (httptools) on uvloop until SIGTERM/SIGINT.

uvicorn, where the other services run hypercorn: every streamed token is one
ASGI ``send``, and hypercorn's h11 path made that send cost about three times
uvicorn's on httptools (measured in the README); the simulator stands in for a
provider on another machine, so its CPU is noise in every benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn
import uvloop

from pacer_llm_sim.app import create_app
from pacer_llm_sim.control import SimState
from pacer_llm_sim.exceptions import SettingsError
from pacer_llm_sim.settings import Settings

log = logging.getLogger("pacer_llm_sim")

# Hanging requests end as soon as `stopping` is set; this only bounds a slow stream.
GRACEFUL_TIMEOUT_S = 1


# What uvicorn logs, as an error, when the app ends a response early; the
# simulator does so on purpose (drop mode cuts the body, a hang ends unanswered
# at shutdown), so these lines would only pass a deliberate fault off as a bug.
_DELIBERATE = (
    "ASGI callable returned without completing response.",
    "ASGI callable returned without starting response.",
)


def _not_deliberate(record: logging.LogRecord) -> bool:
    return record.getMessage() not in _DELIBERATE


class _Server(uvicorn.Server):
    """uvicorn's server, stopped by the loop's own signal handlers, which also end
    hanging requests (``sim.stopping``). uvicorn's handlers would re-raise the
    signal once it has stopped: the process would die of SIGTERM, not exit 0."""

    def __init__(self, config: uvicorn.Config, sim: SimState) -> None:
        super().__init__(config)
        self.sim = sim

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for signum in signals:
            loop.add_signal_handler(signum, self._stop)
        try:
            yield
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)

    def _stop(self) -> None:
        self.should_exit = True
        self.sim.stopping.set()


async def run(settings: Settings) -> None:
    sim = SimState()
    config = uvicorn.Config(
        create_app(sim),
        host=settings.host,
        port=settings.port,
        http="httptools",
        ws="none",
        lifespan="on",
        access_log=False,
        # The root logger's format, set in main(); uvicorn's own would replace it.
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_TIMEOUT_S,
    )
    logging.getLogger("uvicorn.error").addFilter(_not_deliberate)
    await _Server(config, sim).serve()
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
