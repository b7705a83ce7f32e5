"""Tasks that must finish even when whoever started them is cancelled.

Closing an SDK stream and writing a usage row after the consumer went away run
in their own task: a second cancellation of the consumer (anyio re-delivers
cancellation at every await) cannot interrupt them half-way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from pacer_common.logs import get_logger

log = get_logger(__name__)


class BackgroundTasks:
    """Tasks that must finish even when whoever started them is cancelled.

    Holds a strong reference to each (the event loop keeps only weak ones) until
    it is done; :meth:`drain` waits for the stragglers at shutdown.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, timeout_s: float) -> None:
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in late:
            task.cancel()
        if late:
            log.warning("llm_background_tasks_abandoned", count=len(late))
