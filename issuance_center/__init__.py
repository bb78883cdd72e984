"""The certificate issuance center (証明書交付センター).

Between kiosks (mutual TLS, kiosk CA) and VRS (mutual TLS, LGWAN CA): it
verifies card data against the card-issuer trust store, lets kiosks offer
only municipalities that provide convenience-store issuance, relays to VRS,
and records nothing of the application or the certificate (M06).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request

from card_reader import TrustStore

from .kiosks import KioskRegistry
from .sessions import Sessions, SessionStore
from .vrs_client import VrsClient

log = logging.getLogger("issuance_center")


@dataclass
class Center:
    trust: TrustStore
    kiosks: KioskRegistry
    sessions: Sessions
    vrs: VrsClient


def create_app(config: dict[str, Any] | None = None) -> Flask:
    from . import api

    app = api.app(__name__)  # the routes, the one error shape, /openapi.json
    app.config.update(
        SESSION_TTL=600.0, MAX_CONTENT_LENGTH=64 * 1024, VRS_TIMEOUT=10.0, VRS_CONNECTIONS=16
    )
    app.config.update(config or {})
    cfg = app.config
    vrs = cfg.get("VRS") or VrsClient(
        cfg["VRS_URL"],
        client_cert=(cfg["VRS_CLIENT_CERT"], cfg["VRS_CLIENT_KEY"]),
        ca_file=cfg["VRS_CA"],
        timeout=cfg["VRS_TIMEOUT"],
        connections=cfg["VRS_CONNECTIONS"],
    )
    trust = cfg.get("TRUST") or TrustStore.load(Path(cfg["TRUST_STORE"]))
    # KIOSK_CRL with KIOSK_CA: revoked kiosk certificates are refused here too (kiosks.py)
    kiosks = KioskRegistry(Path(cfg["KIOSKS"]), cfg.get("KIOSK_CRL"), cfg.get("KIOSK_CA"))
    store = cfg.get("SESSIONS")  # not `or`: an empty store is falsy (it has a length)
    app.extensions["center"] = Center(trust, kiosks, sessions(cfg) if store is None else store, vrs)

    @app.before_request
    def start_timer() -> None:
        g.t0 = time.perf_counter()

    @app.after_request
    def access_log(resp: Response) -> Response:
        # kiosk ID, operation, outcome and timing only (M06); detail: the code the card or VRS
        # gave, passed on in the answer's details (no personal data)
        details = g.get("error_details") or [{}]
        log.info(
            "kiosk=%s op=%s status=%d outcome=%s detail=%s ms=%.1f",
            g.get("kiosk_id", "-"),
            request.endpoint or "-",
            resp.status_code,
            g.get("error", "ok" if resp.status_code < 400 else "error"),
            details[0].get("error") or "-",
            (time.perf_counter() - g.get("t0", time.perf_counter())) * 1e3,
        )
        return resp

    return app


def sessions(cfg: dict[str, Any]) -> Sessions:
    """The store ``SESSION_STORE`` names: ``memory`` (this process's, the default) or
    ``redis`` (shared by the workers: ``REDIS_URL``, ``REDIS_PASSWORD``, and the 32-byte
    ``SESSION_SEAL_KEY`` every worker holds)."""
    kind = cfg.get("SESSION_STORE", "memory")
    if kind == "memory":
        return SessionStore(cfg["SESSION_TTL"])
    if kind == "redis":
        from .shared import RedisSessionStore

        return RedisSessionStore.connect(
            cfg["REDIS_URL"],
            cfg.get("REDIS_PASSWORD"),
            cfg["SESSION_SEAL_KEY"],
            cfg["SESSION_TTL"],
            prefix=cfg.get("REDIS_PREFIX", "center"),
        )
    raise ValueError(f"SESSION_STORE is memory or redis, not {kind!r}")


__all__ = ["Center", "create_app"]
