"""Serving the center: HTTPS that refuses any client without a kiosk-CA certificate (M05)."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server


def mutual_tls_context(cert: Path, key: Path, client_ca: Path) -> ssl.SSLContext:
    """Server side of a mutual-TLS link: only clients certified by ``client_ca`` get in."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(cafile=str(client_ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def start(
    app: Flask, host: str, port: int, ctx: ssl.SSLContext
) -> tuple[BaseWSGIServer, threading.Thread]:
    """Serves ``app`` in a background thread; ``port`` 0 picks a free one (``server.port``)."""
    server = make_server(host, port, app, threaded=True, ssl_context=ctx)
    thread = threading.Thread(target=server.serve_forever, name="center", daemon=True)
    thread.start()
    return server, thread
