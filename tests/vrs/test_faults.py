"""F11, F12: VRS's disk fills up during an import or an issuance.

The disk really fills. A 4 MB tmpfs is mounted (the tests run as root, here and
in CI) and holds the whole instance: the database file, its WAL and -shm files,
the master key and the issuer key; a filler file then takes all but a few KB.
SQLite meets ENOSPC exactly as on a full disk. Where mounting is impossible
those tests skip with the reason, and ``PRAGMA max_page_count`` (a genuine
SQLITE_FULL from SQLite, no root needed) still covers the import.

What must hold: a clear 503 with a code (never a 500, never a traceback),
nothing of the failed write kept, the database opens and passes
``PRAGMA integrity_check``, earlier records intact, and the same operation
works once space is freed.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from argon2 import PasswordHasher
from flask.testing import FlaskClient

from serving import CA, Server, mutual_tls_context
from vrs import Vrs, create_app, open_vrs
from vrs import staff as staff_module
from vrs.demo import MUNICIPALITIES, Resident, residents

from .conftest import PASSWORD, Login, ledger

ROOT = Path(__file__).resolve().parents[2]
NIIHAMA = "382051"
DISK_SIZE = 4 * 1024 * 1024
BIG = 600  # residents in the import that meets the full disk (~450 KB of pages)


class Disk:
    """A small tmpfs; ``fill(leave)`` lets a filler file take all but ``leave`` bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def available(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int = 0) -> None:
        self.free()
        with self.filler.open("wb") as f:
            f.write(bytes(self.available() - leave))
        assert self.available() <= leave

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    path = tmp_path / "disk"
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield Disk(path)
    finally:
        # lazy: a connection the test still holds must not keep the mount
        subprocess.run(["umount", "--lazy", str(path)], check=False)


@pytest.fixture
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with small costs for the staff logins (not what these tests are about)."""
    monkeypatch.setattr(staff_module, "_hasher", PasswordHasher(1, 1024, 1))


def new_instance(folder: Path, people: list[Resident]) -> Vrs:
    """An instance folder as ``kiosk-sim vrs`` makes it, with the earlier records imported."""
    vrs = open_vrs(folder, "https://vrs.test/issuer")
    for m in MUNICIPALITIES:
        vrs.add_municipality(m)
        vrs.area(m.code).import_csv(io.StringIO(ledger(people, m.code)))
    return vrs


def big_ledger() -> tuple[str, list[Resident]]:
    rs = list(residents(BIG, seed=5))
    for r in rs:
        r.code = NIIHAMA
    return ledger(rs, NIIHAMA), rs


def check_database(path: Path, persons: int, certificates: int = 0) -> None:
    """A fresh connection opens the file, finds it sound, and counts what it holds."""
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM persons").fetchone() == (persons,)
        assert db.execute("SELECT COUNT(*) FROM certificates").fetchone() == (certificates,)
    finally:
        db.close()


def records(vrs: Vrs, people: list[Resident]) -> dict[str, Any]:
    """Each earlier resident's record and doses, opened with the area's keys."""
    out = {}
    for r in people:
        found = vrs.area(r.code).find(r.my_number)
        assert found is not None
        out[r.my_number] = (found[1], vrs.area(r.code).doses(found[0].id))
    return out


def assert_private(text: str, rs: list[Resident]) -> None:
    for r in rs:
        for secret in r.secrets():
            assert secret not in text, "personal data in an answer or a log"


def staff_client(app: Any, role: str) -> FlaskClient:
    app.extensions["vrs_staff"].create("test", NIIHAMA, f"{role}-1", PASSWORD, role)
    c = app.test_client()
    token = c.post("/staff/login", json={"user_id": f"{role}-1", "password": PASSWORD}).json[
        "token"
    ]
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return c


# --- F11: an import meets the full disk


@pytest.fixture(params=["tmpfs-staging", "tmpfs-merge", "max_page_count"])
def filling(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Callable[[Vrs], None], Callable[[Vrs], None]]:
    """(instance folder, fill, free) for one way of running out of room.

    tmpfs-staging: the disk is full before the import starts, so writing the
    staging file beside the database meets it. tmpfs-merge: the disk fills
    once every row is staged, so the merge into the database (its WAL) meets
    it. max_page_count: SQLite refuses to grow the database file, at the merge.
    """
    if request.param == "max_page_count":

        def fill(vrs: Vrs) -> None:
            pages = vrs.storage.sql("PRAGMA page_count")[0][0]  # type: ignore[attr-defined]
            vrs.storage.each_connection(f"PRAGMA max_page_count={pages}")  # type: ignore[attr-defined]

        def free(vrs: Vrs) -> None:
            vrs.storage.each_connection(f"PRAGMA max_page_count={2**32 - 2}")  # type: ignore[attr-defined]

        return tmp_path / "vrs", fill, free

    small: Disk = request.getfixturevalue("disk")
    at_merge = False

    def fill_disk(vrs: Vrs) -> None:
        nonlocal at_merge
        if request.param == "tmpfs-staging":
            small.fill(leave=64 * 1024)
            return
        at_merge = True
        merge = vrs.storage.merge

        def full_then_merge(stage: Any) -> None:
            if at_merge:
                stage.finish()  # every row in the staging file, then no room for the merge
                small.fill(leave=64 * 1024)
            merge(stage)

        monkeypatch.setattr(vrs.storage, "merge", full_then_merge)

    def free(vrs: Vrs) -> None:
        nonlocal at_merge
        at_merge = False
        small.free()

    return small.path, fill_disk, free


@pytest.mark.security("F11")
def test_an_import_meets_a_full_disk_and_keeps_nothing(
    filling: tuple[Path, Callable[[Vrs], None], Callable[[Vrs], None]],
    quick_hashes: None,
    people: list[Resident],
    caplog: pytest.LogCaptureFixture,
    cases: Callable[[int], None],
) -> None:
    folder, fill, free = filling
    vrs = new_instance(folder, people)
    before, earlier = vrs.storage.count_persons(), records(vrs, people)
    app = create_app({"TESTING": True, "VRS": vrs})
    operator = staff_client(app, "operator")
    text, newcomers = big_ledger()

    fill(vrs)
    cases(1)
    with caplog.at_level(logging.WARNING):
        resp = operator.post("/staff/import", data=text)
    assert resp.status_code == 503, resp.get_data(as_text=True)[:300]
    assert resp.json["error"] == "storage_full" and "disk is full" in resp.json["message"]
    assert_private(resp.get_data(as_text=True) + caplog.text, newcomers + people)
    assert "disk is full" in caplog.text  # the operator hears of it in the service log
    # not one row of the import, no staging file left; the earlier records as they were
    assert vrs.storage.count_persons() == before
    assert not list(folder.glob("vrs.sqlite3-import-*"))
    check_database(folder / "vrs.sqlite3", sum(before.values()))
    assert records(vrs, people) == earlier

    free(vrs)
    cases(1)
    resp = operator.post("/staff/import", data=text)
    assert resp.status_code == 200 and resp.json["imported"] == BIG
    assert vrs.storage.count_persons()[NIIHAMA] == before[NIIHAMA] + BIG
    check_database(folder / "vrs.sqlite3", sum(before.values()) + BIG)
    assert records(vrs, people) == earlier


@pytest.mark.security("F11")
def test_the_import_command_on_a_full_disk_says_why_and_keeps_nothing(
    disk: Disk, people: list[Resident], tmp_path: Path, cases: Callable[[int], None]
) -> None:
    vrs = new_instance(disk.path, people)
    before = sum(vrs.storage.count_persons().values())
    vrs.storage.close()  # type: ignore[attr-defined]  # the last connection: WAL and -shm go
    text, newcomers = big_ledger()
    csv_file = tmp_path / "ledger.csv"  # the ledger comes from elsewhere, not the full disk
    csv_file.write_text(text, encoding="utf-8")

    def run() -> subprocess.CompletedProcess[str]:
        cases(1)
        cmd = ["vrs", "import", NIIHAMA, str(csv_file), "--instance", str(disk.path), "--json"]
        done = subprocess.run(
            [sys.executable, "-m", "kiosk_sim.cli", *cmd],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Traceback" not in done.stderr, done.stderr[-500:]
        assert_private(done.stdout + done.stderr, newcomers + people)
        return done

    # not a byte left: SQLite cannot even make the -shm file WAL mode needs to open
    disk.fill(leave=0)
    done = run()
    assert done.returncode == 1 and json.loads(done.stdout)["error"] == "storage_error"
    # a little room: the database opens, the import's pages meet the full disk
    disk.fill(leave=64 * 1024)
    done = run()
    assert done.returncode == 1 and json.loads(done.stdout)["error"] == "storage_full"
    assert "disk is full" in json.loads(done.stdout)["message"]
    check_database(disk.path / "vrs.sqlite3", before)

    disk.free()
    done = run()
    assert (done.returncode, json.loads(done.stdout)) == (0, {"imported": BIG})
    check_database(disk.path / "vrs.sqlite3", before + BIG)


# --- F12: an issuance meets the full disk


@pytest.mark.security("F12")
def test_an_issuance_on_a_full_disk_records_nothing_and_works_once_freed(
    disk: Disk,
    people: list[Resident],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    cases: Callable[[int], None],
) -> None:
    """The center's request over mutual TLS (the LGWAN link) to a VRS whose disk is full."""
    vrs = new_instance(disk.path, people)
    lgwan = CA(tmp_path / "lgwan", "LGWAN CA (test)")
    cert, key = lgwan.issue("vrs", "localhost", server=True)
    server = Server(
        create_app({"VRS": vrs}), "127.0.0.1", 0, mutual_tls_context(cert, key, lgwan.cert_path)
    ).start()
    center = requests.Session()
    center.trust_env = False  # the link's own CA, never an environment bundle
    center.cert = tuple(map(str, lgwan.issue("center", "issuance-center")))  # type: ignore[assignment]
    center.verify = str(lgwan.cert_path)
    url = f"https://localhost:{server.port}/v1"
    holder = people[0]  # Niihama, 3 doses, passport data: 2 overseas + 2 domestic copies
    ask = {"municipality_code": holder.code, "my_number": holder.my_number}
    order = {**ask, "certificate_type": "overseas", "copies": 2, "session_id": "5e" * 32}
    try:
        # as after a restart: the WAL checkpointed and emptied, so any write must grow a file
        vrs.storage.checkpoint()  # type: ignore[attr-defined]
        disk.fill(leave=0)
        with caplog.at_level(logging.WARNING):
            for path, body in (("/certificates", order), ("/eligibility", ask)):
                cases(1)
                resp = center.post(url + path, json=body, timeout=10)
                assert resp.status_code == 503, resp.text[:300]
                assert resp.json()["error"] == "storage_full" and resp.json()["message"]
                assert "jws" not in resp.text and "certificate_id" not in resp.text
                assert_private(resp.text, people)
        assert "disk is full" in caplog.text
        assert_private(caplog.text, people)
        # no certificate ID recorded, no log entry naming one, the file sound
        check_database(disk.path / "vrs.sqlite3", len(people), certificates=0)
        issued = [e for e in vrs.storage.oplog(holder.code, 100) if e["target"] != "-"]
        assert not [e for e in issued if e["action"] == "certificate.issue"]

        disk.free()
        cases(1)
        resp = center.post(url + "/certificates", json=order, timeout=10)
        assert resp.status_code == 200
        ids = {c["certificate_id"] for c in resp.json()["certificates"]}
        assert len(ids) == 4
        row, _ = vrs.area(holder.code).find(holder.my_number)  # type: ignore[misc]
        assert {c[0] for c in vrs.storage.certificates(holder.code, row.id)} == ids
        logged = {
            e["target"]
            for e in vrs.storage.oplog(holder.code, 100)
            if e["action"] == "certificate.issue" and e["outcome"] == "ok"
        }
        assert logged == ids
        check_database(disk.path / "vrs.sqlite3", len(people), certificates=4)
    finally:
        server.stop()


def sqlite_full_error() -> sqlite3.OperationalError:
    """The very exception SQLite raises when it runs out of room (SQLITE_FULL)."""
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA max_page_count=1")
    try:
        db.execute("CREATE TABLE a (x)")
        db.execute("CREATE TABLE b (x)")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        db.close()
    raise AssertionError("SQLite found room beyond max_page_count")


LOGGED_CHANGES = [
    pytest.param("certificate.issue", marks=pytest.mark.security("F12"), id="issuance"),
    pytest.param("records.import", marks=pytest.mark.security("F11"), id="import"),
    pytest.param("records.erase", id="erase"),
    pytest.param("staff.issue", id="staff-issue"),
    pytest.param("staff.revoke", id="staff-revoke"),
]


@pytest.mark.measure("M15")
@pytest.mark.parametrize("action", LOGGED_CHANGES)
def test_no_change_is_kept_without_its_log_entry(
    action: str,
    quick_hashes: None,
    center: FlaskClient,
    staff: Login,
    loaded: Vrs,
    people: list[Resident],
    monkeypatch: pytest.MonkeyPatch,
    cases: Callable[[int], None],
) -> None:
    """The operation-log insert alone fails with SQLite's disk-full error.

    On a real full disk a change and its log entry are written together at
    COMMIT and fail together (the tests above); here the failure is put on the
    log insert alone, after the change's own rows were written, to show they
    share one transaction: no certificate ID, imported row, erasure or staff ID
    change is kept without its entry.
    """
    admin = staff(NIIHAMA, "administrator")  # logged in while the log still works
    clerk = staff(NIIHAMA, "operator").user_id  # type: ignore[attr-defined]
    holder = people[0]
    row, _ = loaded.area(NIIHAMA).find(holder.my_number)  # type: ignore[misc]
    newcomers = list(residents(30, seed=11))
    for r in newcomers:
        r.code = NIIHAMA
    order = {
        "municipality_code": NIIHAMA,
        "my_number": holder.my_number,
        "certificate_type": "domestic",
        "copies": 3,
        "session_id": "5e" * 32,
    }
    attempts = {
        "certificate.issue": lambda: center.post("/v1/certificates", json=order),
        "records.import": lambda: admin.post("/staff/import", data=ledger(newcomers, NIIHAMA)),
        "records.erase": lambda: admin.delete(f"/staff/persons/{row.id}"),
        "staff.issue": lambda: admin.post(
            "/staff/users", json={"user_id": "clerk-9", "password": PASSWORD, "role": "operator"}
        ),
        "staff.revoke": lambda: admin.delete(f"/staff/users/{clerk}"),
    }

    def state() -> tuple[object, ...]:
        storage = loaded.storage
        return (
            storage.count_persons(),
            storage.certificates(NIIHAMA, row.id),
            storage.staff_in(NIIHAMA),
        )

    real_log, full = loaded.storage.log, sqlite_full_error()

    def log(at: str, actor: str, area: str, act: str, target: str, outcome: str) -> None:
        if act == action and outcome == "ok":
            raise full
        real_log(at, actor, area, act, target, outcome)

    before = state()
    monkeypatch.setattr(loaded.storage, "log", log)
    cases(1)
    resp = attempts[action]()
    assert (resp.status_code, resp.json["error"]) == (503, "storage_full")
    assert state() == before
    if action in ("certificate.issue", "records.import"):
        # the refusal itself is in the log, naming no certificate and no person
        last = loaded.storage.oplog(NIIHAMA, 1)[0]
        assert (last["action"], last["target"], last["outcome"]) == (action, "-", "storage_full")
