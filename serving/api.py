"""An HTTP API declared once, as pydantic models, served with flask-openapi3.

Each view takes its typed ``path``/``query``/``body``; flask-openapi3 checks them against
their models before the view runs and writes the OpenAPI 3.1 description (``/openapi.json``)
from the same models. What this module adds, for every system alike (the center's API,
both of VRS's listeners):

- :func:`api_app`: the ``OpenAPI`` app, without documentation UI or static files, with the
  one error shape and its handlers (``serving.errors``). A path, query or body that does
  not fit its model is refused with the system's own ``bad_request`` (status 400), raised
  so that its handler answers it and records it for the access log, never pydantic's 422
  list; a body that is no JSON object, a JSON *string* included, is refused alike. Its
  ``/openapi.json`` route is described too.
- :func:`reasons`: the words of that refusal. Each field at fault and what it must be, at
  most :data:`MAX_REASONS`; never a value sent (a My Number typed into the wrong field),
  and never a key the model does not know (a My Number or a name sent as a key: M08).
- :func:`error_model` / :func:`refusals`: the ``Error`` model of a system's stable codes,
  and the responses of an operation that refer to it; :func:`reply`: a model as the JSON
  answer.
- :class:`Strict` / :class:`Closed`: request bodies whose types are taken as sent, the
  latter refusing any field it does not name; ``JsonInt``: an integer as JSON Schema means
  it (8.0 is 8), for strict models.
- :func:`openapi31`: a schema written for OpenAPI 3.0 (``nullable``) as 3.1 says it, for
  schemas owned elsewhere (the printable certificate's, ``certs.printable``).

Not re-exported by ``serving``: only the apps that use it load flask-openapi3.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, NoReturn

from flask import Request, Response, current_app
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models.info import Info
from flask_openapi3.openapi import OpenAPI
from flask_openapi3.types import ResponseDict, SecuritySchemesDict
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    create_model,
)
from pydantic.json_schema import SkipJsonSchema

from .errors import ApiError, json_errors

BAD_REQUEST = 400
MAX_REASONS = 5
# a name in a location that may be said: the model's own field names are of this form; a
# key a client chose (a dict's key, a My Number) is said as "?" unless it is of this form too
FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")
NOT_AN_OBJECT = "the request body must be a JSON object"
UNKNOWN_FIELDS = "the request holds fields the API does not know"
# the whole body was not an object (or no JSON at all): pydantic says so at the root
_NOT_AN_OBJECT = {"model_type", "model_attributes_type", "dict_type", "json_invalid", "json_type"}
# our words for what pydantic found: the expectation, from the model; never the value given
_WORDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "value_error": lambda c: str(c.get("error", "is not valid")),  # our validators' words
    "missing": lambda c: "is required",
    "string_type": lambda c: "must be a string",
    "int_type": lambda c: "must be a whole number",
    "int_parsing": lambda c: "must be a whole number",
    "int_from_float": lambda c: "must be a whole number",
    "float_type": lambda c: "must be a number",
    "float_parsing": lambda c: "must be a number",
    "bool_type": lambda c: "must be true or false",
    "bool_parsing": lambda c: "must be true or false",
    "list_type": lambda c: "must be a list",
    "dict_type": lambda c: "must be an object",
    "model_type": lambda c: "must be an object",
    "model_attributes_type": lambda c: "must be an object",
    "literal_error": lambda c: f"must be {c.get('expected', 'one of the values described')}",
    "enum": lambda c: f"must be {c.get('expected', 'one of the values described')}",
    "string_pattern_mismatch": lambda c: f"must match {c.get('pattern', 'its pattern')}",
    "string_too_short": lambda c: f"must have at least {c.get('min_length')} characters",
    "string_too_long": lambda c: f"must have at most {c.get('max_length')} characters",
    "too_short": lambda c: f"must have at least {c.get('min_length')} items",
    "too_long": lambda c: f"must have at most {c.get('max_length')} items",
    "greater_than_equal": lambda c: f"must be at least {c.get('ge')}",
    "greater_than": lambda c: f"must be more than {c.get('gt')}",
    "less_than_equal": lambda c: f"must be at most {c.get('le')}",
    "less_than": lambda c: f"must be less than {c.get('lt')}",
}


# --- request models -------------------------------------------------------------------------


class Strict(BaseModel):
    """A request body: types as sent (no ``"2"`` for 2, no ``true`` for 1)."""

    model_config = ConfigDict(strict=True)


class Closed(Strict):
    """A request body that refuses any field it does not name (never naming it back)."""

    model_config = ConfigDict(strict=True, extra="forbid")


def _whole(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer as JSON Schema means it: 8.0 is 8 (the description cannot say otherwise), a bool
# or a string is no integer. For strict models, whose ``int`` refuses 8.0.
JsonInt = Annotated[int, BeforeValidator(_whole)]


# --- refusals -------------------------------------------------------------------------------


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) if isinstance(p, int) or FIELD_NAME.fullmatch(p) else "?" for p in loc)


def reasons(exc: ValidationError) -> str:
    """Why a request is refused: each field at fault and what it must be, no value sent.

    A key the model does not know (``extra="forbid"``) is counted but never named: a kiosk
    or a tablet may send a My Number or a name as a key (M08). pydantic's own messages are
    not used: ours are the model's expectation only.
    """
    said: list[str] = []
    for err in exc.errors(include_url=False, include_input=False):
        kind, where = err["type"], _where(err["loc"])
        if kind == "extra_forbidden":
            reason = UNKNOWN_FIELDS
        elif not where and kind in _NOT_AN_OBJECT:
            return NOT_AN_OBJECT
        else:
            words = _WORDS.get(kind)
            must = words(err.get("ctx", {})) if words else "is not valid"
            reason = f"{where or 'the request'} {must}"
        if reason not in said:
            said.append(reason)
    if not said:
        return "the request does not fit the API"
    more = len(said) - MAX_REASONS
    return "; ".join(said[:MAX_REASONS]) + (f" (and {more} more)" if more > 0 else "")


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
        message=(str, Field(min_length=1, description="words for people, no personal data")),
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
    return dict.fromkeys(sorted({BAD_REQUEST, *statuses}), error)


def reply(model: BaseModel, status: int = 200) -> Response:
    """``model`` as the JSON answer: the fields it was given (an optional one left out stays out)."""
    return current_app.response_class(
        model.model_dump_json(exclude_unset=True), status=status, mimetype="application/json"
    )


# --- the app --------------------------------------------------------------------------------


class _JsonRequest(Request):
    """flask-openapi3 reads a body that is a JSON *string* as JSON a second time; here a
    string is no object, as any other non-object body, whatever the body's model."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        data = super().get_json(force=force, silent=silent, cache=cache)
        return None if isinstance(data, str) else data


_JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}


def api_app(
    import_name: str,
    *,
    title: str,
    description: str,
    error: type[BaseModel],
    bad_request: Callable[[str], ApiError],
    log: logging.Logger,
    version: str = "1",
    security_schemes: SecuritySchemesDict | None = None,
    blueprint: APIBlueprint | None = None,
) -> OpenAPI:
    """A Flask app (flask-openapi3's ``OpenAPI``) for an API, with its ``blueprint``
    registered (or register an ``APIBlueprint`` later with ``app.register_api``).

    ``error`` is the API's :func:`error_model`; ``bad_request(words)`` the system's own
    400 refusal (its ``ApiError`` with its ``bad_request`` code), which the error handlers
    answer in the one shape; ``log`` takes the tracebacks of 500s. Operations name their
    ``security_schemes`` in ``security`` (``APIBlueprint(abp_security=...)``).
    """
    if bad_request("").status != BAD_REQUEST:
        raise ValueError("bad_request must make a refusal with status 400")

    def refuse(exc: ValidationError) -> NoReturn:
        raise bad_request(reasons(exc)) from None

    app = OpenAPI(
        import_name,
        info=Info(title=title, version=version, description=description),
        security_schemes=security_schemes or {},  # None would be written as null: invalid
        doc_ui=False,
        static_folder=None,
        validation_error_status=BAD_REQUEST,
        validation_error_model=error,  # so the components hold our Error, not pydantic's
        validation_error_callback=refuse,
    )
    app.request_class = _JsonRequest
    json_errors(app, log)

    def openapi() -> dict[str, Any]:
        """This description"""
        return app.api_doc

    app.get(
        "/openapi.json",
        responses={200: {"description": "OpenAPI 3.1", "content": _JSON_OBJECT}, 400: error},
    )(openapi)
    if blueprint is not None:
        app.register_api(blueprint)
    return app


def openapi31(schema: Any) -> Any:
    """An OpenAPI 3.0 schema as 3.1 (JSON Schema 2020-12) says it: ``"nullable": true``, which
    3.1 validators ignore, becomes ``anyOf`` with ``null`` (as pydantic writes ``X | None``;
    flask-openapi3 takes no list of types). A property named ``nullable`` stays."""
    if isinstance(schema, list):
        return [openapi31(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        k: openapi31(v)
        for k, v in schema.items()
        if not (k == "nullable" and isinstance(v, bool))  # the keyword, not a property
    }
    return {"anyOf": [out, {"type": "null"}]} if schema.get("nullable") is True else out
