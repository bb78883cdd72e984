"""VRS, the vaccination record system: per-municipality encrypted areas, staff, issuance.

``create_app(config)`` builds the LGWAN listener's app (``lgwan_api`` without a record
system: its description); the center calls ``/v1/…`` over
mutual TLS (LGWAN), staff use ``/staff/…`` after logging in, and the SHC
issuer's key set is served at ``/.well-known/jwks.json`` and the VDS-NC seal's CSCA
at ``/.well-known/csca.pem``. Every route's request and answer are the models of
``vrs.models``; each listener serves its description at ``/openapi.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask_openapi3.openapi import OpenAPI

from certs import IssuerKey, vds_pki
from certs.vds import VdsError
from serving.access import log_requests
from serving.api import api_app

from .areas import Vrs
from .crypto import MasterKey
from .errors import Code, VrsError
from .municipalities import Municipality
from .staff import StaffService
from .storage import database_of, open_storage

log = logging.getLogger("vrs")
DEFAULT_ISS = "https://vrs.localhost/issuer"


def open_vrs(instance: Path, iss: str = DEFAULT_ISS, database: Path | str | None = None) -> Vrs:
    """The record system of an instance folder; keys are created there at first run.

    ``database``: a SQLite file or a ``postgresql://`` URL; by default ``$VRS_DATABASE_URL``,
    else ``vrs.sqlite3`` in the instance folder. The keys stay in the folder either way.
    """
    instance = Path(instance)
    instance.mkdir(parents=True, exist_ok=True)
    try:
        seal_signer = vds_pki.load_or_create(instance / "vds-pki")
    except VdsError as exc:  # a damaged key or certificate file: said, not a traceback
        raise VrsError(Code.STORAGE_ERROR, f"{instance / 'vds-pki'}: {exc.message}") from None
    return Vrs(
        open_storage(database_of(database, instance)),
        MasterKey.load_or_create(instance / "master.key"),
        IssuerKey.load_or_create(instance / "shc-issuer.key.pem"),
        iss,
        seal_signer,
    )


def lgwan_api(config: dict[str, Any] | None = None) -> OpenAPI:
    """The LGWAN listener's app and its description, not yet given a record system."""
    from .api import center, staff, staff_login, wellknown
    from .models import Error

    app = api_app(
        __name__,
        title="VRS (LGWAN side)",
        description="Mutual TLS with an LGWAN-CA client certificate. /v1: the certificate"
        " issuance center's certificate only. /staff: a personal bearer token from /staff/login.",
        error=Error,
        bad_request=lambda words: VrsError(Code.BAD_REQUEST, words),
        log=log,
        security_schemes={"staff": {"type": "http", "scheme": "bearer"}},
    )
    app.config.update(
        CENTER_CN="issuance-center", MAX_CONTENT_LENGTH=256 * 1024 * 1024, ISS=DEFAULT_ISS
    )
    app.config.update(config or {})
    for api in (center, staff_login, staff, wellknown):
        app.register_api(api)
    log_requests(app, logging.getLogger("vrs.access"))
    return app


def create_app(config: dict[str, Any] | None = None) -> OpenAPI:
    """The LGWAN listener: ``VRS`` (a record system), or ``INSTANCE`` to open one."""
    app = lgwan_api(config)
    records = app.config.get("VRS") or open_vrs(
        Path(app.config["INSTANCE"]), app.config["ISS"], app.config.get("DATABASE")
    )
    app.extensions["vrs"] = records
    app.extensions["vrs_staff"] = StaffService(records)
    return app


__all__ = ["Municipality", "Vrs", "VrsError", "create_app", "lgwan_api", "open_vrs"]
