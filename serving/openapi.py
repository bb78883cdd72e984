"""Pieces of an OpenAPI 3 description that the center's and VRS's share.

Both answer a refusal as ``{error, message, ...}`` with a stable code; each
system describes its own ``Error`` schema (its codes) under
``#/components/schemas/Error``.
"""

from __future__ import annotations

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
