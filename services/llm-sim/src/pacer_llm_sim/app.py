"""The simulator's ASGI app: routes, error mapping and shared state, in one table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from starlette.applications import Starlette
from starlette.routing import Route

from pacer_llm_sim import anthropic_api, control_api, openai_api
from pacer_llm_sim.control import SimState
from pacer_llm_sim.exceptions import InvalidModeError
from pacer_llm_sim.playback import LLMEndpoint


class AppState(TypedDict):
    sim: SimState


def create_app(sim: SimState | None = None) -> Starlette:
    """Build the app around ``sim`` (a fresh SimState by default), which the
    caller may keep to share its ``stopping`` event with the server."""
    state = SimState() if sim is None else sim

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[AppState]:
        yield {"sim": state}

    return Starlette(
        routes=[
            Route("/health", control_api.health, methods=["GET"]),
            Route(anthropic_api.ENDPOINT, LLMEndpoint(anthropic_api.DIALECT), methods=["POST"]),
            Route(openai_api.ENDPOINT, LLMEndpoint(openai_api.DIALECT), methods=["POST"]),
            Route("/_sim/mode", control_api.get_mode, methods=["GET"]),
            Route("/_sim/mode", control_api.set_mode, methods=["POST"]),
            Route("/_sim/reset", control_api.reset, methods=["POST"]),
            Route("/_sim/stats", control_api.stats, methods=["GET"]),
        ],
        exception_handlers={InvalidModeError: control_api.invalid_mode},
        lifespan=lifespan,
    )
