"""A11–A15: staff attacks on VRS through the staff API with real sessions.

Each attack is refused, and the refusal is in the operation log (and, for
signs of intrusion, the service log) without the My Number, name or birth
date of any resident involved, and without the passwords tried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from vrs import Vrs
from vrs import staff as staff_module
from vrs.demo import Resident
from vrs.staff import MAX_FAILED

from .conftest import PASSWORD, Login, ledger

NIIHAMA, MATSUYAMA = "382051", "382019"
NOBODY = "123456789018"  # a valid My Number that no resident has


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id still, with small costs: these tests log in dozens of times and are about
    refusals and logs (the production costs take up to a second a hash on a busy machine)."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(staff_module, "_hasher", cheap)


def first(people: list[Resident], code: str) -> Resident:
    return next(r for r in people if r.code == code and r.doses)


def oplog(vrs: Vrs) -> list[dict[str, Any]]:
    """Every operation-log entry of every area, oldest first."""
    rows = vrs.storage.sql(  # type: ignore[attr-defined]
        "SELECT actor, area, action, target, outcome FROM oplog ORDER BY id"
    )
    cols = ("actor", "area", "action", "target", "outcome")
    return [dict(zip(cols, r, strict=True)) for r in rows]


def entries(vrs: Vrs, **want: str) -> list[dict[str, Any]]:
    return [e for e in oplog(vrs) if all(e[k] == v for k, v in want.items())]


def assert_private(text: str, people: list[Resident], *also: str) -> None:
    """No resident's number, names or birth date; none of ``also`` (passwords tried)."""
    for r in people:
        for secret in r.secrets():
            assert secret not in text, "personal data in a log"
    for secret in also:
        assert secret not in text, "a password in a log"


def session(app: Flask, area: str, role: str) -> FlaskClient:
    """A client logged in as a fresh staff ID (ASCII, whatever the area's name)."""
    service = app.extensions["vrs_staff"]
    uid = f"{role}-{len(service.storage.staff_in(area)) + 1}"
    service.create("test", area, uid, PASSWORD, role)
    c = app.test_client()
    token = c.post("/staff/login", json={"user_id": uid, "password": PASSWORD}).json["token"]
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    c.user_id = uid  # type: ignore[attr-defined]
    return c


def refused(resp: TestResponse, status: int, code: str) -> None:
    assert (resp.status_code, resp.json and resp.json["error"]) == (status, code), resp.data[:200]
    assert resp.json["message"]


# --- A11: a revoked staff ID


@pytest.mark.security("A11")
@pytest.mark.measure("M14")
def test_a_revoked_id_is_refused_in_its_open_session_and_at_login(
    staff: Login,
    app: Flask,
    loaded: Vrs,
    people: list[Resident],
    caplog: pytest.LogCaptureFixture,
    cases: Callable[..., None],
) -> None:
    admin = staff(NIIHAMA, "administrator")
    clerk = staff(NIIHAMA, "operator")  # logged in before the revocation: a session is open
    clerk_id = clerk.user_id  # type: ignore[attr-defined]
    holder = first(people, NIIHAMA)
    lookup = {"my_number": holder.my_number}
    assert clerk.post("/staff/persons/lookup", json=lookup).status_code == 200
    assert admin.delete(f"/staff/users/{clerk_id}").status_code == 204

    before = loaded.storage.count_persons()
    attempts: list[Callable[[], TestResponse]] = [
        lambda: clerk.post("/staff/persons/lookup", json=lookup),
        lambda: clerk.get("/staff/export.csv"),
        lambda: clerk.post("/staff/import", data=ledger(people, NIIHAMA)),
    ]
    with caplog.at_level(logging.WARNING):
        for attempt in attempts:
            cases()
            refused(attempt(), 401, "unauthenticated")
        # logging in again, with the right password: the same answer as a wrong one
        cases()
        anyone = app.test_client()
        login = {"user_id": clerk_id, "password": PASSWORD}
        again = anyone.post("/staff/login", json=login)
        wrong = anyone.post("/staff/login", json={**login, "password": "not the password"})
        refused(again, 401, "unauthenticated")
        assert again.json == wrong.json
    assert loaded.storage.count_persons() == before

    # the session's refusals (the token no longer names anyone) and the login's, by ID
    assert len(entries(loaded, action="security.bad_credentials", outcome="refused")) == 3
    assert entries(loaded, actor=clerk_id, area=NIIHAMA, action="staff.login", outcome="revoked")
    assert caplog.text.count("request with bad credentials") == 3
    assert "login with a revoked staff ID" in caplog.text
    assert_private(str(oplog(loaded)) + caplog.text, people, PASSWORD)


# --- A12 (and A14): a role used beyond its privilege

# what each role may do (M14's least privilege; national and prefectural roles count only, M13)
ALLOWED = {
    "administrator": {
        "read",
        "import",
        "export",
        "erase",
        "manage_staff",
        "review_log",
        "transfer",
    },
    "operator": {"read", "import", "export", "transfer"},
    "read-only": {"read", "export"},
    "prefecture": {"statistics"},
    "national": {"statistics"},
}
AREAS = {"prefecture": "愛媛県", "national": "national"}
ROLES = [
    "administrator",
    "operator",
    "read-only",
    *(
        pytest.param(role, marks=[pytest.mark.security("A14"), pytest.mark.measure("M13")], id=role)
        for role in ("prefecture", "national")
    ),
]


def staff_requests(
    victim: Resident, row_id: str, bystander: str, ledger_text: str
) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    """(permission, URL rule, method, path, request arguments): every staff request but login."""
    number = {"my_number": victim.my_number}
    mole = {"user_id": "mole", "password": PASSWORD, "role": "administrator"}
    return [
        ("read", "/staff/persons/lookup", "POST", "/staff/persons/lookup", {"json": number}),
        ("import", "/staff/import", "POST", "/staff/import", {"data": ledger_text}),
        ("export", "/staff/export.csv", "GET", "/staff/export.csv", {}),
        ("erase", "/staff/persons/<person_id>", "DELETE", f"/staff/persons/{row_id}", {}),
        ("manage_staff", "/staff/users", "GET", "/staff/users", {}),
        ("manage_staff", "/staff/users", "POST", "/staff/users", {"json": mole}),
        ("manage_staff", "/staff/users/<user_id>", "DELETE", f"/staff/users/{bystander}", {}),
        ("review_log", "/staff/oplog", "GET", "/staff/oplog", {}),
        ("review_log", "/staff/transfers", "GET", "/staff/transfers", {}),
        (
            "transfer",
            "/staff/transfers",
            "POST",
            "/staff/transfers",
            {"json": {**number, "from_municipality": MATSUYAMA}},
        ),
        ("statistics", "/staff/statistics", "GET", "/staff/statistics", {}),
    ]


@pytest.mark.security("A12")
@pytest.mark.measure("M14")
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_beyond_a_role_is_refused_and_logged(
    app: Flask,
    loaded: Vrs,
    people: list[Resident],
    role: str,
    cases: Callable[..., None],
) -> None:
    area = AREAS.get(role, NIIHAMA)
    client = session(app, area, role)
    me = client.user_id  # type: ignore[attr-defined]
    bystander = session(app, NIIHAMA, "read-only").user_id  # type: ignore[attr-defined]
    victim = first(people, NIIHAMA)
    row, _ = loaded.area(NIIHAMA).find(victim.my_number)  # type: ignore[misc]
    newcomers = ledger([r for r in people if r.code == MATSUYAMA], MATSUYAMA)  # personal data
    tried = [
        t for t in staff_requests(victim, row.id, bystander, newcomers) if t[0] not in ALLOWED[role]
    ]
    assert tried
    before = (loaded.storage.count_persons(), loaded.storage.staff_in(NIIHAMA))
    for _permission, _rule, method, path, kwargs in tried:
        cases()
        refused(client.open(path, method=method, **kwargs), 403, "forbidden")
    denied = [
        e["action"].removeprefix("denied.")
        for e in entries(loaded, actor=me, area=area, outcome="refused")
    ]
    assert denied == [t[0] for t in tried]  # each refusal, in order, under the role's own ID

    # minting an ID above the municipal roles: refused to every role, the administrator too
    cases()
    mint = client.post(
        "/staff/users", json={"user_id": "ghost", "password": PASSWORD, "role": "national"}
    )
    if "manage_staff" in ALLOWED[role]:
        refused(mint, 400, "bad_request")
        assert entries(loaded, actor=me, action="staff.issue", target="role national")
    else:
        refused(mint, 403, "forbidden")
    assert loaded.storage.staff("ghost") is None and loaded.storage.staff("mole") is None
    # nothing changed: no row imported or erased, no ID issued or revoked
    assert (loaded.storage.count_persons(), loaded.storage.staff_in(NIIHAMA)) == before
    assert_private(str(oplog(loaded)), people, PASSWORD)


def test_the_privilege_matrix_covers_every_staff_endpoint(
    app: Flask, people: list[Resident]
) -> None:
    """A new staff endpoint joins the requests above before it ships."""
    listed = {(t[1], t[2]) for t in staff_requests(people[0], "-", "-", "")}
    listed.add(("/staff/login", "POST"))
    served = {
        (r.rule, m)
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/staff/")
        for m in (r.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert served <= listed, sorted(served - listed)


# --- A13: another municipality's area


@pytest.mark.security("A13")
@pytest.mark.measure("M10")
@pytest.mark.measure("M16")
def test_another_municipalitys_area_can_be_neither_read_nor_changed(
    staff: Login,
    app: Flask,
    loaded: Vrs,
    people: list[Resident],
    cases: Callable[..., None],
) -> None:
    intruder = staff(NIIHAMA, "administrator")  # the widest municipal role
    other_admin = staff(MATSUYAMA, "administrator").user_id  # type: ignore[attr-defined]
    victim = first(people, MATSUYAMA)
    row, _ = loaded.area(MATSUYAMA).find(victim.my_number)  # type: ignore[misc]
    matsuyama = "".join(loaded.area(MATSUYAMA).export_csv())
    me = intruder.user_id  # type: ignore[attr-defined]

    # by My Number: the same answer as for a number nobody has (no hint the person exists)
    cases()
    found = intruder.post("/staff/persons/lookup", json={"my_number": victim.my_number})
    refused(found, 404, "no_record")
    assert found.json == intruder.post("/staff/persons/lookup", json={"my_number": NOBODY}).json
    assert len(entries(loaded, actor=me, action="records.read", outcome="no_record")) == 2
    # by row ID: erasing another area's row
    cases()
    refused(intruder.delete(f"/staff/persons/{row.id}"), 404, "not_found")
    assert entries(loaded, actor=me, action="records.erase", target=row.id, outcome="not_found")
    # a My Number where the row ID goes: found nowhere, and kept out of the log
    cases()
    refused(intruder.delete(f"/staff/persons/{victim.my_number}"), 404, "not_found")
    assert entries(loaded, actor=me, action="records.erase", target="-", outcome="not_found")
    # export: one's own area, exactly, and no one of another
    cases()
    export = intruder.get("/staff/export.csv").get_data(as_text=True)
    assert export == "".join(loaded.area(NIIHAMA).export_csv())
    assert all(f"{r.name},{r.birth}" in export for r in people if r.code == NIIHAMA)
    assert all(f"{r.name},{r.birth}" not in export for r in people if r.code != NIIHAMA)
    # the other area's staff IDs: not listed, not revocable, not issuable there
    cases()
    refused(intruder.delete(f"/staff/users/{other_admin}"), 404, "not_found")
    assert entries(loaded, actor=me, action="staff.revoke", target=other_admin, outcome="not_found")
    cases()
    users = {u["user_id"] for u in intruder.get("/staff/users").json["users"]}
    assert other_admin not in users
    cases()
    made = intruder.post(
        "/staff/users",
        json={"user_id": "plant", "password": PASSWORD, "role": "operator", "area": MATSUYAMA},
    )
    assert made.status_code == 201 and made.json["area"] == NIIHAMA  # the body's area is ignored
    assert loaded.storage.staff("plant")["area"] == NIIHAMA  # type: ignore[index]

    # Matsuyama's area as it was; its administrator still works
    assert "".join(loaded.area(MATSUYAMA).export_csv()) == matsuyama
    assert loaded.area(MATSUYAMA).find(victim.my_number) is not None
    assert loaded.storage.staff(other_admin)["revoked"] == 0  # type: ignore[index]
    # every attempt sits in the intruder's own area's log, nothing of it in Matsuyama's
    assert all(e["area"] == NIIHAMA for e in entries(loaded, actor=me))
    assert_private(str(oplog(loaded)), people, PASSWORD)


# --- A15: repeated failed logins (M20)


@pytest.mark.security("A15")
@pytest.mark.measure("M20")
def test_password_guessing_is_detected_and_reported_without_the_guesses(
    staff: Login,
    app: Flask,
    loaded: Vrs,
    people: list[Resident],
    caplog: pytest.LogCaptureFixture,
    cases: Callable[..., None],
) -> None:
    admin = staff(NIIHAMA, "administrator")
    target = staff(NIIHAMA, "operator").user_id  # type: ignore[attr-defined]
    guesses = [f"Tr0ub4dor&{i}-guess" for i in range(2 * MAX_FAILED)]

    def login(client: FlaskClient, user_id: str, password: str) -> str:
        cases()
        return client.post("/staff/login", json={"user_id": user_id, "password": password}).json[
            "error"
        ]

    with caplog.at_level(logging.WARNING):
        # guessing one ID's password from one terminal: the ID locks, even the right password
        terminal = app.test_client()
        terminal.environ_base["REMOTE_ADDR"] = "10.1.1.7"
        answers = [login(terminal, target, g) for g in guesses[:MAX_FAILED]]
        assert answers == ["unauthenticated"] * (MAX_FAILED - 1) + ["locked_out"]
        assert login(terminal, target, PASSWORD) == "locked_out"
        # spraying: one guess at each of many IDs, most of which do not exist, from another
        sprayer = app.test_client()
        sprayer.environ_base["REMOTE_ADDR"] = "10.1.1.66"
        ids = [admin.user_id, *(f"clerk-{i}" for i in range(MAX_FAILED - 1))]  # type: ignore[attr-defined]
        answers = [login(sprayer, uid, g) for uid, g in zip(ids, guesses[MAX_FAILED:], strict=True)]
        assert answers == ["unauthenticated"] * MAX_FAILED  # no single ID reached its lock

    # reported where an operator watches (the service log) and kept in the operation log
    assert "intrusion suspected: repeated failed logins for a staff ID from 10.1.1.7" in caplog.text
    assert f"intrusion suspected: {MAX_FAILED} failed logins from 10.1.1.66" in caplog.text
    log = admin.get("/staff/oplog?limit=1000").json["entries"]  # the area's administrator sees
    assert any((e["action"], e["target"]) == ("security.intrusion_suspected", target) for e in log)
    tries = [
        e["outcome"]
        for e in reversed(log)
        if (e["actor"], e["action"]) == (target, "staff.login") and e["outcome"] != "ok"
    ]
    assert tries == ["failed"] * (MAX_FAILED - 1) + ["locked"] * 2
    assert entries(loaded, action="security.intrusion_suspected", target="10.1.1.66")
    assert len(entries(loaded, action="staff.login", outcome="failed", area="-")) == MAX_FAILED - 1
    # the guesses (and the real password) never reach a log
    assert_private(str(oplog(loaded)) + caplog.text, people, PASSWORD, *guesses)
