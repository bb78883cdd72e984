"""The kiosk-facing API: sessions, card verification, eligibility, issuance."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from card_reader import WIRE_FIELDS, CardError, ErrorCode, from_wire, verify_card
from serving import client_certificate

from .errors import CenterError, Code
from .sessions import Step

bp = Blueprint("api", __name__, url_prefix="/v1")

CERTIFICATE_TYPES = ("domestic", "overseas")
MAX_COPIES = 10


def kiosk_id() -> str:
    """The kiosk is who its client certificate (checked by TLS against the kiosk CA) says."""
    try:
        peer = client_certificate(request.environ)
    except ValueError:
        raise CenterError(Code.NO_CLIENT_CERTIFICATE, "unreadable client certificate") from None
    if peer is None:
        raise CenterError(Code.NO_CLIENT_CERTIFICATE, "a kiosk client certificate is required")
    g.kiosk_id = peer.cn  # logged with the refusal too, if the registry refuses it
    current_app.extensions["center"].kiosks.check(peer.cn, peer.serial)
    return peer.cn


def body(*fields: str) -> dict[str, Any]:
    """The JSON object of the request, which may hold ``fields`` and nothing else.

    M08: a kiosk sends the chip's bytes and the resident's choices only. A My
    Number, a name or anything else of its own is refused, never used; the
    message does not repeat the field names, which the kiosk chose.
    """
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise CenterError(Code.BAD_REQUEST, "the request body must be a JSON object")
    if not data.keys() <= set(fields):
        raise CenterError(
            Code.BAD_REQUEST, f"the request may hold only these fields: {', '.join(fields)}"
        )
    return data


def offered() -> dict[str, dict[str, Any]]:
    """Only municipalities that provide convenience-store issuance (M04)."""
    center = current_app.extensions["center"]
    return {
        m["code"]: m
        for m in center.vrs.municipalities()
        if m.get("offers_convenience_store_issuance")
    }


def municipality(data: dict[str, Any]) -> str:
    code = data.get("municipality_code")
    if not isinstance(code, str) or not (len(code) == 6 and code.isascii() and code.isdigit()):
        raise CenterError(Code.BAD_REQUEST, "municipality_code must be a 6-digit code")
    if code not in offered():
        raise CenterError(
            Code.MUNICIPALITY_NOT_OFFERED,
            "this municipality does not provide convenience-store issuance",
        )
    return code


def verified_session(sid: str, kid: str) -> None:
    """Refuses early, before the body is read; ``claim`` checks it all again under the lock."""
    session = current_app.extensions["center"].sessions.get(sid, kid)
    if session.my_number is None:
        raise CenterError(Code.SESSION_STATE, "the card has not been verified in this session")


def named(m: dict[str, Any]) -> dict[str, str]:
    return {"code": m["code"], "name_ja": m.get("name_ja", ""), "name_en": m.get("name_en", "")}


@bp.post("/sessions")
def open_session() -> Any:
    kid = kiosk_id()
    center = current_app.extensions["center"]
    known = center.vrs.municipalities()
    session = center.sessions.open(kid)
    return jsonify(
        session_id=session.id,
        challenge=base64.b64encode(session.challenge).decode(),
        municipalities=[named(m) for m in known if m.get("offers_convenience_store_issuance")],
        # shown to the resident as not offering the service, so that a resident of one learns
        # why and where to go; choosing one is still refused (M04: `municipality` above)
        not_offering=[named(m) for m in known if not m.get("offers_convenience_store_issuance")],
        expires_in=center.sessions.ttl,
    ), 201


@bp.post("/sessions/<sid>/card")
def submit_card(sid: str) -> Any:
    center = current_app.extensions["center"]
    kid = kiosk_id()
    session = center.sessions.get(sid, kid)
    data = body(*WIRE_FIELDS)
    try:
        card = from_wire(data, session.challenge)
    except CardError as exc:
        raise CenterError(Code.BAD_REQUEST, exc.message) from None
    # the session's one answer is taken here, atomically: a second one is busy or a replay
    claim = center.sessions.claim(sid, kid, Step.CARD)
    verified = None
    try:
        verified = verify_card(card, center.trust, expected_challenge=claim.session.challenge)
    except CardError as exc:
        if exc.code is ErrorCode.BAD_PRESENCE_SIGNATURE:
            raise CenterError(
                Code.CARD_REPLAYED,
                "the card did not answer this session's challenge",
                exc.code.value,
            ) from None
        raise CenterError(
            Code.CARD_INVALID, "the card's data did not verify", exc.code.value
        ) from None
    finally:
        if verified is None:  # refused, or failed unforeseen: the answer is spent either way
            center.sessions.close(sid)
    if not center.sessions.release(claim, verified.my_number):
        # cancelled or expired while the card was verified: the number is not kept
        raise CenterError(Code.SESSION_UNKNOWN, "the session ended while the card was verified")
    return jsonify(ok=True)


@bp.post("/sessions/<sid>/eligibility")
def eligibility(sid: str) -> Any:
    kid = kiosk_id()
    verified_session(sid, kid)
    code = municipality(body("municipality_code"))
    center = current_app.extensions["center"]
    with center.sessions.step(sid, kid, Step.ELIGIBILITY) as claim:
        answer = center.vrs.eligibility(code, claim.my_number)
    return jsonify(
        municipality_code=code,
        domestic=bool(answer.get("domestic")),
        overseas=bool(answer.get("overseas")),
    )


@bp.post("/sessions/<sid>/certificates")
def issue(sid: str) -> Any:
    kid = kiosk_id()
    verified_session(sid, kid)
    data = body("municipality_code", "certificate_type", "copies")
    code = municipality(data)
    kind = data.get("certificate_type")
    copies = data.get("copies")
    if kind not in CERTIFICATE_TYPES:
        raise CenterError(Code.BAD_REQUEST, "certificate_type must be domestic or overseas")
    if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= MAX_COPIES:
        raise CenterError(Code.BAD_REQUEST, f"copies must be 1 to {MAX_COPIES}")
    center = current_app.extensions["center"]
    # one issuance per session: the claim is never released, the session is closed instead
    claim = center.sessions.claim(sid, kid, Step.ISSUE)
    try:
        answer = center.vrs.issue(code, claim.my_number, kind, copies)
    finally:
        # whatever VRS said: the kiosk starts over after
        center.sessions.close(sid)
    return jsonify(certificates=answer.get("certificates", []))


@bp.delete("/sessions/<sid>")
def cancel(sid: str) -> Any:
    center = current_app.extensions["center"]
    center.sessions.get(sid, kiosk_id())
    center.sessions.close(sid)
    return "", 204
