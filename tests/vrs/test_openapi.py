"""Schemathesis against both VRS listeners, in process: no 5xx, every 4xx a reason, answers as described."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from certs import IssuerKey
from tests.hypothesis_profiles import fuzz
from vrs import Vrs, create_app, lgwan_api
from vrs.crypto import MasterKey
from vrs.demo import MUNICIPALITIES, residents
from vrs.site import CouponDesk, create_site_app, site_api
from vrs.storage import SQLiteStorage

from ..issuance_center.conftest import client_cert_pem
from .conftest import PASSWORD, ledger

# the descriptions each listener serves, derived from the models (vrs.models)
LGWAN_SPEC = lgwan_api().api_doc
SITE_SPEC = site_api().api_doc
lgwan_schema = schemathesis.openapi.from_dict(LGWAN_SPEC)
site_schema = schemathesis.openapi.from_dict(SITE_SPEC)
for _schema in (lgwan_schema, site_schema):
    # JSON Schema cannot state check digits (My Number, local government codes) or business
    # rules: a schema-valid request may still be refused with 400 or 422, with a reason
    _schema.config.checks.positive_data_acceptance.expected_statuses = [
        "2xx",
        "400",
        "401",
        "403",
        "404",
        "409",
        "422",
        "503",
    ]
TOKENS: dict[str, str] = {}  # role -> a live staff token, set by the ``world`` fixture


@lgwan_schema.auth(refresh_interval=None).apply_to(path_regex="^/staff/(?!login)")
class StaffToken:
    """A real staff session (statistics: a national one), so schemathesis knows the auth is
    genuine and probes each staff operation without it and with a forged one too.

    Cases are made at collection, before any session exists: the header names the role,
    and ``check`` puts that role's live token in its place just before the call.
    """

    def get(self, case: schemathesis.Case, ctx: object) -> str:
        return "national" if case.operation.path == "/staff/statistics" else "administrator"

    def set(self, case: schemathesis.Case, data: str, ctx: object) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer role:{data}"}


EXAMPLES = fuzz(25)  # HYPOTHESIS_PROFILE=campaign (bin/campaign): 100 times more


@dataclass
class World:
    app: Flask
    site: Flask
    center: FlaskClient  # the issuance center's certificate
    terminal: FlaskClient  # an LGWAN terminal: what staff use
    tablet: FlaskClient
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("vrs-openapi")
    with pytest.MonkeyPatch.context() as mp:
        # cheap argon2id: generated requests create staff IDs; hashing is tested elsewhere
        mp.setattr("vrs.staff._hasher", PasswordHasher(time_cost=1, memory_cost=1024))
        vrs = Vrs(
            SQLiteStorage(tmp / "vrs.sqlite3"),
            MasterKey.load_or_create(tmp / "master.key"),
            IssuerKey.generate(),
            "https://vrs.test/issuer",
        )
        people = list(residents(12, seed=7))
        for m in MUNICIPALITIES:
            vrs.add_municipality(m)
            vrs.area(m.code).import_csv(io.StringIO(ledger(people, m.code)))
        app = create_app({"TESTING": True, "VRS": vrs})
        site = create_site_app({"TESTING": True, "DESK": CouponDesk.from_vrs(vrs)})
        center, terminal, tablet = app.test_client(), app.test_client(), site.test_client()
        center.environ_base["SSL_CLIENT_CERT"] = client_cert_pem("issuance-center")
        terminal.environ_base["SSL_CLIENT_CERT"] = client_cert_pem("staff-terminal")
        tablet.environ_base["SSL_CLIENT_CERT"] = client_cert_pem("tablet-schemathesis")
        tokens = TOKENS
        # IDs no generated path parameter is likely to name (a DELETE could revoke them)
        for area, role in (("382051", "administrator"), ("national", "national")):
            uid = f"{role}-q7Zr2x"
            app.extensions["vrs_staff"].create("test", area, uid, PASSWORD, role)
            resp = terminal.post("/staff/login", json={"user_id": uid, "password": PASSWORD})
            tokens[role] = resp.json["token"]  # type: ignore[index]
        yield World(app, site, center, terminal, tablet, tokens)


def check(case: schemathesis.Case, client: FlaskClient, app: Flask) -> None:
    """One generated request through ``client`` (its certificate), then every check."""
    transport = {"app": app, "session": client}
    # the checks' own probes (a staff call without its token, with a forged one) go in
    # process too, through the schema's transport (the case's schema is a copy of ours)
    case.operation.schema.app = app
    auth = (case.headers or {}).get("Authorization", "")
    if auth.startswith("Bearer role:"):
        case.headers["Authorization"] = f"Bearer {TOKENS[auth.removeprefix('Bearer role:')]}"  # type: ignore[index]
    resp = case.call(**transport)
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        body = resp.json()
        assert body["error"] and body["message"]
    # DELETE /staff/persons/<person_id> also matches /staff/persons/lookup, so Flask's Allow
    # header there names DELETE; harmless (erasing row "lookup" finds nothing): not checked
    skip = [schemathesis.checks.allow_header_conformance]
    case.validate_response(
        resp,
        transport_kwargs=transport,
        excluded_checks=skip if case.operation.path == "/staff/persons/lookup" else [],
    )


@pytest.mark.security("B07")
@lgwan_schema.parametrize()
@EXAMPLES
def test_no_input_breaks_the_lgwan_side(
    case: schemathesis.Case, world: World, cases: Callable[..., None]
) -> None:
    cases()
    client = world.center if case.operation.path.startswith("/v1/") else world.terminal
    check(case, client, world.app)


@pytest.mark.security("B07")
@site_schema.parametrize()
@EXAMPLES
def test_no_input_breaks_the_site_side(
    case: schemathesis.Case, world: World, cases: Callable[..., None]
) -> None:
    cases()
    check(case, world.tablet, world.site)


@pytest.mark.parametrize("which", ["lgwan", "site"])
def test_each_listener_describes_every_route_it_serves(world: World, which: str) -> None:
    app, spec, client = (
        (world.app, LGWAN_SPEC, world.terminal)
        if which == "lgwan"
        else (world.site, SITE_SPEC, world.tablet)
    )
    served = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule), m.lower())
        for r in app.url_map.iter_rules()
        for m in r.methods or ()
        if m not in ("HEAD", "OPTIONS") and r.endpoint != "static"
    }
    described = {(p, m) for p, ops in spec["paths"].items() for m in ops}
    assert served == described
    assert client.get("/openapi.json").json == spec
