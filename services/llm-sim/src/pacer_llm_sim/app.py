"""The simulator's ASGI app: routes, error mapping and shared state, in one table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pacer_llm_sim import anthropic_api, control_api, openai_api
from pacer_llm_sim.control import SimState
from pacer_llm_sim.exceptions import InvalidModeError
from pacer_llm_sim.playback import LLMEndpoint


class AppState(TypedDict):
    sim: SimState


class SimApp:
    """The completion routes served directly, everything else by Starlette.

    A streamed token is one ASGI ``send``; Starlette's middleware wraps ``send``
    twice more and its router adds a match per request, which the two hot routes
    do without (they map their own errors to the provider's shape anyway).
    """

    def __init__(self, sim: SimState) -> None:
        self.sim = sim
        self.completions = {
            anthropic_api.ENDPOINT: LLMEndpoint(anthropic_api.DIALECT, sim),
            openai_api.ENDPOINT: LLMEndpoint(openai_api.DIALECT, sim),
        }

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[AppState]:
            yield {"sim": sim}

        self.control = Starlette(
            routes=[
                Route("/health", control_api.health, methods=["GET"]),
                # Listed for their 405 on other methods; POSTs never reach them here.
                *(
                    Route(path, endpoint, methods=["POST"])
                    for path, endpoint in self.completions.items()
                ),
                Route("/_sim/mode", control_api.get_mode, methods=["GET"]),
                Route("/_sim/mode", control_api.set_mode, methods=["POST"]),
                Route("/_sim/reset", control_api.reset, methods=["POST"]),
                Route("/_sim/stats", control_api.stats, methods=["GET"]),
            ],
            exception_handlers={InvalidModeError: control_api.invalid_mode},
            lifespan=lifespan,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.completions.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.control(scope, receive, send)


def create_app(sim: SimState | None = None) -> SimApp:
    """Build the app around ``sim`` (a fresh SimState by default), which the
    caller may keep to share its ``stopping`` event with the server."""
    return SimApp(SimState() if sim is None else sim)
