"""The kiosk-facing API: sessions, card verification, eligibility, issuance."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from card_reader import CardError, ErrorCode, from_wire, verify_card
from card_reader.client import WIRE_FIELDS
from serving import client_certificate

from .errors import CenterError, Code
from .sessions import Session

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


def verified_session(sid: str) -> Session:
    session = current_app.extensions["center"].sessions.get(sid, kiosk_id())
    if session.my_number is None:
        raise CenterError(Code.SESSION_STATE, "the card has not been verified in this session")
    return session


@bp.post("/sessions")
def open_session() -> Any:
    kid = kiosk_id()
    center = current_app.extensions["center"]
    municipalities = [
        {"code": m["code"], "name_ja": m.get("name_ja", ""), "name_en": m.get("name_en", "")}
        for m in offered().values()
    ]
    session = center.sessions.open(kid)
    return jsonify(
        session_id=session.id,
        challenge=base64.b64encode(session.challenge).decode(),
        municipalities=municipalities,
        expires_in=center.sessions.ttl,
    ), 201


@bp.post("/sessions/<sid>/card")
def submit_card(sid: str) -> Any:
    center = current_app.extensions["center"]
    session = center.sessions.get(sid, kiosk_id())
    data = body(*WIRE_FIELDS)
    try:
        card = from_wire(data, session.challenge)
    except CardError as exc:
        raise CenterError(Code.BAD_REQUEST, exc.message) from None
    if session.card_used:
        # one challenge, one answer: a second submission is a replay attempt
        center.sessions.close(sid)
        raise CenterError(Code.CARD_REPLAYED, "card data was already submitted in this session")
    session.card_used = True
    try:
        verified = verify_card(card, center.trust, expected_challenge=session.challenge)
    except CardError as exc:
        center.sessions.close(sid)
        if exc.code is ErrorCode.BAD_PRESENCE_SIGNATURE:
            raise CenterError(
                Code.CARD_REPLAYED,
                "the card did not answer this session's challenge",
                exc.code.value,
            ) from None
        raise CenterError(
            Code.CARD_INVALID, "the card's data did not verify", exc.code.value
        ) from None
    session.my_number = verified.my_number
    return jsonify(ok=True)


@bp.post("/sessions/<sid>/eligibility")
def eligibility(sid: str) -> Any:
    session = verified_session(sid)
    code = municipality(body("municipality_code"))
    center = current_app.extensions["center"]
    answer = center.vrs.eligibility(code, session.my_number)
    return jsonify(
        municipality_code=code,
        domestic=bool(answer.get("domestic")),
        overseas=bool(answer.get("overseas")),
    )


@bp.post("/sessions/<sid>/certificates")
def issue(sid: str) -> Any:
    session = verified_session(sid)
    data = body("municipality_code", "certificate_type", "copies")
    code = municipality(data)
    kind = data.get("certificate_type")
    copies = data.get("copies")
    if kind not in CERTIFICATE_TYPES:
        raise CenterError(Code.BAD_REQUEST, "certificate_type must be domestic or overseas")
    if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= MAX_COPIES:
        raise CenterError(Code.BAD_REQUEST, f"copies must be 1 to {MAX_COPIES}")
    center = current_app.extensions["center"]
    try:
        answer = center.vrs.issue(code, session.my_number, kind, copies)
    finally:
        # one issuance per session, whatever VRS said: the kiosk starts over after
        center.sessions.close(sid)
    return jsonify(certificates=answer.get("certificates", []))


@bp.delete("/sessions/<sid>")
def cancel(sid: str) -> Any:
    center = current_app.extensions["center"]
    center.sessions.get(sid, kiosk_id())
    center.sessions.close(sid)
    return "", 204
