from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from certs import IssuerKey
from vrs import Vrs, create_app
from vrs.crypto import MasterKey
from vrs.demo import MUNICIPALITIES, Resident, csv_rows, residents
from vrs.ledger_rows import IMPORT_COLUMNS
from vrs.staff import StaffService
from vrs.storage import SQLiteStorage

from ..issuance_center.conftest import client_cert_pem

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def shc_key() -> IssuerKey:
    return IssuerKey.generate()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "vrs.sqlite3"


@pytest.fixture
def vrs(db_path: Path, tmp_path: Path, shc_key: IssuerKey) -> Vrs:
    v = Vrs(
        SQLiteStorage(db_path),
        MasterKey.load_or_create(tmp_path / "master.key"),
        shc_key,
        "https://vrs.test/issuer",
    )
    for m in MUNICIPALITIES:
        v.add_municipality(m)
    return v


@pytest.fixture
def people() -> list[Resident]:
    return list(residents(12, seed=7))


def ledger(rs: list[Resident], code: str) -> str:
    import csv
    import io
    import random

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(IMPORT_COLUMNS)
    rng = random.Random(1)
    for r in rs:
        if r.code == code:
            for row in csv_rows(r, rng):
                w.writerow(row)
    return buf.getvalue()


@pytest.fixture
def loaded(vrs: Vrs, people: list[Resident]) -> Vrs:
    import io

    for m in MUNICIPALITIES:
        vrs.area(m.code).import_csv(io.StringIO(ledger(people, m.code)))
    return vrs


@pytest.fixture
def app(loaded: Vrs) -> Flask:
    return create_app({"TESTING": True, "VRS": loaded})


@pytest.fixture
def center(app: Flask) -> FlaskClient:
    c = app.test_client()
    c.environ_base["SSL_CLIENT_CERT"] = client_cert_pem("issuance-center")
    return c


Login = Callable[..., FlaskClient]


@pytest.fixture
def staff(app: Flask, loaded: Vrs) -> Login:
    """``staff(area, role)``: a client logged in as a fresh staff ID with that role."""
    service: StaffService = app.extensions["vrs_staff"]
    made = 0

    def login(area: str, role: str) -> FlaskClient:
        nonlocal made
        made += 1
        uid = f"{role}-{area}-{made}"
        service.create("test", area, uid, PASSWORD, role)
        c = app.test_client()
        c.environ_base["SSL_CLIENT_CERT"] = client_cert_pem("staff-terminal")
        token = c.post("/staff/login", json={"user_id": uid, "password": PASSWORD}).json["token"]
        c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        c.user_id = uid  # type: ignore[attr-defined]
        return c

    return login
