"""A write lock held past the busy timeout never turns into a 500.

An import no longer holds the lock while it reads the file (test_concurrency
shows issuance answering throughout one); this is any other process's write
that keeps SQLite's lock too long: the reads wait, then hear 503 busy.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from certs import IssuerKey
from vrs import Vrs, create_app
from vrs.crypto import MasterKey
from vrs.demo import Resident
from vrs.storage import SQLiteStorage

from ..issuance_center.conftest import client_cert_pem


def test_the_center_hears_busy_while_another_write_holds_the_lock(
    loaded: Vrs, db_path: Path, tmp_path: Path, shc_key: IssuerKey, people: list[Resident]
) -> None:
    # the same database, with a short wait for the lock so the test is quick
    vrs = Vrs(
        SQLiteStorage(db_path, busy_timeout=0.2),
        MasterKey.load_or_create(tmp_path / "master.key"),
        shc_key,
        "https://vrs.test/issuer",
    )
    center = create_app({"TESTING": True, "VRS": vrs}).test_client()
    center.environ_base["SSL_CLIENT_CERT"] = client_cert_pem("issuance-center")
    holder = people[0]
    ask = {"municipality_code": holder.code, "my_number": holder.my_number}

    importer = sqlite3.connect(db_path, isolation_level=None)
    importer.execute("BEGIN IMMEDIATE")  # another process's write, stuck
    resp = center.post("/v1/eligibility", json=ask)
    assert (resp.status_code, resp.json["error"]) == (503, "busy")
    importer.execute("ROLLBACK")

    assert center.post("/v1/eligibility", json=ask).status_code == 200
