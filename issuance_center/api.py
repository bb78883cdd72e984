"""The kiosk-facing API: sessions, card verification, eligibility, issuance.

Each request and answer is a pydantic model; flask-openapi3 checks every request against
them before a view runs (a body that does not fit is 400 ``bad_request``, naming the field,
never the value) and derives the description at ``/openapi.json`` from them
(``serving.api``). What needs the center's state (the kiosk registry, the session, the
municipalities VRS knows) is checked in the views.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import Annotated, Any, Literal

from flask import Response, current_app, g, request
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.openapi import OpenAPI
from flask_openapi3.types import SecuritySchemesDict
from pydantic import BaseModel, Field, WithJsonSchema

from card_reader import CardError, CardWire, ErrorCode, verify_card
from certs.printable import ISSUED_JSON_SCHEMA
from serving import client_certificate
from serving.api import Closed, JsonInt, api_app, error_model, openapi31, refusals, reply

from .errors import CenterError, Code
from .sessions import Step

log = logging.getLogger("issuance_center")

MAX_COPIES = 10

TITLE = "Certificate issuance center (kiosk side)"
DESCRIPTION = (
    "Mutual TLS with a kiosk-CA client certificate; the certificate's CN is the kiosk ID."
    " One call at a time per session: a card, eligibility or issuance call that arrives"
    " while another call on the same session is in flight is refused with 409"
    " session_busy (it did nothing); a card submitted again after one was taken is 422"
    " card_replayed and ends the session. A refusal is {error, message[, details]}:"
    " card_invalid, unknown_issuer (a card whose issuer key the center's trust store does"
    " not hold), card_replayed, vrs_refused and vrs_unavailable pass the code behind"
    " them (the card's, VRS's, the link's) on as details [{\"error\": code}]."
)
Error = error_model(Code)

MunicipalityCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="6-digit code")]


# --- requests: M08, a kiosk sends the chip's bytes (CardWire) and the resident's choices only;
# a My Number, a name or anything else of its own is refused, never used ---------------------


class Choice(Closed):
    """The municipality the resident chose."""

    municipality_code: MunicipalityCode


class Order(Closed):
    """What the resident chose and paid for."""

    municipality_code: MunicipalityCode
    certificate_type: Literal["domestic", "overseas"]
    copies: JsonInt = Field(ge=1, le=MAX_COPIES)


class SessionPath(BaseModel):
    sid: str = Field(description="the session ID the center gave")


# --- answers -----------------------------------------------------------------------------


class Municipality(BaseModel):
    code: MunicipalityCode
    name_ja: str
    name_en: str


class SessionOpened(BaseModel):
    session_id: str
    challenge: str = Field(
        json_schema_extra={"format": "byte"},
        description="for the card to sign (base64)",
    )
    municipalities: list[Municipality] = Field(description="those the kiosk may offer")
    not_offering: list[Municipality] = Field(
        description="known, but without convenience-store issuance: to be shown as such;"
        " choosing one is refused (403 municipality_not_offered)"
    )
    expires_in: float = Field(description="seconds")


class CardVerified(BaseModel):
    ok: Literal[True]


class Eligible(BaseModel):
    municipality_code: MunicipalityCode
    domestic: bool
    overseas: bool


# one certificate as VRS issued it: certs owns its shape (certs.printable), the center relays it
IssuedCertificate = Annotated[dict[str, Any], WithJsonSchema(openapi31(ISSUED_JSON_SCHEMA))]


class Issued(BaseModel):
    certificates: list[IssuedCertificate] = Field(
        description="as VRS issued them: the kiosk prints each one's page (certs.Printable)"
    )


KIOSK_TLS: SecuritySchemesDict = {
    "kiosk": {
        "type": "mutualTLS",
        "description": "a client certificate of the kiosk CA; its CN is the kiosk ID, which"
        " the center's kiosk registry must know and have enabled",
    }
}
bp = APIBlueprint("api", __name__, url_prefix="/v1", abp_security=[{"kiosk": []}])


def app(import_name: str) -> OpenAPI:
    """This API's app, without the center behind it: ``create_app`` adds that."""
    return api_app(
        import_name,
        title=TITLE,
        description=DESCRIPTION,
        error=Error,
        bad_request=lambda words: CenterError(Code.BAD_REQUEST, words),
        log=log,
        security_schemes=KIOSK_TLS,
        blueprint=bp,
    )


def description() -> dict[str, Any]:
    """The OpenAPI description the center serves at ``/openapi.json``."""
    return app(__name__).api_doc


@bp.before_request
def kiosk_id() -> None:
    """The kiosk is who its client certificate (checked by TLS against the kiosk CA) says:
    before anything of the request is read."""
    try:
        peer = client_certificate(request.environ)
    except ValueError:
        raise CenterError(Code.NO_CLIENT_CERTIFICATE, "unreadable client certificate") from None
    if peer is None:
        raise CenterError(Code.NO_CLIENT_CERTIFICATE, "a kiosk client certificate is required")
    g.kiosk_id = peer.cn  # logged with the refusal too, if the registry refuses it
    current_app.extensions["center"].kiosks.check(peer.cn, peer.serial)


def kiosk() -> str:
    """The kiosk of this request (``kiosk_id`` admitted it)."""
    return str(g.kiosk_id)


def offered() -> dict[str, dict[str, Any]]:
    """Only municipalities that provide convenience-store issuance (M04)."""
    center = current_app.extensions["center"]
    return {
        m["code"]: m
        for m in center.vrs.municipalities()
        if m.get("offers_convenience_store_issuance")
    }


def municipality(code: str) -> str:
    """M04: a municipality without convenience-store issuance is refused, whatever the kiosk
    showed (its code's shape is the model's)."""
    if code not in offered():
        raise CenterError(
            Code.MUNICIPALITY_NOT_OFFERED,
            "this municipality does not provide convenience-store issuance",
        )
    return code


def issuance_key(sid: str) -> str:
    """What VRS records of a session: a SHA-256 of its ID, which it need not know as is (the
    ID is the kiosk's handle on the session until it ends; it holds no personal data)."""
    return hashlib.sha256(b"kiosk-sim center session\0" + sid.encode()).hexdigest()


def named(m: dict[str, Any]) -> Municipality:
    return Municipality(code=m["code"], name_ja=m.get("name_ja", ""), name_en=m.get("name_en", ""))


@bp.post("/sessions", responses={201: SessionOpened, **refusals(Error, 401, 403, 503)})
def open_session() -> Response:
    """A fresh challenge, the municipalities this kiosk may offer, those it may not"""
    center = current_app.extensions["center"]
    known = center.vrs.municipalities()
    session = center.sessions.open(kiosk())
    opened = SessionOpened(
        session_id=session.id,
        challenge=base64.b64encode(session.challenge).decode(),
        municipalities=[named(m) for m in known if m.get("offers_convenience_store_issuance")],
        # shown to the resident as not offering the service, so that a resident of one learns
        # why and where to go; choosing one is still refused (M04: `municipality` above)
        not_offering=[named(m) for m in known if not m.get("offers_convenience_store_issuance")],
        expires_in=center.sessions.ttl,
    )
    return reply(opened, 201)


@bp.post(
    "/sessions/<sid>/card",
    responses={200: CardVerified, **refusals(Error, 401, 403, 404, 409, 410, 413, 422)},
)
def submit_card(path: SessionPath, body: CardWire) -> Response:
    """The card's files and its signature over the session's challenge"""
    center = current_app.extensions["center"]
    sid, kid = path.sid, kiosk()
    session = center.sessions.get(sid, kid)
    card = body.files(session.challenge)
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
        if exc.code is ErrorCode.UNKNOWN_ISSUER:
            raise CenterError(
                Code.UNKNOWN_ISSUER,
                "the card's issuer is not in this center's trust store",
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
    return reply(CardVerified(ok=True))


@bp.post(
    "/sessions/<sid>/eligibility",
    responses={200: Eligible, **refusals(Error, 401, 403, 404, 409, 410, 413, 422, 503)},
)
def eligibility(path: SessionPath, body: Choice) -> Response:
    """Which certificate types the verified holder can get in a municipality"""
    center = current_app.extensions["center"]
    # the claim checks the session (verified, nothing in flight) in the store's one round
    # trip; the municipality is checked after it, as before: session errors come first
    with center.sessions.step(path.sid, kiosk(), Step.ELIGIBILITY) as claim:
        code = municipality(body.municipality_code)
        answer = center.vrs.eligibility(code, claim.my_number)
    return reply(
        Eligible(
            municipality_code=code,
            domestic=bool(answer.get("domestic")),
            overseas=bool(answer.get("overseas")),
        )
    )


@bp.post(
    "/sessions/<sid>/certificates",
    responses={200: Issued, **refusals(Error, 401, 403, 404, 409, 410, 413, 422, 503)},
)
def issue(path: SessionPath, body: Order) -> Response:
    """Issue: the signed certificates and their printable fields"""
    center = current_app.extensions["center"]
    # one issuance per session: the claim is never released once VRS is asked, the session is
    # closed instead; a municipality refused before that leaves the session as it was
    claim = center.sessions.claim(path.sid, kiosk(), Step.ISSUE)
    try:
        code = municipality(body.municipality_code)
    except BaseException:  # refused, or VRS's list unreachable: nothing was asked of VRS
        center.sessions.release(claim)
        raise
    try:
        # VRS records the session with the certificate IDs and issues once per session: a
        # retry, or the same call sent to another worker meanwhile, is refused there
        answer = center.vrs.issue(
            code,
            claim.my_number,
            body.certificate_type,
            body.copies,
            session_id=issuance_key(path.sid),
        )
    finally:
        # whatever VRS said: the kiosk starts over after
        center.sessions.close(path.sid)
    return reply(Issued(certificates=answer.get("certificates", [])))


@bp.delete("/sessions/<sid>", responses={204: None, **refusals(Error, 401, 403, 404, 410)})
def cancel(path: SessionPath) -> Response:
    """Cancel: the session is wiped"""
    center = current_app.extensions["center"]
    center.sessions.get(path.sid, kiosk())
    center.sessions.close(path.sid)
    return Response(status=204)
