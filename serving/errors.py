"""One error shape for every HTTP API: ``{error, message[, details]}``, and the Flask handlers.

``error`` is a stable code (each system's ``StrEnum``), ``message`` words for people,
``details`` a list of objects where there is more to say: the rows of a refused import,
or the code a downstream system (the card, VRS) gave, as ``{"error": code}``. Messages
and details never hold personal data.

An unexpected exception is a 500 ``internal`` whose traceback is logged *without its
message*: the message of an exception nobody foresaw can hold what a request carried (a
``KeyError`` keyed by a My Number, a ``ValueError`` quoting a typed value), and the log
must never hold personal data (M06). The frames, the exception types and their chain are
what a 500 is diagnosed from.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar

from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException

# the protocol's own refusals, the same code in every API; any other status is bad_request
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
}
INTERNAL = "internal"


def error_body(
    code: str, message: str, details: list[dict[str, object]] | None = None
) -> dict[str, object]:
    body: dict[str, object] = {"error": str(code), "message": message}
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    """A refusal: a stable code, words, an HTTP status (each system's ``STATUS`` table)."""

    STATUS: ClassVar[Mapping[Any, int]] = {}  # Any: each system's own Code

    def __init__(
        self, code: StrEnum, message: str, details: list[dict[str, object]] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        return self.STATUS[self.code]

    def to_json(self) -> dict[str, object]:
        return error_body(self.code, self.message, self.details)


def traceback_without_messages(exc: BaseException) -> str:
    """Each exception of the chain, oldest first: its frames and its type, not its message."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.insert(0, seen)
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return "\n".join(
        "Traceback (most recent call last):\n"
        + "".join(traceback.format_tb(e.__traceback__))
        + f"{type(e).__module__}.{type(e).__qualname__} (message not logged)"
        for e in chain
    )


def json_errors(app: Flask, log: logging.Logger) -> None:
    """Every refusal as ``{error, message[, details]}`` with a stable code; never a stack trace
    in an answer. ``g.error`` and ``g.error_details`` keep the code and details for a log line."""

    def answer(body: dict[str, object], status: int) -> Response:
        g.error, g.error_details = body["error"], body.get("details")
        resp = jsonify(body)
        resp.status_code = status
        return resp

    @app.errorhandler(ApiError)
    def refused(exc: ApiError) -> Response:
        return answer(exc.to_json(), exc.status)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 400
        resp = answer(
            error_body(HTTP_CODES.get(status, "bad_request"), exc.description or exc.name), status
        )
        # keep the protocol's own headers (a 405 must say which methods are allowed)
        resp.headers.extend(h for h in exc.get_headers() if h[0].lower() != "content-type")
        return resp

    @app.errorhandler(Exception)
    def internal(exc: Exception) -> Response:
        log.error("internal error\n%s", traceback_without_messages(exc))
        return answer(error_body(INTERNAL, "internal error"), 500)
