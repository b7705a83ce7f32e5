"""Parse a request's JSON body or query string into a pydantic model, or raise a 4xx."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from pacer_common.errors import MalformedJson, UnsupportedMediaType, ValidationFailed

ModelT = TypeVar("ModelT", bound=BaseModel)


def _details(error: ValidationError, prefix: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in ((prefix,) if prefix else ()) + item["loc"])
            or None,
            "message": item["msg"],
            "type": item["type"],
        }
        for item in error.errors(include_url=False, include_input=False)
    ]


def validation_failed(error: ValidationError, prefix: str | None = None) -> ValidationFailed:
    """``prefix``: where the validated value sits in the body (``conversation_config``),
    when it was validated apart from it."""
    details = _details(error, prefix)
    first = details[0]
    where = f"{first['field']}: " if first["field"] else ""
    return ValidationFailed(f"{where}{first['message']}", details=details)


async def parse_json_body(request: Request, model: type[ModelT]) -> ModelT:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType()
    body = await request.body()
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise MalformedJson() from None
        if any(item["type"] == "model_type" and not item["loc"] for item in error.errors()):
            raise ValidationFailed("The body must be a JSON object.") from None
        raise validation_failed(error) from None


def parse_query(request: Request, model: type[ModelT]) -> ModelT:
    """Validate the query string as text, the way a JSON body's strings are.

    ``model_validate`` in lax mode would read ``before=2026-11-23T00:00:00`` as a
    date; strict string validation refuses it, and still reads ``limit=30`` as 30.
    """
    try:
        return model.model_validate_strings(dict(request.query_params), strict=True)
    except ValidationError as error:
        raise validation_failed(error) from None


def path_uuid(request: Request, name: str, label: str) -> UUID:
    """The path parameter ``name`` as a UUID; 422 naming ``label`` otherwise."""
    try:
        return UUID(request.path_params[name])
    except ValueError:
        raise ValidationFailed(f"{label}: must be a UUID") from None
