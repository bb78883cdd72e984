"""VRS's HTTP APIs, declared once: the typed request and response of every route.

flask-openapi3 validates each request against these models before the view runs (a
failure is a 400 ``bad_request`` naming the field, never its value: ``serving.api``) and
writes each listener's OpenAPI description (``/openapi.json``) from them. Checks that need state
(a session, a role, an area, whether a municipality exists) stay in the views.

The LGWAN listener: the issuance center's ``/v1`` (``Person``, ``IssueRequest``), the
staff API (``/staff``) and the SHC issuer's keys. The vaccination-site listener:
coupon numbers only (``CouponAsk``, ``DoseReport``; M12), and no field but its own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from card_reader.mynumber import is_valid as my_number_valid
from certs.printable import ISSUED_JSON_SCHEMA
from serving.api import Closed, Strict, error_model, openapi31

from .errors import Code
from .municipalities import valid_municipality_code

Error = error_model(Code)


def _municipality(code: str) -> str:
    if not valid_municipality_code(code):
        raise ValueError("is not a valid local government code (its check digit)")
    return code


def _my_number(number: str) -> str:
    if not my_number_valid(number):
        raise ValueError("is not a valid 12-digit My Number (its check digit)")
    return number


MunicipalityCode = Annotated[str, Field(pattern=r"^[0-9]{6}$"), AfterValidator(_municipality)]
MyNumber = Annotated[str, Field(pattern=r"^[0-9]{12}$"), AfterValidator(_my_number)]
Date = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
Product = Literal["moderna", "pfizer", "astrazeneca", "novavax", "janssen", "unspecified"]
CertificateType = Literal["domestic", "overseas"]
StaffRole = Literal["administrator", "operator", "read-only"]
MAX_COPIES = 10


# --- the issuance center (/v1)


class Person(Strict):
    """A person of a municipality, by My Number."""

    municipality_code: MunicipalityCode
    my_number: MyNumber


class IssueRequest(Person):
    certificate_type: CertificateType
    copies: int = Field(1, ge=1, le=MAX_COPIES)
    session_id: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="the issuance center's session this issuance is for (the center sends a"
        " SHA-256 of its session ID, 64 hex digits): recorded with the certificate IDs in the"
        " same transaction, and one issuance per session, whichever center worker asks. A"
        " second issuance for the same session ID issues nothing and is refused with 409"
        " session_already_issued (the center retried, or two of its workers were asked).",
    )


class MunicipalityInfo(BaseModel):
    code: str = Field(pattern=r"^[0-9]{6}$")
    name_ja: str
    name_en: str
    prefecture: str
    offers_convenience_store_issuance: bool


class Municipalities(BaseModel):
    municipalities: list[MunicipalityInfo]


class Eligibility(BaseModel):
    domestic: bool
    overseas: bool
    doses: int


# one certificate as certs writes it: its SHC, its seal and its page (``certs.printable``)
Certificate = Annotated[dict[str, Any], WithJsonSchema(openapi31(ISSUED_JSON_SCHEMA))]


class Certificates(BaseModel):
    certificates: list[Certificate]


# --- staff (/staff)


class Login(Strict):
    user_id: str
    password: str


class Token(BaseModel):
    token: str


class NewStaffUser(Strict):
    user_id: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=12)
    # a role above the municipal ones is refused by the view, which logs the attempt first
    role: Annotated[str, WithJsonSchema({"type": "string", "enum": list(get_args(StaffRole))})]


class StaffUserMade(BaseModel):
    user_id: str
    role: str
    area: str


class StaffUserInfo(BaseModel):
    user_id: str
    role: str
    revoked: bool
    created_by: str
    created_at: str
    privileges: list[str]


class StaffUsers(BaseModel):
    users: list[StaffUserInfo]


class UserPath(BaseModel):
    user_id: str


class PersonPath(BaseModel):
    person_id: str


def _digits(value: object) -> object:
    # ASCII digits only: int() takes some characters that str.isdigit() accepts ("²")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise ValueError("must be a number")
        return min(int(value[:9]), 10000) if len(value) < 10 else 10000
    return value


class Page(BaseModel):
    """How many entries, newest first (at most 10,000)."""

    limit: Annotated[int, Field(ge=0), BeforeValidator(_digits)] = 200


class OplogEntry(BaseModel):
    id: int
    at: str
    actor: str
    area: str
    action: str
    target: str
    outcome: str


class Oplog(BaseModel):
    entries: list[OplogEntry]


class Imported(BaseModel):
    imported: int


class PersonLookup(Strict):
    my_number: MyNumber


class Dose(BaseModel):
    model_config = ConfigDict(extra="allow")

    dose_number: int
    dose_date: Date
    manufacturer: str | None = None
    vaccine_type: str | None = None
    product: Product
    lot_number: str
    transferred_from: str | None = Field(None, pattern=r"^[0-9]{6}$")


class PersonFound(BaseModel):
    id: str
    person: dict[str, Any]
    doses: list[Dose]
    moved_out: bool
    deceased: bool


class TransferRequest(Strict):
    from_municipality: MunicipalityCode
    my_number: MyNumber


class TransferDone(BaseModel):
    transfer_id: int
    from_municipality: str = Field(pattern=r"^[0-9]{6}$")
    to_municipality: str = Field(pattern=r"^[0-9]{6}$")
    person_id: str
    provided: list[Dose]
    doses: int


class TransferEntry(BaseModel):
    id: int
    at: str
    actor: str
    from_area: str = Field(pattern=r"^[0-9]{6}$")
    to_area: str = Field(pattern=r"^[0-9]{6}$")
    from_person: str | None
    to_person: str
    doses: int
    outcome: Literal["provided", "no_record"]


class Transfers(BaseModel):
    transfers: list[TransferEntry]


class Statistics(BaseModel):
    persons: dict[str, int]


class Jwks(BaseModel):
    keys: list[dict[str, Any]]


# --- the vaccination site (/site/v1): coupon numbers only, no other field (M12)

Coupon = Annotated[str, Field(pattern=r"^[0-9]{10}$")]
Lot = Annotated[str, Field(pattern=r"^[0-9A-Za-z-]{1,20}$")]


class CouponAsk(Closed):
    municipality_code: MunicipalityCode
    coupon_number: Coupon


class DoseReport(CouponAsk):
    dose_date: Date  # not after today (JST): the view checks it against the clock
    product: Product
    lot_number: Lot


class SiteDose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dose_number: int
    dose_date: Date
    product: Product
    lot_number: str


class CouponDoses(BaseModel):
    municipality_code: str = Field(pattern=r"^[0-9]{6}$")
    coupon_number: Coupon
    doses: list[SiteDose]
    next_dose_number: int


class DoseRecorded(BaseModel):
    municipality_code: str = Field(pattern=r"^[0-9]{6}$")
    coupon_number: Coupon
    dose: SiteDose
    recorded: bool
