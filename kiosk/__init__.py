"""The kiosk: a touch-screen UI for the local browser, the card reader, the printer.

``create_app(config)`` makes the app that serves the screen on loopback; it starts no
thread. ``runtime(app).start()`` starts the card watcher and the kiosk's other threads
(``kiosk serve`` does, before serving; ``kiosk/runtime.py``), ``.stop()`` stops them.
The browser polls ``GET /api/state`` and sends ``POST /api/action``; the
stable QA contract is the ``data-screen``/``data-action`` attributes listed in
``kiosk/README.md``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, send_from_directory

from serving.errors import json_errors

from .center import CenterClient
from .flow import CardWatcher, Flow
from .printer import CupsPrinter, SimulatedPrinter
from .runtime import KioskRuntime, runtime

STATIC = Path(__file__).parent / "static"

ui = Blueprint("ui", __name__)
api = Blueprint("api", __name__, url_prefix="/api")


def current_flow() -> Flow:
    flow: Flow = current_app.extensions["kiosk_flow"]  # create_app puts it there
    return flow


@ui.get("/")
def index() -> Response:
    return send_from_directory(STATIC, "index.html")


@ui.get("/favicon.ico")
def favicon() -> Response:
    """For whatever asks the usual place (the page itself names the SVG): no 404 to log."""
    return send_from_directory(STATIC, "favicon.svg")


@ui.get("/static/<path:name>")
def static_file(name: str) -> Response:
    return send_from_directory(STATIC, name)


@api.get("/state")
def state() -> Any:
    return jsonify(current_flow().state())


@api.post("/action")
def action() -> Any:
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("action"), str):
        return jsonify(error="bad_request", message="send {action, value}"), 400
    current_flow().act(data["action"], data.get("value"))
    return jsonify(current_flow().state())


@api.get("/tray/<int:n>.png")
def tray(n: int) -> Any:
    """The simulated printer's output tray: the pages printed for this resident."""
    pages = getattr(current_flow().printer, "tray", [])
    if current_flow().screen != "done" or not 0 <= n < len(pages):
        return jsonify(error="not_found", message="no such page in the tray"), 404
    return Response(pages[n], mimetype="image/png", headers={"Cache-Control": "no-store"})


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        IDLE_TIMEOUT=60.0,
        TAKE_TIMEOUT=180.0,
        CENTER_TIMEOUT=15.0,
        PRINTER="sim",
        PRINT_DIR=None,
        WATCH=True,
    )
    app.config.update(config or {})
    cfg = app.config
    center = cfg.get("CENTER") or CenterClient(
        cfg["CENTER_URL"],
        (str(cfg["CERT"]), str(cfg["KEY"])),
        str(cfg["CA"]),
        float(cfg["CENTER_TIMEOUT"]),
    )
    printer = cfg.get("PRINTER_OBJ") or (
        CupsPrinter(cfg.get("CUPS_DESTINATION"))
        if cfg["PRINTER"] == "cups"
        else SimulatedPrinter(Path(cfg["PRINT_DIR"]) if cfg["PRINT_DIR"] else None)
    )
    kiosk_flow = Flow(
        center,
        printer,
        cfg["READER"],
        idle_timeout=float(cfg["IDLE_TIMEOUT"]),
        take_timeout=float(cfg["TAKE_TIMEOUT"]),
        terminal=cfg.get("PAYMENT"),  # a PaymentTerminal; None: the simulated one
    )
    app.extensions["kiosk_flow"] = kiosk_flow
    # nothing starts here: runtime(app).start() does, for whoever serves the app
    watcher = CardWatcher(kiosk_flow) if cfg["WATCH"] else None
    app.extensions["kiosk_runtime"] = KioskRuntime(center, kiosk_flow, watcher)
    app.register_blueprint(ui)
    app.register_blueprint(api)
    json_errors(app, logging.getLogger("kiosk"))

    @app.after_request
    def no_cache(resp: Response) -> Response:
        resp.headers["Cache-Control"] = "no-store"  # nothing of a resident lingers in a cache
        return resp

    return app


__all__ = ["KioskRuntime", "create_app", "runtime"]
