"""Pieces of an OpenAPI 3 description that the center's and VRS's share.

Both answer a refusal as ``{error, message[, details]}`` (``serving.errors``) with a
stable code; each describes its own codes as ``#/components/schemas/Error``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}


def errors(*statuses: int) -> dict[str, Any]:
    """Responses for ``statuses``: each a JSON ``Error`` with a stable code and a reason."""
    return {
        str(s): {
            "description": "refused, with a stable code and a reason",
            "content": {"application/json": {"schema": ERROR}},
        }
        for s in statuses
    }


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A required JSON request body."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def error_schema(codes: Iterable[StrEnum]) -> dict[str, Any]:
    """The ``Error`` schema of an API whose refusals carry ``codes``."""
    return {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "enum": [c.value for c in codes]},
            "message": {"type": "string", "minLength": 1},
            "details": {"type": "array", "items": {"type": "object"}},
        },
    }
