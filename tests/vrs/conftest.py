from __future__ import annotations

import inspect
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from certs import IssuerKey
from vrs import Vrs, create_app
from vrs.crypto import MasterKey
from vrs.demo import MUNICIPALITIES, Resident, csv_rows, residents
from vrs.ledger_rows import IMPORT_COLUMNS
from vrs.pg import Cluster
from vrs.pg_storage import PostgresStorage
from vrs.staff import StaffService
from vrs.storage import SQLiteStorage, Storage

from ..issuance_center.conftest import client_cert_pem

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def shc_key() -> IssuerKey:
    return IssuerKey.generate()


TEMPLATE = "vrs_template"  # migrated once; each test's database is a copy of it


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``backend``: those a module names in ``BACKENDS`` (default SQLite only); a test that
    asks for the SQLite file (``db_path``) or its folder (``tmp_path``) itself runs on SQLite."""
    if "backend" not in metafunc.fixturenames:
        return
    wanted = getattr(metafunc.module, "BACKENDS", ("sqlite",))
    if {"db_path", "tmp_path"} & set(inspect.signature(metafunc.function).parameters):
        wanted = ("sqlite",)
    metafunc.parametrize("backend", wanted)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One PostgreSQL cluster of the project's own for the run (vrs/pg.py), as bin/pg starts it.

    Never skipped: bin/setup installs PostgreSQL, and a missing one fails here.
    """
    folder = Path(tempfile.mkdtemp(prefix="kiosk-sim-pg-", dir="/tmp"))
    os.chmod(folder, 0o711)  # run as root, the server (the postgres user) must reach pg/
    cluster = Cluster(folder / "pg")
    try:
        cluster.start()
        cluster.create_database(TEMPLATE)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """The application's URL of a fresh database (a copy of the migrated template)."""
    name = f"test_{secrets.token_hex(6)}"
    yield pg_cluster.create_database(name, template=TEMPLATE)
    pg_cluster.drop_database(name)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "vrs.sqlite3"


@pytest.fixture
def storage(backend: str, db_path: Path, request: pytest.FixtureRequest) -> Iterator[Storage]:
    if backend == "sqlite":
        yield SQLiteStorage(db_path)
        return
    pg = PostgresStorage(request.getfixturevalue("pg_url"))
    yield pg
    pg.close()


@pytest.fixture
def vrs(storage: Storage, tmp_path: Path, shc_key: IssuerKey) -> Vrs:
    v = Vrs(
        storage,
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
