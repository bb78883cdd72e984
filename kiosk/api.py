"""The screen's local HTTP API (loopback only), declared by ``kiosk.models``.

The browser polls ``GET /api/state`` and sends ``POST /api/action``; flask-openapi3 checks
each action against :class:`~kiosk.models.Action` before the view runs (one that does not
fit is 400 ``bad_request`` in the one error shape, naming the field, never the value) and
writes the description at ``/openapi.json`` from the models (``serving.api``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from flask import Response, current_app
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.openapi import OpenAPI

from serving.api import api_app, refusals, reply
from serving.errors import ApiError

from .flow import Flow
from .models import Action, Error, Refusal, State, TrayPath

log = logging.getLogger("kiosk")

TITLE = "Kiosk screen (local)"
DESCRIPTION = (
    "The kiosk's own browser on loopback: the screen's state, the resident's button presses,"
    " the simulated printer's tray. No personal data. A button the screen shown does not"
    " take is ignored: the answer is the state, as it is. A refusal is {error, message}."
)


class KioskRefusal(ApiError):
    """What the kiosk's HTTP API refuses, in the one error shape."""

    STATUS: ClassVar[Mapping[Any, int]] = {
        Refusal.BAD_REQUEST: 400,
        Refusal.NOT_FOUND: 404,
        Refusal.METHOD_NOT_ALLOWED: 405,
        Refusal.REQUEST_TOO_LARGE: 413,
    }


_PNG = {"image/png": {"schema": {"type": "string", "format": "binary"}}}

bp = APIBlueprint("api", __name__, url_prefix="/api")


def app(import_name: str) -> OpenAPI:
    """The screen's API app, without the flow behind it: ``create_app`` adds that."""
    return api_app(
        import_name,
        title=TITLE,
        description=DESCRIPTION,
        error=Error,
        bad_request=lambda words: KioskRefusal(Refusal.BAD_REQUEST, words),
        log=log,
        blueprint=bp,
    )


def description() -> dict[str, Any]:
    """The OpenAPI description the kiosk serves at ``/openapi.json``."""
    return app(__name__).api_doc


def current_flow() -> Flow:
    flow: Flow = current_app.extensions["kiosk_flow"]  # create_app puts it there
    return flow


@bp.get("/state", responses={200: State, **refusals(Error)})
def state() -> Response:
    """The screen and what it shows"""
    return reply(current_flow().state())


@bp.post("/action", responses={200: State, **refusals(Error)})
def action(body: Action) -> Response:
    """A button press; the answer is the state after it"""
    flow = current_flow()
    flow.act(body.action, body.value)
    return reply(flow.state())


@bp.get(
    "/tray/<int:n>.png",
    responses={
        200: {"description": "the page as printed", "content": _PNG},
        **refusals(Error, 404),
    },
)
def tray(path: TrayPath) -> Response:
    """The simulated printer's output tray: the pages printed for this resident (final screen)"""
    flow = current_flow()
    pages = getattr(flow.printer, "tray", [])
    if flow.screen != "done" or path.n >= len(pages):
        raise KioskRefusal(Refusal.NOT_FOUND, "no such page in the tray")
    return Response(pages[path.n], mimetype="image/png", headers={"Cache-Control": "no-store"})
