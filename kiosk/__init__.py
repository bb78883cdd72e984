"""The kiosk: a touch-screen UI for the local browser, the card reader, the printer.

``create_app(config)`` makes the app that serves the screen on loopback; it starts no
thread. ``runtime(app).start()`` starts the card watcher and the kiosk's other threads
(``kiosk serve`` does, before serving; ``kiosk/runtime.py``), ``.stop()`` stops them.
The browser polls ``GET /api/state`` and sends ``POST /api/action``; the
stable QA contract is the ``data-screen``/``data-action`` attributes listed in
``kiosk/README.md``. The API is declared once, as the typed models of ``kiosk/models.py``
(``kiosk/api.py`` serves them, and their description at ``/openapi.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, send_from_directory

from . import api
from .center import CenterClient
from .flow import CardWatcher, Flow, open_pcsc
from .printer import CupsPrinter, SimulatedPrinter
from .runtime import KioskRuntime, runtime

STATIC = Path(__file__).parent / "static"

ui = Blueprint("ui", __name__)


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


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = api.app(__name__)  # the screen's API, the one error shape, /openapi.json
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
        # opens the card in the reader: PC/SC, or one that traces it (kiosk serve --trace)
        connect=cfg.get("CONNECT") or open_pcsc,
    )
    app.extensions["kiosk_flow"] = kiosk_flow
    # nothing starts here: runtime(app).start() does, for whoever serves the app
    watcher = CardWatcher(kiosk_flow) if cfg["WATCH"] else None
    app.extensions["kiosk_runtime"] = KioskRuntime(center, kiosk_flow, watcher)
    app.register_blueprint(ui)

    @app.after_request
    def no_cache(resp: Response) -> Response:
        resp.headers["Cache-Control"] = "no-store"  # nothing of a resident lingers in a cache
        return resp

    return app


__all__ = ["KioskRuntime", "create_app", "runtime"]
