"""Typed HTTP APIs: each request and answer declared once, as a pydantic model.

flask-openapi3 checks each request against the models a view is annotated with
(``path: SomePath``, ``body: SomeBody``) before the view runs, and derives the
OpenAPI description from the same models. What this module adds, for every API:

- :func:`api_app`: an ``OpenAPI`` Flask app whose refusals all have the one shape
  (``serving.errors``): a path or body that does not fit its model is 400
  ``bad_request`` with a reason, not pydantic's 422 list, and that reason names no
  field and no value the caller chose (:func:`reasons`). No Swagger UI: the
  description is served at ``/openapi.json`` only.
- :func:`error_model`: the ``Error`` schema of an API, its stable codes enumerated,
  and :func:`refusals` to describe the statuses an operation may refuse with.
- :func:`reply`: a model as the JSON answer.
- :func:`openapi31`: an OpenAPI 3.0 schema (``nullable``) as 3.1 says it, for schemas
  kept as JSON (``certs.printable``) inside a 3.1 description.
- ``JsonInt``: an integer as JSON Schema means it, for ``strict`` models.

Not re-exported by ``serving``: only the apps that use it load flask-openapi3.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Annotated, Any

from flask import Request, Response, g, jsonify
from flask_openapi3.models.info import Info
from flask_openapi3.openapi import OpenAPI
from flask_openapi3.types import ResponseDict, SecuritySchemesDict
from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    WithJsonSchema,
    create_model,
)
from pydantic.json_schema import SkipJsonSchema

from .errors import HTTP_CODES, error_body, json_errors

BAD_REQUEST = 400
NOT_AN_OBJECT = "the request body must be a JSON object"
# the whole body was not an object (or no JSON at all): pydantic says so at the root
_NOT_AN_OBJECT = {"model_type", "model_attributes_type", "dict_type", "json_invalid", "json_type"}


class _JsonRequest(Request):
    """flask-openapi3 reads a body that is a JSON *string* as JSON a second time; here a
    string is no object, as any other non-object body."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        data = super().get_json(force=force, silent=silent, cache=cache)
        return None if isinstance(data, str) else data


def _whole(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer as JSON Schema means it: 8.0 is 8 (the description cannot say otherwise), a bool
# or a string is no integer. For models with ``strict=True``, whose ``int`` refuses 8.0.
JsonInt = Annotated[int, BeforeValidator(_whole)]


def reasons(exc: ValidationError) -> str:
    """Why a request did not fit its model, in words that repeat nothing the caller chose.

    Top-level names are the model's own (a model with ``extra="forbid"`` refuses others as
    ``extra_forbidden``, counted here but never named: M08); what lies below them, and
    every value, is left out. pydantic's messages name the rule, not the input.
    """
    said: list[str] = []
    for e in exc.errors(include_url=False, include_input=False, include_context=False):
        loc, kind = e["loc"], e["type"]
        if kind == "extra_forbidden":
            reason = "the request holds fields the API does not know"
        elif not loc:
            reason = NOT_AN_OBJECT if kind in _NOT_AN_OBJECT else e["msg"]
        elif isinstance(loc[0], str):
            reason = f"{loc[0]}: {e['msg']}"
        else:
            reason = e["msg"]
        if reason not in said:
            said.append(reason)
    return "; ".join(said) or "the request does not fit the API"


def bad_request(exc: ValidationError) -> Response:
    """flask-openapi3's ``validation_error_callback``: 400 ``bad_request`` in our shape."""
    body = error_body(HTTP_CODES[BAD_REQUEST], reasons(exc))
    g.error, g.error_details = body["error"], None  # for the access log, as json_errors does
    resp = jsonify(body)
    resp.status_code = BAD_REQUEST
    return resp


_Details = list[dict[str, Any]] | SkipJsonSchema[None]


def error_model(codes: type[StrEnum]) -> type[BaseModel]:
    """The ``Error`` schema of an API whose refusals carry ``codes``: ``{error, message[,
    details]}`` (``serving.errors``), the codes enumerated in it."""
    # inline, as one list, rather than a $ref to the enum's own schema
    inline = WithJsonSchema({"type": "string", "enum": [c.value for c in codes]})
    code = Annotated[codes, inline]  # type: ignore[valid-type]  # the enum is a value here
    return create_model(
        "Error",
        error=(code, Field(description="a stable code")),
        message=(str, Field(min_length=1, description="words for people")),
        # left out when there is nothing more to say (never null)
        details=(
            _Details,
            Field(default=None, description="more: e.g. the code a downstream system gave"),
        ),
    )


def refusals(error: type[BaseModel], *statuses: int) -> ResponseDict:
    """The responses of an operation that refuses with ``statuses``, each an ``error``.

    400 is always among them: any request may be malformed, and flask-openapi3 would
    otherwise describe a 400 of its own (pydantic's list) that we never send.
    """
    return {s: error for s in sorted({BAD_REQUEST, *statuses})}


def reply(answer: BaseModel, status: int = 200) -> Response:
    resp = jsonify(answer.model_dump(mode="json"))
    resp.status_code = status
    return resp


def openapi31(schema: Any) -> Any:
    """An OpenAPI 3.0 schema as 3.1 (JSON Schema 2020-12) says it: ``"nullable": true``, which
    3.1 validators ignore, becomes ``anyOf`` with ``null`` (as pydantic writes ``X | None``;
    flask-openapi3 takes no list of types)."""
    if isinstance(schema, list):
        return [openapi31(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    nullable = schema.get("nullable") is True
    out = {k: openapi31(v) for k, v in schema.items() if not (k == "nullable" and nullable)}
    return {"anyOf": [out, {"type": "null"}]} if nullable else out


def api_app(
    import_name: str,
    *,
    title: str,
    description: str,
    error: type[BaseModel],
    log: logging.Logger,
    version: str = "1",
    security_schemes: SecuritySchemesDict | None = None,
) -> OpenAPI:
    """A Flask app (flask-openapi3's ``OpenAPI``) for an API: register its ``APIBlueprint``
    with ``app.register_api``. ``error`` is the API's :func:`error_model`; operations name
    their ``security_schemes`` in ``security`` (``APIBlueprint(abp_security=...)``)."""
    app = OpenAPI(
        import_name,
        info=Info(title=title, version=version, description=description),
        security_schemes=security_schemes or {},  # None would be written as null: invalid
        doc_ui=False,
        validation_error_status=BAD_REQUEST,
        validation_error_model=error,  # so the components hold our Error, not pydantic's
        validation_error_callback=bad_request,
    )
    app.request_class = _JsonRequest
    json_errors(app, log)

    app.add_url_rule("/openapi.json", "openapi", lambda: jsonify(app.api_doc))
    return app
