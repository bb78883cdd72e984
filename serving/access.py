"""An access log for a Flask app that never writes a URL.

A URL can carry what a user typed (a My Number pasted where a row ID belongs):
each request is logged by its route's template (``/staff/persons/<person_id>``),
method, status and time only.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request


def log_requests(app: Flask, log: logging.Logger) -> None:
    @app.before_request
    def _start() -> None:
        g.access_t0 = time.perf_counter()

    @app.after_request
    def _log(resp: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule is not None else "-"
        t0 = g.get("access_t0", time.perf_counter())
        log.info(
            "%s %s status=%d ms=%.1f",
            request.method,
            rule,
            resp.status_code,
            (time.perf_counter() - t0) * 1e3,
        )
        return resp
