"""Errors the simulator raises on purpose.

    SimError
    ├── SettingsError        bad LLM_SIM_* environment; the process exits with a message
    ├── InvalidModeError     bad ``POST /_sim/mode`` body; answered 400 by the control API
    └── InvalidRequestError  bad completion request; answered 400 in the provider's own
                             error shape, so the SDK under test raises its BadRequestError

The two 400s are rendered in different places on purpose: the control API has one
JSON error shape (``app.py`` maps it), while a completion error must look like the
provider it imitates, which only that provider's dialect knows how to write.
"""

from __future__ import annotations

from typing import Any


class SimError(Exception):
    """Base class of every error the simulator raises deliberately."""


class SettingsError(SimError):
    """The environment holds a value the simulator cannot run with."""


class InvalidModeError(SimError):
    """A ``/_sim/mode`` body names an unknown mode or carries an out-of-range field."""


class InvalidRequestError(SimError):
    """A completion request is missing a field or has one of the wrong type.

    ``param`` names the offending field when there is one (OpenAI reports it).
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def json_object(body: object) -> dict[str, Any]:
    """``body`` if it is a JSON object; else the request's 400, as both dialects word it."""
    if not isinstance(body, dict):
        raise InvalidRequestError("request body must be a JSON object")
    return body
