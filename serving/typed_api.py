"""An HTTP API declared once as pydantic models, served with flask-openapi3.

Each view takes its typed ``path``/``query``/``body``; flask-openapi3 validates them before
the view runs and writes the OpenAPI 3.1 description (``/openapi.json``) from the same
models. What this module adds, for every system alike:

- ``api_app``: the ``OpenAPI`` app without its documentation UI, whose refusal of an
  invalid request is the system's own ``bad_request`` (``{error, message}``, status 400),
  not pydantic's 422 list; its ``/openapi.json`` route, described too.
- ``invalid_request``: the words of that refusal. They name the fields at fault and why,
  never a value sent (a My Number typed in the wrong field) nor a key that is not a field
  name (a My Number sent as a key).
- ``error_model`` / ``errors``: the ``Error`` model of a system's stable codes, and the
  responses that refer to it; ``answer``: a response model as the JSON answer.
- ``openapi31``: a schema written for OpenAPI 3.0 (``nullable``) in the 3.1 form, for
  schemas owned elsewhere (the printable certificate's, ``certs.printable``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, NoReturn, Self

from flask import Response, current_app
from flask_openapi3.models.info import Info
from flask_openapi3.openapi import OpenAPI
from flask_openapi3.types import ResponseDict
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")
# our words for what pydantic found: the expectation, from the model; never the value given
_WORDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "value_error": lambda c: str(c.get("error", "is not valid")),  # our validators' words
    "missing": lambda c: "is required",
    "extra_forbidden": lambda c: "is not a field of this request",
    "string_type": lambda c: "must be a string",
    "int_type": lambda c: "must be a whole number",
    "bool_type": lambda c: "must be true or false",
    "list_type": lambda c: "must be a list",
    "dict_type": lambda c: "must be an object",
    "model_type": lambda c: "must be an object",
    "model_attributes_type": lambda c: "must be an object",
    "literal_error": lambda c: f"must be {c.get('expected', 'one of the values described')}",
    "enum": lambda c: f"must be {c.get('expected', 'one of the values described')}",
    "string_pattern_mismatch": lambda c: f"must match {c.get('pattern', 'its pattern')}",
    "string_too_short": lambda c: f"must have at least {c.get('min_length')} characters",
    "string_too_long": lambda c: f"must have at most {c.get('max_length')} characters",
    "greater_than_equal": lambda c: f"must be at least {c.get('ge')}",
    "less_than_equal": lambda c: f"must be at most {c.get('le')}",
}
MAX_REASONS = 5


class Strict(BaseModel):
    """A request body: types as sent (no ``"2"`` for 2, no ``true`` for 1)."""

    model_config = ConfigDict(strict=True)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        """Refuses a JSON string: flask-openapi3 hands a body that is a JSON *string* here,
        to be parsed once more, and a body must be a JSON object itself."""
        return cls.model_validate(json_data, **kwargs)


class Closed(Strict):
    """A request body that refuses any field it does not name."""

    model_config = ConfigDict(strict=True, extra="forbid")


def invalid_request(exc: ValidationError) -> str:
    """Why a request is refused: each field at fault and what it must be, no value sent."""
    reasons = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(
            str(p) if isinstance(p, int) or FIELD_NAME.fullmatch(p) else "?" for p in err["loc"]
        )
        if not where:
            if err["type"] in ("model_type", "model_attributes_type", "dict_type"):
                return "the request body must be a JSON object"
            where = "the request"
        words = _WORDS.get(err["type"])
        reasons.append(f"{where} {words(err.get('ctx', {})) if words else 'is not valid'}")
    more = len(reasons) - MAX_REASONS
    return "; ".join(reasons[:MAX_REASONS]) + (f" (and {more} more)" if more > 0 else "")


def error_model(codes: type[StrEnum]) -> type[BaseModel]:
    """The ``Error`` of an API whose refusals carry ``codes`` (``serving.errors``)."""
    return create_model(
        "Error",
        error=(codes, Field(description="a stable code")),
        message=(str, Field(min_length=1, description="words for people, no personal data")),
        details=(list[dict[str, Any]] | None, None),
    )


def answer(model: BaseModel, status: int = 200) -> Response:
    """``model`` as the JSON answer: the fields it was given (an optional one left out stays out)."""
    return current_app.response_class(
        model.model_dump_json(exclude_unset=True), status=status, mimetype="application/json"
    )


def errors(model: type[BaseModel], *statuses: int) -> ResponseDict:
    """Responses for ``statuses``: each an ``Error`` with a stable code and a reason."""
    return dict.fromkeys(statuses, model)


def api_app(
    import_name: str,
    *,
    title: str,
    description: str,
    error: type[BaseModel],
    bad_request: Callable[[str], Exception],
    security_schemes: Mapping[str, dict[str, Any]] | None = None,
    **flask: Any,
) -> OpenAPI:
    """An ``OpenAPI`` app: invalid requests refused with ``bad_request(words)`` (a 400 of the
    system's own error), its description at ``/openapi.json``, no documentation UI."""

    def refuse(exc: ValidationError) -> NoReturn:
        raise bad_request(invalid_request(exc)) from None

    app = OpenAPI(
        import_name,
        info=Info(title=title, version="1", description=description),
        security_schemes=dict(security_schemes or {}),
        validation_error_status=400,
        validation_error_model=error,
        validation_error_callback=refuse,
        doc_ui=False,
        **flask,
    )

    def openapi() -> dict[str, Any]:
        """This description"""
        return app.api_doc

    openapi.__name__ = "openapi"
    app.get(
        "/openapi.json",
        responses={200: {"description": "OpenAPI 3.1", "content": _JSON_OBJECT}, 400: error},
    )(openapi)
    return app


_JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}


def openapi31(schema: Any) -> Any:
    """``schema`` (OpenAPI 3.0: ``nullable``) as OpenAPI 3.1 writes it (a union with null)."""
    if isinstance(schema, list):
        return [openapi31(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: openapi31(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out
