"""The coach's SSE response: a stream that holds a slot (chat, resume or notifications)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.types import Receive, Scope, Send


class SlotResponse(EventSourceResponse):
    """Gives the stream's slot back however the response ends, even if it never started."""

    def __init__(self, *args: Any, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
