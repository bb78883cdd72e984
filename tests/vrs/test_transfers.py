"""M18: dose records go to another municipality only for a person it holds, and every provision is recorded."""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from vrs import Vrs
from vrs.demo import Resident, csv_rows
from vrs.ledger_rows import DOSE_FIELDS, IMPORT_COLUMNS

from .conftest import PASSWORD, Login

BACKENDS = ("sqlite", "postgresql")  # conftest.pytest_generate_tests

NIIHAMA, MATSUYAMA, IMABARI = "382051", "382019", "382027"
pytestmark = pytest.mark.measure("M18")


@pytest.fixture(autouse=True)
def quick_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters: these tests log in often, and what they test is elsewhere."""
    from argon2 import PasswordHasher

    monkeypatch.setattr("vrs.staff._hasher", PasswordHasher(time_cost=1, memory_cost=1024))


def moved(vrs: Vrs, r: Resident, into: str, coupon: str = "9000000001") -> Resident:
    """``r`` registered in ``into`` as a new resident (no doses there yet), as B's registry would."""
    new = dataclasses.replace(r, code=into, doses=0, coupon=coupon)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(IMPORT_COLUMNS)
    w.writerows(csv_rows(new, __import__("random").Random(3)))
    vrs.area(into).import_csv(io.StringIO(buf.getvalue()))
    return new


def db_bytes(vrs: Vrs, db_path: Path) -> bytes:
    vrs.storage.close()  # type: ignore[attr-defined]
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


def matsuyama_resident(people: list[Resident]) -> Resident:
    return next(r for r in people if r.code == MATSUYAMA and r.doses >= 2)


def test_provision_for_a_person_the_new_municipality_holds(
    staff: Login, loaded: Vrs, people: list[Resident], center: FlaskClient
) -> None:
    person = matsuyama_resident(people)
    moved(loaded, person, NIIHAMA)
    ask = {"municipality_code": NIIHAMA, "my_number": person.my_number}
    assert center.post("/v1/eligibility", json=ask).json["error"] == "no_doses"
    others_before = {r.my_number: len(_doses(loaded, r)) for r in people if r is not person}

    resp = staff(NIIHAMA, "operator").post(
        "/staff/transfers", json={"from_municipality": MATSUYAMA, "my_number": person.my_number}
    )
    assert resp.status_code == 201, resp.json
    got = resp.json
    assert (got["from_municipality"], got["to_municipality"]) == (MATSUYAMA, NIIHAMA)
    assert [d["dose_number"] for d in got["provided"]] == list(range(1, person.doses + 1))
    # the doses and nothing else: no personal field of A's record travels
    assert all(set(d) <= {*DOSE_FIELDS, "transferred_from"} for d in got["provided"])
    assert not any(s in resp.get_data(as_text=True) for s in person.secrets())
    # now Niihama holds the doses (sealed with Niihama's key) and can issue a certificate
    held = loaded.area(NIIHAMA).doses(got["person_id"])
    assert [d["lot_number"] for d in held] == [
        d["lot_number"] for d in _doses(loaded, person, MATSUYAMA)
    ]
    assert center.post("/v1/eligibility", json=ask).json["doses"] == person.doses
    # Matsuyama keeps its record; nobody else's doses changed
    assert len(_doses(loaded, person, MATSUYAMA)) == person.doses
    assert {r.my_number: len(_doses(loaded, r)) for r in people if r is not person} == others_before


def test_asking_again_adds_nothing_twice(staff: Login, loaded: Vrs, people: list[Resident]) -> None:
    person = matsuyama_resident(people)
    moved(loaded, person, NIIHAMA)
    clerk = staff(NIIHAMA, "operator")
    ask = {"from_municipality": MATSUYAMA, "my_number": person.my_number}
    assert len(clerk.post("/staff/transfers", json=ask).json["provided"]) == person.doses
    again = clerk.post("/staff/transfers", json=ask).json
    assert again["provided"] == [] and again["doses"] == person.doses


def test_refused_when_the_asking_municipality_does_not_hold_the_person(
    staff: Login,
    loaded: Vrs,
    people: list[Resident],
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    person = matsuyama_resident(people)  # never registered in Niihama
    admin_a = staff(MATSUYAMA, "administrator")
    log_a = admin_a.get("/staff/oplog?limit=10000").json["entries"]
    clerk = staff(NIIHAMA, "operator")
    with caplog.at_level(logging.DEBUG):
        resp = clerk.post(
            "/staff/transfers",
            json={"from_municipality": MATSUYAMA, "my_number": person.my_number},
        )
    assert (resp.status_code, resp.json["error"]) == (422, "not_confirmed")
    assert "provided" not in resp.json
    # A was never asked: no entry in A's log, no transfer, nothing of the number anywhere
    after = admin_a.get("/staff/oplog?limit=10000").json["entries"]
    assert [e for e in after if e["action"] != "oplog.review"] == [
        e for e in log_a if e["action"] != "oplog.review"
    ]
    assert admin_a.get("/staff/transfers").json["transfers"] == []
    assert person.my_number not in caplog.text
    assert person.my_number.encode() not in db_bytes(loaded, db_path)
    # B's own log says what was refused, without the number
    b_log = staff(NIIHAMA, "administrator").get("/staff/oplog").json["entries"]
    refused = [e for e in b_log if e["action"] == "transfer.request"]
    assert [(e["actor"], e["outcome"]) for e in refused] == [(clerk.user_id, "not_confirmed")]  # type: ignore[attr-defined]
    assert person.my_number not in str(b_log)


def test_former_municipality_without_the_person_gets_nothing(
    staff: Login,
    loaded: Vrs,
    people: list[Resident],
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    person = next(r for r in people if r.code == NIIHAMA)  # Matsuyama never had them
    index_in_a = loaded.area(MATSUYAMA).keys.blind_index(person.my_number)
    with caplog.at_level(logging.DEBUG):
        resp = staff(NIIHAMA, "operator").post(
            "/staff/transfers",
            json={"from_municipality": MATSUYAMA, "my_number": person.my_number},
        )
    assert (resp.status_code, resp.json["error"]) == (404, "no_record")
    assert set(resp.json) == {"error", "message"}
    raw = db_bytes(loaded, db_path)
    # neither the number nor Matsuyama's blind index of it was kept
    for trace in (person.my_number.encode(), index_in_a, index_in_a.hex().encode()):
        assert trace not in raw
    assert person.my_number not in caplog.text
    assert loaded.area(MATSUYAMA).find(person.my_number) is None
    # the inquiry itself is on record on both sides, with no person on A's side
    (entry,) = staff(MATSUYAMA, "administrator").get("/staff/transfers").json["transfers"]
    assert (entry["outcome"], entry["from_person"], entry["doses"]) == ("no_record", None, 0)
    a_log = staff(MATSUYAMA, "administrator").get("/staff/oplog").json["entries"]
    (provide,) = [e for e in a_log if e["action"] == "transfer.provide"]
    assert provide["outcome"] == "no_record" and "person" not in provide["target"]


def test_every_provision_is_recorded_on_both_sides(
    staff: Login, loaded: Vrs, people: list[Resident]
) -> None:
    person = matsuyama_resident(people)
    moved(loaded, person, NIIHAMA)
    clerk = staff(NIIHAMA, "operator")
    done = clerk.post(
        "/staff/transfers", json={"from_municipality": MATSUYAMA, "my_number": person.my_number}
    ).json
    a_row = loaded.area(MATSUYAMA).find(person.my_number)[0].id  # type: ignore[index]
    seen = {}
    for code in (MATSUYAMA, NIIHAMA):
        admin = staff(code, "administrator")
        (entry,) = admin.get("/staff/transfers").json["transfers"]
        seen[code] = entry
        log = admin.get("/staff/oplog").json["entries"]
        assert any(
            str(done["transfer_id"]) in e["target"] for e in log if "transfer." in e["action"]
        )
        for e in [entry, *log]:  # opaque row IDs only: no number, name or birth date
            assert not any(s in str(e) for s in person.secrets())
    assert seen[MATSUYAMA] == seen[NIIHAMA]
    entry = seen[NIIHAMA]
    assert entry["id"] == done["transfer_id"] and entry["at"]
    assert entry["actor"] == clerk.user_id  # type: ignore[attr-defined]
    assert (entry["from_area"], entry["to_area"]) == (MATSUYAMA, NIIHAMA)
    assert (entry["from_person"], entry["to_person"]) == (a_row, done["person_id"])
    assert (entry["doses"], entry["outcome"]) == (person.doses, "provided")
    # a third municipality sees none of it
    assert staff(IMABARI, "administrator").get("/staff/transfers").json["transfers"] == []


@pytest.mark.parametrize(
    "area,role", [(NIIHAMA, "read-only"), ("national", "national"), ("愛媛県", "prefecture")]
)
def test_roles_that_may_not_ask_for_transfers(
    app, staff: Login, loaded: Vrs, people: list[Resident], area: str, role: str
) -> None:
    person = matsuyama_resident(people)
    moved(loaded, person, NIIHAMA)
    app.extensions["vrs_staff"].create("test", area, f"{role}-7", PASSWORD, role)
    c = app.test_client()
    token = c.post("/staff/login", json={"user_id": f"{role}-7", "password": PASSWORD}).json
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token['token']}"
    resp = c.post(
        "/staff/transfers", json={"from_municipality": MATSUYAMA, "my_number": person.my_number}
    )
    assert (resp.status_code, resp.json["error"]) == (403, "forbidden")
    assert c.get("/staff/transfers").status_code == 403
    assert loaded.storage.transfers(MATSUYAMA, 10) == []
    # an operator may ask, but reviewing the transfer log is for administrators
    assert staff(NIIHAMA, "operator").get("/staff/transfers").status_code == 403


def test_bad_transfer_requests(staff: Login, app, people: list[Resident]) -> None:
    clerk = staff(NIIHAMA, "operator")
    number = people[0].my_number
    for body, status, code in [
        ({"from_municipality": NIIHAMA, "my_number": number}, 400, "bad_request"),
        ({"from_municipality": "131016", "my_number": number}, 404, "no_such_municipality"),
        ({"from_municipality": "382061", "my_number": number}, 400, "bad_request"),
        ({"from_municipality": MATSUYAMA, "my_number": "123456789012"}, 400, "bad_request"),
        ({"from_municipality": MATSUYAMA}, 400, "bad_request"),
    ]:
        resp = clerk.post("/staff/transfers", json=body)
        assert (resp.status_code, resp.json["error"]) == (status, code), body
    anonymous = app.test_client().post(
        "/staff/transfers", json={"from_municipality": MATSUYAMA, "my_number": number}
    )
    assert anonymous.status_code == 401


def _doses(vrs: Vrs, r: Resident, code: str | None = None) -> list[dict]:
    found = vrs.area(code or r.code).find(r.my_number)
    return vrs.area(code or r.code).doses(found[0].id) if found else []
