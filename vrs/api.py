"""HTTP: the center's issuance API, the staff API, the issuer's key set and the seal's CSCA."""

from __future__ import annotations

import io
import re
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from card_reader.mynumber import is_valid as my_number_valid
from serving import client_certificate

from .areas import Vrs
from .errors import Code, VrsError
from .ledger import ledger_text
from .municipalities import valid_municipality_code
from .staff import StaffService, StaffUser
from .transfers import transfer

center = Blueprint("center", __name__, url_prefix="/v1")
staff = Blueprint("staff", __name__, url_prefix="/staff")
wellknown = Blueprint("wellknown", __name__)

MAX_COPIES = 10


def vrs() -> Vrs:
    return current_app.extensions["vrs"]


def staff_service() -> StaffService:
    return current_app.extensions["vrs_staff"]


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise VrsError(Code.BAD_REQUEST, "the request body must be a JSON object")
    return data


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


def _request_person() -> tuple[str, str]:
    data = body()
    code, number = data.get("municipality_code"), data.get("my_number")
    if not valid_municipality_code(code):  # type: ignore[arg-type]
        raise VrsError(Code.BAD_REQUEST, "municipality_code must be a valid 6-digit code")
    if not isinstance(number, str) or not my_number_valid(number):
        raise VrsError(Code.BAD_REQUEST, "my_number must be a valid 12-digit My Number")
    return code, number  # type: ignore[return-value]


@center.get("/municipalities")
def municipalities() -> Any:
    return jsonify(municipalities=[m.public() for m in vrs().municipalities()])


@center.post("/eligibility")
def eligibility() -> Any:
    code, number = _request_person()
    area = vrs().area(code)
    try:
        answer = area.eligibility(number)
    except VrsError as exc:
        vrs().log("issuance-center", code, "certificate.eligibility", "-", exc.code.value)
        raise
    vrs().log("issuance-center", code, "certificate.eligibility")
    return jsonify(answer)


@center.post("/certificates")
def certificates() -> Any:
    code, number = _request_person()
    data = request.get_json()
    kind, copies = data.get("certificate_type"), data.get("copies", 1)
    if kind not in ("domestic", "overseas"):
        raise VrsError(Code.BAD_REQUEST, "certificate_type must be domestic or overseas")
    if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= MAX_COPIES:
        raise VrsError(Code.BAD_REQUEST, f"copies must be 1 to {MAX_COPIES}")
    area = vrs().area(code)
    try:
        # M19: the IDs are recorded in the certificates table; the log names them, no person.
        # One transaction: no certificate is recorded without its log entry (a full disk);
        # the signing happens before it, holding no lock
        issued = area.issue(number, kind, copies, actor="issuance-center")
    except VrsError as exc:
        vrs().log("issuance-center", code, "certificate.issue", "-", exc.code.value)
        raise
    return jsonify(certificates=issued)


# --- staff (LGWAN terminals: mutual TLS, then a personal login)


def user(permission: str) -> StaffUser:
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else None
    u = staff_service().authenticate(token, request.remote_addr or "-")
    if not u.may(permission):
        vrs().log(u.user_id, u.area, f"denied.{permission}", "-", "refused")
        raise VrsError(Code.FORBIDDEN, f"the role {u.role} may not {permission.replace('_', ' ')}")
    return u


@staff.post("/login")
def login() -> Any:
    data = body()
    uid, password = data.get("user_id"), data.get("password")
    if not isinstance(uid, str) or not isinstance(password, str):
        raise VrsError(Code.BAD_REQUEST, "user_id and password are required")
    return jsonify(token=staff_service().login(uid, password, request.remote_addr or "-"))


@staff.post("/users")
def issue_user() -> Any:
    admin = user("manage_staff")
    data = body()
    role = data.get("role")
    if role not in ("administrator", "operator", "read-only"):
        # e.g. an administrator minting a national or prefectural ID: logged, then refused
        asked = role if isinstance(role, str) and role.isalpha() else "-"
        vrs().log(admin.user_id, admin.area, "staff.issue", f"role {asked[:32]}", "refused")
        raise VrsError(Code.BAD_REQUEST, "role must be administrator, operator or read-only")
    uid, password = data.get("user_id"), data.get("password")
    if not isinstance(uid, str) or not isinstance(password, str):  # not str(True): "True"
        raise VrsError(Code.BAD_REQUEST, "user_id and password must be strings")
    new = staff_service().create(admin.user_id, admin.area, uid, password, role)
    return jsonify(user_id=new.user_id, role=new.role, area=new.area), 201


@staff.get("/users")
def list_users() -> Any:
    return jsonify(users=staff_service().listing(user("manage_staff")))


@staff.delete("/users/<user_id>")
def revoke_user(user_id: str) -> Any:
    staff_service().revoke(user("manage_staff"), user_id)
    return "", 204


@staff.get("/oplog")
def oplog() -> Any:
    u = user("review_log")
    entries = vrs().storage.oplog(u.area, _limit())
    vrs().log(u.user_id, u.area, "oplog.review")
    return jsonify(entries=entries)


@staff.post("/import")
def import_csv() -> Any:
    u = user("import")
    try:
        # the same decoding as `vrs import`: UTF-8 or CP932, strictly, or the charset named
        text = ledger_text(io.BytesIO(request.get_data()), request.mimetype_params.get("charset"))
        # staged without a lock, then merged with its log entry in one short transaction:
        # issuance goes on meanwhile
        count = vrs().area(u.area).import_csv(text, actor=u.user_id)
    except VrsError as exc:
        vrs().log(u.user_id, u.area, "records.import", "-", exc.code.value)
        raise
    return jsonify(imported=count)


@staff.get("/export.csv")
def export_csv() -> Any:
    u = user("export")
    area = vrs().area(u.area)
    vrs().log(u.user_id, u.area, "records.export")
    return Response(list(area.export_csv()), mimetype="text/csv")


@staff.post("/persons/lookup")
def lookup() -> Any:
    u = user("read")
    number = body().get("my_number")
    if not isinstance(number, str) or not my_number_valid(number):
        raise VrsError(Code.BAD_REQUEST, "my_number must be a valid 12-digit My Number")
    found = vrs().area(u.area).find(number)
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
    return jsonify(
        id=row.id,
        person=person,
        doses=vrs().area(u.area).doses(row.id),
        moved_out=row.moved_out,
        deceased=row.deceased,
    )


@staff.delete("/persons/<person_id>")
def erase(person_id: str) -> Any:
    u = user("erase")
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


@staff.post("/transfers")
def request_transfer() -> Any:
    """The doses a former municipality holds of a person this area holds (M18)."""
    u = user("transfer")
    data = body()
    source, number = data.get("from_municipality"), data.get("my_number")
    if not valid_municipality_code(source):  # type: ignore[arg-type]
        raise VrsError(Code.BAD_REQUEST, "from_municipality must be a valid 6-digit code")
    if not isinstance(number, str) or not my_number_valid(number):
        raise VrsError(Code.BAD_REQUEST, "my_number must be a valid 12-digit My Number")
    return jsonify(transfer(vrs(), u.user_id, u.area, source, number)), 201


@staff.get("/transfers")
def list_transfers() -> Any:
    """Every transfer out of or into this area, for its administrators (M18)."""
    u = user("review_log")
    entries = vrs().storage.transfers(u.area, _limit())
    vrs().log(u.user_id, u.area, "transfer.review")
    return jsonify(transfers=entries)


def _limit() -> int:
    limit = request.args.get("limit", "200")
    # ASCII digits only: int() refuses some characters that str.isdigit() accepts ("²")
    if not (limit.isascii() and limit.isdigit()):
        raise VrsError(Code.BAD_REQUEST, "limit must be a number")
    return min(int(limit), 10000)


@staff.get("/statistics")
def statistics() -> Any:
    """Counts per municipality: all that national and prefectural roles can see (M13)."""
    u = user("statistics")
    counts = vrs().storage.count_persons()
    shown = [m for m in vrs().municipalities() if u.area == "national" or m.prefecture == u.area]
    vrs().log(u.user_id, u.area, "statistics.read")
    return jsonify(persons={m.code: counts.get(m.code, 0) for m in shown})


@wellknown.get("/.well-known/jwks.json")
@wellknown.get("/issuer/.well-known/jwks.json")
def jwks() -> Any:
    return jsonify(vrs().issuer.jwks())


@wellknown.get("/.well-known/csca.pem")
def csca() -> Any:
    """The CSCA certificates that issued the VDS-NC barcode signers (PEM), for verifiers."""
    return Response(vrs().seal_signer.csca_pem(), mimetype="application/x-pem-file")
