"""One error shape and one set of handlers (serving/errors.py), registered by every Flask app."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import pytest
from flask import Flask, g

from serving.errors import ApiError, json_errors

SECRET = "123456789018"  # a My Number, as a request might carry it into an exception


class Code(StrEnum):
    NO_RECORD = "no_record"


class Refusal(ApiError):
    STATUS: ClassVar[Mapping[Any, int]] = {Code.NO_RECORD: 404}


def lookup(table: dict[str, int], key: str) -> int:
    return table[key]  # KeyError(key): its message is the key


def crash() -> str:
    try:
        lookup({}, SECRET)
    except KeyError as exc:
        raise ValueError(f"no person {SECRET}") from exc
    return "never"


def app_with_routes(app: Flask) -> Flask:
    app.add_url_rule("/crash", "crash", crash)
    app.add_url_rule("/only-post", "only_post", lambda: "", methods=["POST"])

    def refuse() -> str:
        raise Refusal(Code.NO_RECORD, "no such person", [{"row": 3}])

    app.add_url_rule("/refuse", "refuse", refuse)

    @app.after_request
    def seen(resp: Any) -> Any:
        resp.headers["X-Error"] = str(g.get("error"))
        return resp

    return app


@pytest.fixture
def client(caplog: pytest.LogCaptureFixture) -> Any:
    app = Flask(__name__)
    json_errors(app, logging.getLogger("test.errors"))
    return app_with_routes(app).test_client()


def test_a_refusal_has_the_one_shape(client: Any) -> None:
    resp = client.get("/refuse")
    assert resp.status_code == 404
    assert resp.json == {"error": "no_record", "message": "no such person", "details": [{"row": 3}]}
    assert resp.headers["X-Error"] == "no_record"  # for an access log line


def test_the_protocols_refusals_have_it_too(client: Any) -> None:
    missing = client.get("/nowhere")
    assert (missing.status_code, missing.json["error"]) == (404, "not_found")
    assert missing.json["message"]
    wrong = client.get("/only-post")
    assert (wrong.status_code, wrong.json["error"]) == (405, "method_not_allowed")
    assert "POST" in wrong.headers["Allow"]


def test_an_unexpected_exception_logs_its_traceback_without_its_message(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "test.errors")
    resp = client.get("/crash")
    assert (resp.status_code, resp.json) == (
        500,
        {"error": "internal", "message": "internal error"},
    )
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "in lookup" in text and "in crash" in text  # the frames, of the whole chain
    assert "builtins.KeyError" in text and "builtins.ValueError" in text
    assert SECRET not in text and SECRET not in caplog.text
    assert not any(r.exc_info for r in caplog.records)  # nothing for a handler to format


# --- each system's apps register these handlers ----------------------------------------------


def vrs_apps(tmp_path: Path) -> list[Flask]:
    from vrs import create_app, open_vrs
    from vrs.site import CouponDesk, create_site_app

    records = open_vrs(tmp_path / "vrs")
    return [create_app({"VRS": records}), create_site_app({"DESK": CouponDesk.from_vrs(records)})]


def center_app(tmp_path: Path) -> Flask:
    from issuance_center import create_app
    from issuance_center.kiosks import KioskRegistry

    KioskRegistry.write(tmp_path / "kiosks.json", [])
    return create_app({"TRUST": object(), "KIOSKS": tmp_path / "kiosks.json", "VRS": object()})


def kiosk_app(tmp_path: Path) -> Flask:
    from kiosk import create_app

    return create_app({"CENTER": object(), "PRINTER_OBJ": object(), "READER": "-", "WATCH": False})


@pytest.mark.parametrize("system", ["vrs", "vrs site", "center", "kiosk"])
def test_each_app_answers_and_logs_through_them(
    system: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make = {
        "vrs": lambda: vrs_apps(tmp_path)[0],
        "vrs site": lambda: vrs_apps(tmp_path)[1],
        "center": lambda: center_app(tmp_path),
        "kiosk": lambda: kiosk_app(tmp_path),
    }[system]
    client = app_with_routes(make()).test_client()
    caplog.set_level(logging.ERROR)
    resp = client.get("/crash")
    assert (resp.status_code, resp.json["error"]) == (500, "internal")
    assert "in crash" in caplog.text and SECRET not in caplog.text
    assert client.get("/nowhere").json["error"] == "not_found"


def test_every_systems_error_has_the_one_shape() -> None:
    from certs import CertError
    from certs import Code as CertCode
    from issuance_center.errors import CenterError
    from issuance_center.errors import Code as CenterCode
    from vrs.errors import Code as VrsCode
    from vrs.errors import VrsError

    assert CertError(CertCode.BAD_QR, "unreadable").to_json() == {
        "error": "bad_qr",
        "message": "unreadable",
    }
    assert VrsError(VrsCode.NO_RECORD, "no such person").to_json() == {
        "error": "no_record",
        "message": "no such person",
    }
    # the code the card or VRS gave travels in details
    assert CenterError(CenterCode.VRS_REFUSED, "refused", "no_record").to_json() == {
        "error": "vrs_refused",
        "message": "refused",
        "details": [{"error": "no_record"}],
    }
