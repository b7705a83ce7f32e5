"""The control routes tests and benchmarks use to steer the simulator, and its health check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from pacer_llm_sim.control import SimState, parse_mode
from pacer_llm_sim.exceptions import InvalidModeError


def _sim(request: Request) -> SimState:
    sim: SimState = request.state.sim
    return sim


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def get_mode(request: Request) -> JSONResponse:
    return JSONResponse(_sim(request).mode_dict())


async def set_mode(request: Request) -> JSONResponse:
    """``POST /_sim/mode {"mode": "slow", "token_ms": 50}`` → the mode now in force."""
    try:
        body = await request.json()
    except ValueError:
        raise InvalidModeError("body must be a JSON object") from None
    sim = _sim(request)
    sim.set_mode(parse_mode(body))
    return JSONResponse(sim.mode_dict())


async def reset(request: Request) -> JSONResponse:
    """Back to normal mode with zeroed counters."""
    sim = _sim(request)
    sim.reset()
    return JSONResponse({"mode": sim.mode_dict(), "stats": sim.stats.as_dict()})


async def stats(request: Request) -> JSONResponse:
    return JSONResponse(_sim(request).stats.as_dict())


async def invalid_mode(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": {"code": "invalid_mode", "message": str(exc)}}, status_code=400)
