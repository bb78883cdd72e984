"""The center's API with a fake VRS: sessions, issuance, M04, M06 (the attacks: test_attacks.py)."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from flask.testing import FlaskClient

from card_reader import CardWire, InMemoryTransport, TextApplication
from card_reader.softcard import Profile

from ..card_reader.conftest import CardFactory
from .conftest import FakeVrs, KioskClient

PIN = Profile.demo().pin


def card_payload(card: object, challenge_b64: str) -> dict[str, str]:
    app = TextApplication(InMemoryTransport(card))  # type: ignore[arg-type]
    app.select()
    app.verify_pin(PIN)
    files = app.read_card_files(base64.b64decode(challenge_b64))
    return CardWire.of(files).model_dump()


def open_session(client: FlaskClient) -> dict[str, Any]:
    resp = client.post("/v1/sessions")
    assert resp.status_code == 201, resp.json
    return resp.json


def verified(client: FlaskClient, card: CardFactory) -> str:
    session = open_session(client)
    resp = client.post(
        f"/v1/sessions/{session['session_id']}/card",
        json=card_payload(card(), session["challenge"]),
    )
    assert resp.status_code == 200, resp.json
    return session["session_id"]


def test_full_issuance(kiosk: KioskClient, card: CardFactory, vrs: FakeVrs) -> None:
    client = kiosk("K0001")
    sid = verified(client, card)
    elig = client.post(f"/v1/sessions/{sid}/eligibility", json={"municipality_code": "382051"})
    assert elig.json == {"municipality_code": "382051", "domestic": True, "overseas": True}
    resp = client.post(
        f"/v1/sessions/{sid}/certificates",
        json={"municipality_code": "382051", "certificate_type": "domestic", "copies": 2},
    )
    assert resp.status_code == 200
    assert len(resp.json["certificates"]) == 2
    # VRS was asked with the My Number read from the verified card, nothing the kiosk typed
    assert vrs.calls[-1] == ("issue", ("382051", Profile.demo().my_number, "domestic", 2))
    # the session is gone: the same session cannot issue twice
    again = client.post(
        f"/v1/sessions/{sid}/certificates",
        json={"municipality_code": "382051", "certificate_type": "domestic", "copies": 1},
    )
    assert again.status_code == 404


@pytest.mark.measure("M04")
def test_only_municipalities_offering_the_service_are_listed(kiosk: KioskClient) -> None:
    codes = {m["code"] for m in open_session(kiosk("K0001"))["municipalities"]}
    assert codes == {"382051", "382019"}


def test_a_municipality_without_the_service_is_named_for_the_resident(
    kiosk: KioskClient,
) -> None:
    """Listed apart, so that its residents learn why; choosing it stays refused (A09 tests)."""
    reply = open_session(kiosk("K0001"))
    assert reply["not_offering"] == [
        {"code": "382060", "name_ja": "西条市", "name_en": "Saijo City"}
    ]


def test_issuing_before_the_card_is_verified_is_refused(kiosk: KioskClient) -> None:
    client = kiosk("K0001")
    sid = open_session(client)["session_id"]
    resp = client.post(
        f"/v1/sessions/{sid}/certificates",
        json={"municipality_code": "382051", "certificate_type": "domestic", "copies": 1},
    )
    assert (resp.status_code, resp.json["error"]) == (409, "session_state")


@pytest.mark.parametrize("failure", ["refused", "crashed"])
def test_a_card_that_did_not_verify_ends_the_session(
    kiosk: KioskClient, card: CardFactory, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """One challenge, one answer: after a refused answer, or a verification that failed in a
    way nobody foresaw, the session is gone, never left half-claimed (busy) for later calls."""
    client = kiosk("K0001")
    session = open_session(client)
    sid, answer = session["session_id"], card_payload(card(), session["challenge"])
    if failure == "crashed":

        def crash(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("a bug in verification")

        monkeypatch.setattr("issuance_center.api.verify_card", crash)
        first = client.post(f"/v1/sessions/{sid}/card", json=answer)
        assert (first.status_code, first.json["error"]) == (500, "internal")
        monkeypatch.undo()
    else:  # the answer to another session's challenge
        stale = card_payload(card(), open_session(client)["challenge"])
        first = client.post(f"/v1/sessions/{sid}/card", json=stale)
        assert (first.status_code, first.json["error"]) == (422, "card_replayed")
    again = client.post(f"/v1/sessions/{sid}/card", json=answer)
    assert (again.status_code, again.json["error"]) == (404, "session_unknown")


def test_another_kiosk_cannot_use_a_session(kiosk: KioskClient, card: CardFactory) -> None:
    sid = verified(kiosk("K0001"), card)
    resp = kiosk("K0002").post(
        f"/v1/sessions/{sid}/eligibility", json={"municipality_code": "382051"}
    )
    assert (resp.status_code, resp.json["error"]) == (404, "session_unknown")


def test_no_client_certificate_is_refused(app: Any) -> None:
    resp = app.test_client().post("/v1/sessions")
    assert (resp.status_code, resp.json["error"]) == (401, "no_client_certificate")


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"municipality_code": "38206"},
        {"municipality_code": "382051", "certificate_type": "both", "copies": 1},
        {"municipality_code": "382051", "certificate_type": "domestic", "copies": 0},
        {"municipality_code": "382051", "certificate_type": "domestic", "copies": True},
        {"municipality_code": "382051", "certificate_type": "domestic", "copies": 11},
    ],
)
def test_malformed_requests_get_a_4xx_with_a_reason(
    kiosk: KioskClient, card: CardFactory, body: Any
) -> None:
    client = kiosk("K0001")
    sid = verified(client, card)
    resp = (
        client.post(f"/v1/sessions/{sid}/certificates", json=body)
        if body is not None
        else client.post(
            f"/v1/sessions/{sid}/certificates", data="{not json", content_type="application/json"
        )
    )
    assert 400 <= resp.status_code < 500
    assert resp.json["error"] and resp.json["message"]


def test_bad_base64_card_fields(kiosk: KioskClient) -> None:
    client = kiosk("K0001")
    sid = open_session(client)["session_id"]
    resp = client.post(f"/v1/sessions/{sid}/card", json={"ef0001": "***"})
    assert (resp.status_code, resp.json["error"]) == (400, "bad_request")


def test_vrs_down_is_a_clear_503(kiosk: KioskClient, card: CardFactory, vrs: FakeVrs) -> None:
    client = kiosk("K0001")
    sid = verified(client, card)
    vrs.down = True
    resp = client.post(f"/v1/sessions/{sid}/eligibility", json={"municipality_code": "382051"})
    assert (resp.status_code, resp.json["error"]) == (503, "vrs_unavailable")


def test_sessions_expire(kiosk: KioskClient, card: CardFactory) -> None:
    from freezegun import freeze_time

    with freeze_time() as frozen:
        client = kiosk("K0001")
        sid = verified(client, card)
        frozen.tick(601)
        resp = client.post(f"/v1/sessions/{sid}/eligibility", json={"municipality_code": "382051"})
    assert (resp.status_code, resp.json["error"]) == (410, "session_expired")


def test_cancel_wipes_the_session(kiosk: KioskClient, card: CardFactory) -> None:
    client = kiosk("K0001")
    sid = verified(client, card)
    assert client.delete(f"/v1/sessions/{sid}").status_code == 204
    assert (
        client.post(
            f"/v1/sessions/{sid}/eligibility", json={"municipality_code": "382051"}
        ).status_code
        == 404
    )


@pytest.mark.measure("M06")
def test_logs_carry_no_personal_data(
    kiosk: KioskClient, card: CardFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = kiosk("K0001")
    sid = verified(client, card)
    client.post(f"/v1/sessions/{sid}/eligibility", json={"municipality_code": "382051"})
    client.post(
        f"/v1/sessions/{sid}/certificates",
        json={"municipality_code": "382051", "certificate_type": "domestic", "copies": 1},
    )
    text = caplog.text
    assert "kiosk=K0001" in text and "op=api.issue" in text
    holder = Profile.demo()
    for secret in (
        holder.my_number,
        holder.name,
        holder.name.split("\u3000")[0],
        holder.birth_date,
        "C-1",
    ):
        assert secret not in text


@pytest.mark.parametrize(
    "answers",
    [
        {"/v1/municipalities": (200, "[]")},
        {"/v1/municipalities": (200, "not json")},
        {"/v1/municipalities": (404, '["no_record"]')},
        {"/v1/municipalities": (200, '{"municipalities": [{"name_en": "no code"}]}')},
        {"/v1/eligibility": (200, '["domestic"]')},
    ],
    ids=["list", "text", "error_list", "no_code", "eligibility_list"],
)
def test_vrs_answering_garbage_is_a_503_never_a_500(
    tmp_path: Any, issuer: Any, card: CardFactory, answers: dict[str, tuple[int, str]]
) -> None:
    """The center's real VRS client over mutual TLS, against a VRS that answers nonsense."""
    from flask import Flask, Response

    from issuance_center import create_app
    from issuance_center.kiosks import Kiosk, KioskRegistry
    from serving import CA, Server, mutual_tls_context

    from .conftest import MUNICIPALITIES, client_cert_pem

    vrs = Flask("garbage_vrs")
    good = {"/v1/municipalities": (200, json.dumps({"municipalities": MUNICIPALITIES}))}

    @vrs.route("/<path:path>", methods=["GET", "POST"])
    def answer(path: str) -> Response:
        status, text = {**good, **answers}.get("/" + path, (200, "{}"))
        return Response(text, status, content_type="application/json")

    lgwan = CA(tmp_path / "lgwan", "LGWAN CA (test)")
    server = Server(
        vrs,
        "127.0.0.1",
        0,
        mutual_tls_context(*lgwan.issue("vrs", "vrs", server=True), lgwan.cert_path),
    ).start()
    kiosks = tmp_path / "kiosks.json"
    KioskRegistry.write(kiosks, [Kiosk("K0001", "Store 1", True)])
    cert, key = lgwan.issue("center", "issuance-center")
    center = create_app(
        {
            "TRUST": issuer.trust_store(),
            "KIOSKS": kiosks,
            "VRS_URL": f"https://127.0.0.1:{server.port}",
            "VRS_CLIENT_CERT": cert,
            "VRS_CLIENT_KEY": key,
            "VRS_CA": lgwan.cert_path,
        }
    ).test_client()
    center.environ_base["SSL_CLIENT_CERT"] = client_cert_pem("K0001")
    try:
        resp = center.post("/v1/sessions")
        if "/v1/eligibility" in answers:
            sid = resp.json["session_id"]
            center.post(
                f"/v1/sessions/{sid}/card", json=card_payload(card(), resp.json["challenge"])
            )
            resp = center.post(
                f"/v1/sessions/{sid}/eligibility", json={"municipality_code": "382051"}
            )
        assert (resp.status_code, resp.json["error"]) == (503, "vrs_unavailable")
    finally:
        server.stop()


# --- the request models (issuance_center.api): checked before the view runs -----------------

ORDER = {"municipality_code": "382051", "certificate_type": "domestic", "copies": 1}


@pytest.mark.parametrize(
    "change",
    [
        {"copies": 0},
        {"copies": 11},
        {"copies": True},
        {"copies": "1"},
        {"copies": 1.5},
        {"copies": None},
        {"certificate_type": "both"},
        {"certificate_type": "Domestic"},
        {"municipality_code": "38205"},
        {"municipality_code": 382051},
        {"municipality_code": "382051\n"},
        {"municipality_code": "３８２０５１"},
    ],
    ids=repr,
)
def test_an_order_outside_the_model_is_a_400_naming_the_field(
    kiosk: KioskClient, card: CardFactory, vrs: FakeVrs, change: dict[str, Any]
) -> None:
    client = kiosk("K0001")
    sid = verified(client, card)
    resp = client.post(f"/v1/sessions/{sid}/certificates", json={**ORDER, **change})
    assert (resp.status_code, resp.json["error"]) == (400, "bad_request"), resp.json
    (field,) = change
    assert resp.json["message"].startswith(f"{field} must "), resp.json
    assert [op for op, _ in vrs.calls] == []  # VRS was never asked
    # refused before anything was spent: the session still issues a good order
    ok = client.post(f"/v1/sessions/{sid}/certificates", json=ORDER)
    assert ok.status_code == 200, ok.json


@pytest.mark.parametrize("copies", [1, 10])
def test_copies_from_1_to_10_are_issued(
    kiosk: KioskClient, card: CardFactory, vrs: FakeVrs, copies: int
) -> None:
    client = kiosk("K0001")
    sid = verified(client, card)
    resp = client.post(f"/v1/sessions/{sid}/certificates", json={**ORDER, "copies": copies})
    assert resp.status_code == 200 and len(resp.json["certificates"]) == copies
    assert vrs.calls[-1][1][3] == copies


@pytest.mark.parametrize(
    "data",
    [json.dumps(json.dumps(ORDER)), "[]", "3", "null", "", "{not json"],
    ids=["object_in_a_string", "list", "number", "null", "empty", "not_json"],
)
def test_a_body_that_is_no_object_is_a_400(
    kiosk: KioskClient, card: CardFactory, data: str
) -> None:
    client = kiosk("K0001")
    sid = verified(client, card)
    resp = client.post(
        f"/v1/sessions/{sid}/certificates", data=data, content_type="application/json"
    )
    assert (resp.status_code, resp.json["error"]) == (400, "bad_request")
    assert resp.json["message"] == "the request body must be a JSON object"


@pytest.mark.measure("M08")
@pytest.mark.parametrize("endpoint", ["card", "eligibility", "certificates"])
def test_a_field_of_the_kiosks_own_is_refused_without_repeating_it(
    kiosk: KioskClient, card: CardFactory, endpoint: str
) -> None:
    client = kiosk("K0001")
    session = open_session(client)
    sid = session["session_id"]
    body: dict[str, Any] = {
        "card": card_payload(card(), session["challenge"]),
        "eligibility": {"municipality_code": "382051"},
        "certificates": ORDER,
    }[endpoint]
    holder = Profile.demo()
    extra = {"my_number": holder.my_number, "氏名": holder.name}
    resp = client.post(f"/v1/sessions/{sid}/{endpoint}", json={**body, **extra})
    assert (resp.status_code, resp.json["error"]) == (400, "bad_request")
    for chosen in (*extra, *extra.values()):
        assert chosen not in resp.json["message"]


def test_the_kiosk_is_checked_before_its_body(kiosk: KioskClient) -> None:
    """A kiosk the registry refuses learns nothing of what the center makes of its body."""
    resp = kiosk("K0009").post("/v1/sessions/x/certificates", json={"copies": 0})
    assert (resp.status_code, resp.json["error"]) == (403, "kiosk_disabled")
    resp = kiosk("K0404").post("/v1/sessions/x/card", data="[]", content_type="application/json")
    assert (resp.status_code, resp.json["error"]) == (403, "kiosk_unknown")
