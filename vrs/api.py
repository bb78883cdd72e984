"""HTTP: the center's issuance API, the staff API, the issuer's key set and the seal's CSCA.

Each route's request and answer are the typed models of ``vrs.models``: flask-openapi3
validates the request before the view runs and describes the route from them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast, get_args

from flask import Response, current_app, g, request
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models import RawModel

from serving import client_certificate
from serving.api import refusals, reply

from .areas import Vrs
from .errors import Code, VrsError
from .ledger import ledger_text
from .models import (
    Certificates,
    Eligibility,
    Error,
    Imported,
    IssueRequest,
    Jwks,
    Login,
    Municipalities,
    NewStaffUser,
    Oplog,
    Page,
    Person,
    PersonFound,
    PersonLookup,
    PersonPath,
    StaffRole,
    StaffUserMade,
    StaffUsers,
    Statistics,
    Token,
    TransferDone,
    TransferRequest,
    Transfers,
    UserPath,
)
from .staff import StaffService, StaffUser
from .transfers import transfer

# every route may be refused as a bad request (an invalid body or query)
center = APIBlueprint("center", __name__, url_prefix="/v1", abp_responses=refusals(Error, 403))


def vrs() -> Vrs:
    # Flask types its extensions as Any: the app factory put a Vrs there
    return cast(Vrs, current_app.extensions["vrs"])


def staff_service() -> StaffService:
    return cast(StaffService, current_app.extensions["vrs_staff"])  # put there by lgwan_api


def client_cn() -> str | None:
    try:
        peer = client_certificate(request.environ)
    except ValueError:
        return None
    return peer.cn if peer else None


# --- the issuance center (LGWAN, mutual TLS; the certificate must be the center's)


@center.before_request
def only_the_center() -> None:
    if client_cn() != current_app.config["CENTER_CN"]:
        vrs().log("unknown", "-", "security.bad_credentials", request.endpoint or "-", "refused")
        raise VrsError(Code.FORBIDDEN, "only the certificate issuance center may call this API")
    g.actor = "issuance-center"


@center.get(
    "/municipalities",
    summary="The municipalities and whether they offer convenience-store issuance",
    responses={200: Municipalities},
)
def municipalities() -> Response:
    return reply(
        Municipalities.model_validate(
            {"municipalities": [m.public() for m in vrs().municipalities()]}
        )
    )


REFUSED = refusals(Error, 404, 413, 422, 503)


@center.post(
    "/eligibility",
    summary="Which certificate types a person can get in a municipality",
    responses={200: Eligibility, **REFUSED},
)
def eligibility(body: Person) -> Response:
    code = body.municipality_code
    area = vrs().area(code)
    try:
        answered = area.eligibility(body.my_number)
    except VrsError as exc:
        vrs().log("issuance-center", code, "certificate.eligibility", "-", exc.code.value)
        raise
    vrs().log("issuance-center", code, "certificate.eligibility")
    return reply(Eligibility.model_validate(answered))


@center.post(
    "/certificates",
    summary="Issue: signed SMART Health Cards and their printable fields (IDs recorded, M19)",
    # 409 session_already_issued: this session ID had its issuance already
    responses={200: Certificates, **refusals(Error, 404, 409, 413, 422, 503)},
)
def certificates(body: IssueRequest) -> Response:
    code = body.municipality_code
    area = vrs().area(code)
    try:
        # M19: the IDs are recorded in the certificates table; the log names them, no person.
        # One transaction: no certificate is recorded without its log entry (a full disk);
        # the signing happens before it, holding no lock
        issued = area.issue(
            body.my_number,
            body.certificate_type,
            body.copies,
            actor="issuance-center",
            session_id=body.session_id,
        )
    except VrsError as exc:
        vrs().log("issuance-center", code, "certificate.issue", "-", exc.code.value)
        raise
    return reply(Certificates(certificates=issued))


# --- staff (LGWAN terminals: mutual TLS, then a personal login)

# a bearer token from /staff/login on every route but the login itself; each route's
# privilege (``needs``) is checked before its request is validated: no session, 401; a role
# without the privilege, 403, whatever the body
staff_login = APIBlueprint(
    "staff_login", __name__, url_prefix="/staff", abp_responses=refusals(Error, 413, 503)
)
staff = APIBlueprint(
    "staff",
    __name__,
    url_prefix="/staff",
    abp_security=[{"staff": []}],
    abp_responses=refusals(Error, 401, 403),
)
NEEDS: dict[str, str] = {}  # endpoint -> the privilege it needs
F = TypeVar("F", bound=Callable[..., Any])


def needs(permission: str) -> Callable[[F], F]:
    """The privilege a staff route needs (``vrs.staff.PERMISSIONS``)."""

    def mark(view: F) -> F:
        NEEDS[f"{staff.name}.{view.__name__}"] = permission
        return view

    return mark


@staff.before_request
def staff_session() -> None:
    g.staff_user = user(NEEDS[request.endpoint or ""])


def me() -> StaffUser:
    """The staff user of this request (``staff_session``)."""
    return cast(StaffUser, g.staff_user)


def user(permission: str) -> StaffUser:
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else None
    u = staff_service().authenticate(token, request.remote_addr or "-")
    if not u.may(permission):
        vrs().log(u.user_id, u.area, f"denied.{permission}", "-", "refused")
        raise VrsError(Code.FORBIDDEN, f"the role {u.role} may not {permission.replace('_', ' ')}")
    return u


@staff_login.post(
    "/login",
    summary="A staff session: a bearer token for the other /staff calls",
    responses={200: Token, **refusals(Error, 401)},
)
def login(body: Login) -> Response:
    token = staff_service().login(body.user_id, body.password, request.remote_addr or "-")
    return reply(Token(token=token))


@staff.post(
    "/users",
    summary="Issue a staff ID in the administrator's area",
    responses={201: StaffUserMade, **refusals(Error, 409, 413, 503)},
)
@needs("manage_staff")
def issue_user(body: NewStaffUser) -> Response:
    admin = me()
    if body.role not in get_args(StaffRole):
        # e.g. an administrator minting a national or prefectural ID: logged, then refused
        asked = body.role if body.role.isalpha() else "-"
        vrs().log(admin.user_id, admin.area, "staff.issue", f"role {asked[:32]}", "refused")
        raise VrsError(Code.BAD_REQUEST, "role must be administrator, operator or read-only")
    new = staff_service().create(admin.user_id, admin.area, body.user_id, body.password, body.role)
    return reply(StaffUserMade(user_id=new.user_id, role=new.role, area=new.area), 201)


@staff.get(
    "/users",
    summary="The area's staff IDs and their privileges (administrators)",
    responses={200: StaffUsers},
)
@needs("manage_staff")
def list_users() -> Response:
    return reply(StaffUsers.model_validate({"users": staff_service().listing(me())}))


@staff.delete(
    "/users/<user_id>",
    summary="Revoke a staff ID of the administrator's area; its sessions end",
    responses={204: None, **refusals(Error, 404, 503)},
)
@needs("manage_staff")
def revoke_user(path: UserPath) -> tuple[str, int]:
    staff_service().revoke(me(), path.user_id)
    return "", 204


def reviewed(
    listing: Callable[[str, int], list[dict[str, Any]]], query: Page, action: str
) -> list[dict[str, Any]]:
    """A page of the area's ``listing`` (newest first) for its administrators, the review logged."""
    u = me()
    entries = listing(u.area, query.limit)
    vrs().log(u.user_id, u.area, action)
    return entries


@staff.get(
    "/oplog",
    summary="The area's operation log, newest first (administrators)",
    responses={200: Oplog},
)
@needs("review_log")
def oplog(query: Page) -> Response:
    entries = reviewed(vrs().storage.oplog, query, "oplog.review")
    return reply(Oplog.model_validate({"entries": entries}))


class CsvLedger(RawModel):
    """A ledger CSV: UTF-8 (with or without BOM) or Shift_JIS (CP932), or the charset named."""

    mimetypes = ["text/csv"]  # noqa: RUF012 (flask-openapi3 reads the class attribute)


@staff.post(
    "/import",
    summary="Import a ledger CSV into the area: all rows or none",
    responses={200: Imported, **refusals(Error, 413, 422, 503)},
)
@needs("import")
def import_csv(raw: CsvLedger) -> Response:
    u = me()
    try:
        # the same decoding as `vrs import`: UTF-8 or CP932, strictly, or the charset named
        text = ledger_text(io.BytesIO(raw.get_data()), raw.mimetype_params.get("charset"))
        # staged without a lock, then merged with its log entry in one short transaction:
        # issuance goes on meanwhile
        count = vrs().area(u.area).import_csv(text, actor=u.user_id)
    except VrsError as exc:
        vrs().log(u.user_id, u.area, "records.import", "-", exc.code.value)
        raise
    return reply(Imported(imported=count))


@staff.get(
    "/export.csv",
    summary="The area's vaccination records as CSV, without My Number (M17)",
    responses={
        200: {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
@needs("export")
def export_csv() -> Response:
    u = me()
    area = vrs().area(u.area)
    vrs().log(u.user_id, u.area, "records.export")
    return Response(list(area.export_csv()), mimetype="text/csv")


@staff.post(
    "/persons/lookup",
    summary="A person of the area by My Number: personal fields (not the number) and doses",
    responses={200: PersonFound, **refusals(Error, 404, 413)},
)
@needs("read")
def lookup(body: PersonLookup) -> Response:
    u = me()
    found = vrs().area(u.area).find(body.my_number)
    vrs().log(
        u.user_id,
        u.area,
        "records.read",
        found[0].id if found else "-",
        "ok" if found else "no_record",
    )
    if found is None:
        raise VrsError(Code.NO_RECORD, "no such person in this area")
    row, person = found
    person.pop("my_number", None)
    return reply(
        PersonFound.model_validate(
            {
                "id": row.id,
                "person": person,
                "doses": vrs().area(u.area).doses(row.id),
                "moved_out": row.moved_out,
                "deceased": row.deceased,
            }
        )
    )


@staff.delete(
    "/persons/<person_id>",
    summary="Erase a person of the administrator's own area (M16)",
    responses={204: None, **refusals(Error, 404, 503)},
)
@needs("erase")
def erase(path: PersonPath) -> tuple[str, int]:
    u, person_id = me(), path.person_id
    # the area is the administrator's own: another area's row is simply not found (M16)
    with vrs().storage.transaction():  # the erasure and its log entry, or neither
        erased = vrs().area(u.area).erase(person_id)
        if erased:
            vrs().log(u.user_id, u.area, "records.erase", person_id)
    if not erased:
        # a row ID names no one; anything else (a My Number typed in the path) stays out
        target = person_id if re.fullmatch(r"[0-9a-f]{24}", person_id) else "-"
        vrs().log(u.user_id, u.area, "records.erase", target, "not_found")
        raise VrsError(Code.NOT_FOUND, "no such person in this area")
    return "", 204


@staff.post(
    "/transfers",
    summary="Ask the former municipality for the doses of a person this area holds (M18)",
    responses={201: TransferDone, **refusals(Error, 404, 413, 422, 503)},
)
@needs("transfer")
def request_transfer(body: TransferRequest) -> Response:
    """The doses a former municipality holds of a person this area holds (M18)."""
    u = me()
    done = transfer(vrs(), u.user_id, u.area, body.from_municipality, body.my_number)
    return reply(TransferDone.model_validate(done), 201)


@staff.get(
    "/transfers",
    summary="Every transfer out of or into the area, newest first (administrators)",
    responses={200: Transfers},
)
@needs("review_log")
def list_transfers(query: Page) -> Response:
    """Every transfer out of or into this area, for its administrators (M18)."""
    entries = reviewed(vrs().storage.transfers, query, "transfer.review")
    return reply(Transfers.model_validate({"transfers": entries}))


@staff.get(
    "/statistics",
    summary="Persons per municipality: all national and prefectural roles see (M13)",
    responses={200: Statistics},
)
@needs("statistics")
def statistics() -> Response:
    """Counts per municipality: all that national and prefectural roles can see (M13)."""
    u = me()
    counts = vrs().storage.count_persons()
    shown = [m for m in vrs().municipalities() if u.area == "national" or m.prefecture == u.area]
    vrs().log(u.user_id, u.area, "statistics.read")
    return reply(Statistics(persons={m.code: counts.get(m.code, 0) for m in shown}))


wellknown = APIBlueprint("wellknown", __name__, abp_responses=refusals(Error))


@wellknown.get(
    "/.well-known/jwks.json", summary="The SHC issuer's public keys", responses={200: Jwks}
)
@wellknown.get(
    "/issuer/.well-known/jwks.json", summary="The SHC issuer's public keys", responses={200: Jwks}
)
def jwks() -> Response:
    return reply(Jwks.model_validate(vrs().issuer.jwks()))


@wellknown.get(
    "/.well-known/csca.pem",
    summary="The CSCA certificates of the ICAO VDS-NC seal (PEM)",
    responses={
        200: {
            "description": "PEM certificates",
            "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
        }
    },
)
def csca() -> Response:
    """The CSCA certificates that issued the VDS-NC barcode signers (PEM), for verifiers."""
    return Response(vrs().seal_signer.csca_pem(), mimetype="application/x-pem-file")
