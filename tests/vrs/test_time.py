"""Lockouts and staff sessions follow VRS's one clock (freezegun moves it)."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time

from vrs.staff import LOCK_SECONDS, MAX_FAILED, SESSION_SECONDS

from .conftest import PASSWORD, Login


def test_a_lockout_lifts_after_its_time(staff: Login, app) -> None:
    admin = staff("382051", "administrator")
    admin.post("/staff/users", json={"user_id": "clerk", "password": PASSWORD, "role": "operator"})
    c = app.test_client()

    def login(password: str) -> str:
        resp = c.post("/staff/login", json={"user_id": "clerk", "password": password})
        return resp.json.get("error", "ok")

    with freeze_time() as clock:
        assert [login("wrong password!") for _ in range(MAX_FAILED)][-1] == "locked_out"
        clock.tick(timedelta(seconds=LOCK_SECONDS - 60))
        assert login(PASSWORD) == "locked_out"
        clock.tick(timedelta(seconds=120))  # the try while locked did not extend the lock
        assert login("wrong password!") == "unauthenticated"  # a fresh count, not a re-lock
        assert login(PASSWORD) == "ok"


def test_a_staff_session_ends_after_its_time(staff: Login) -> None:
    with freeze_time() as clock:
        client = staff("382051", "read-only")
        clock.tick(timedelta(seconds=SESSION_SECONDS - 60))
        assert client.get("/staff/export.csv").status_code == 200
        clock.tick(timedelta(seconds=120))
        resp = client.get("/staff/export.csv")
        assert (resp.status_code, resp.json["error"]) == (401, "unauthenticated")
