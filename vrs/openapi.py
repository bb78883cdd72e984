"""VRS's HTTP APIs as OpenAPI 3, each served at ``/openapi.json`` by its own listener.

``LGWAN_SPEC``: the LGWAN listener (mutual TLS, LGWAN CA): the issuance
center's ``/v1`` API (the center's certificate only), the staff API
(``/staff``, a bearer token from ``/staff/login``) and the SHC issuer's keys.
``SITE_SPEC``: the internet-facing vaccination-site listener (mutual TLS,
the site CA's tablet certificates), coupon numbers only (M12).
"""

from __future__ import annotations

from typing import Any

from certs import VACCINES
from certs.printable import ISSUED_JSON_SCHEMA
from serving.openapi import error_schema, errors, json_body

from .errors import Code

STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
MUNICIPALITY = {"type": "string", "pattern": "^[0-9]{6}$"}
MY_NUMBER = {"type": "string", "pattern": "^[0-9]{12}$"}
COUPON = {"type": "string", "pattern": "^[0-9]{10}$"}
DATE = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}}
BEARER = [{"staff": []}]


def obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def ok(schema: dict[str, Any], status: int = 200, text: str = "done") -> dict[str, Any]:
    return {str(status): {"description": text, "content": {"application/json": {"schema": schema}}}}


def op(summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **more}


def staff_op(summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    # every staff call may meet a missing session (401) or a role without the privilege (403)
    return op(summary, {**responses, **errors(401, 403)}, security=BEARER, **more)


DOSE = obj(
    ["dose_number", "dose_date", "product", "lot_number"],
    dose_number=INT,
    dose_date=DATE,
    manufacturer=STR,
    vaccine_type=STR,
    product={"type": "string", "enum": list(VACCINES)},
    lot_number=STR,
    transferred_from=MUNICIPALITY,
)
SITE_DOSE = obj(
    ["dose_number", "dose_date", "product", "lot_number"],
    dose_number=INT,
    dose_date=DATE,
    product={"type": "string", "enum": list(VACCINES)},
    lot_number=STR,
)
SITE_DOSE["additionalProperties"] = False
PERSON_ASK = obj(
    ["municipality_code", "my_number"], municipality_code=MUNICIPALITY, my_number=MY_NUMBER
)
CERTIFICATE = ISSUED_JSON_SCHEMA  # certs owns the certificate and its page on the wire
OPLOG = obj(
    ["id", "at", "actor", "area", "action", "target", "outcome"],
    id=INT,
    at=STR,
    actor=STR,
    area=STR,
    action=STR,
    target=STR,
    outcome=STR,
)
TRANSFER = obj(
    ["id", "at", "actor", "from_area", "to_area", "from_person", "to_person", "doses", "outcome"],
    id=INT,
    at=STR,
    actor=STR,
    from_area=MUNICIPALITY,
    to_area=MUNICIPALITY,
    from_person={"type": "string", "nullable": True},
    to_person=STR,
    doses=INT,
    outcome={"type": "string", "enum": ["provided", "no_record"]},
)
COMPONENTS = {
    "schemas": {"Error": error_schema(Code)},
    "securitySchemes": {"staff": {"type": "http", "scheme": "bearer"}},
}
SPEC_ITSELF = {"get": op("This description", ok({"type": "object"}, text="OpenAPI 3"))}
JWKS = {
    "get": op(
        "The SHC issuer's public keys",
        ok(obj(["keys"], keys=array({"type": "object"})), text="JWK set"),
    )
}

LGWAN_SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "VRS (LGWAN side)",
        "version": "1",
        "description": "Mutual TLS with an LGWAN-CA client certificate. /v1: the certificate"
        " issuance center's certificate only. /staff: a personal bearer token from /staff/login.",
    },
    "paths": {
        "/v1/municipalities": {
            "get": op(
                "The municipalities and whether they offer convenience-store issuance",
                {
                    **ok(
                        obj(
                            ["municipalities"],
                            municipalities=array(
                                obj(
                                    [
                                        "code",
                                        "name_ja",
                                        "name_en",
                                        "prefecture",
                                        "offers_convenience_store_issuance",
                                    ],
                                    code=MUNICIPALITY,
                                    name_ja=STR,
                                    name_en=STR,
                                    prefecture=STR,
                                    offers_convenience_store_issuance=BOOL,
                                )
                            ),
                        )
                    ),
                    **errors(403),
                },
            )
        },
        "/v1/eligibility": {
            "post": op(
                "Which certificate types a person can get in a municipality",
                {
                    **ok(
                        obj(
                            ["domestic", "overseas", "doses"],
                            domestic=BOOL,
                            overseas=BOOL,
                            doses=INT,
                        )
                    ),
                    **errors(400, 403, 404, 413, 422, 503),
                },
                requestBody=json_body(PERSON_ASK),
            )
        },
        "/v1/certificates": {
            "post": op(
                "Issue: signed SMART Health Cards and their printable fields (IDs recorded, M19)",
                {
                    **ok(obj(["certificates"], certificates=array(CERTIFICATE))),
                    **errors(400, 403, 404, 413, 422, 503),
                },
                requestBody=json_body(
                    {
                        **PERSON_ASK,
                        "required": ["municipality_code", "my_number", "certificate_type"],
                        "properties": {
                            **PERSON_ASK["properties"],
                            "certificate_type": {
                                "type": "string",
                                "enum": ["domestic", "overseas"],
                            },
                            "copies": {"type": "integer", "minimum": 1, "maximum": 10},
                        },
                    }
                ),
            )
        },
        "/staff/login": {
            "post": op(
                "A staff session: a bearer token for the other /staff calls",
                {**ok(obj(["token"], token=STR)), **errors(400, 401, 403, 413, 503)},
                requestBody=json_body(obj(["user_id", "password"], user_id=STR, password=STR)),
            )
        },
        "/staff/users": {
            "get": staff_op(
                "The area's staff IDs and their privileges (administrators)",
                ok(
                    obj(
                        ["users"],
                        users=array(
                            obj(
                                [
                                    "user_id",
                                    "role",
                                    "revoked",
                                    "created_by",
                                    "created_at",
                                    "privileges",
                                ],
                                user_id=STR,
                                role=STR,
                                revoked=BOOL,
                                created_by=STR,
                                created_at=STR,
                                privileges=array(STR),
                            )
                        ),
                    )
                ),
            ),
            "post": staff_op(
                "Issue a staff ID in the administrator's area",
                {
                    **ok(obj(["user_id", "role", "area"], user_id=STR, role=STR, area=STR), 201),
                    **errors(400, 409, 413, 503),
                },
                requestBody=json_body(
                    obj(
                        ["user_id", "password", "role"],
                        user_id={"type": "string", "minLength": 1, "maxLength": 64},
                        password={"type": "string", "minLength": 12},
                        role={"type": "string", "enum": ["administrator", "operator", "read-only"]},
                    )
                ),
            ),
        },
        "/staff/users/{user_id}": {
            "delete": staff_op(
                "Revoke a staff ID of the administrator's area; its sessions end",
                {"204": {"description": "revoked"}, **errors(404, 503)},
                parameters=[{"name": "user_id", "in": "path", "required": True, "schema": STR}],
            )
        },
        "/staff/oplog": {
            "get": staff_op(
                "The area's operation log, newest first (administrators)",
                {**ok(obj(["entries"], entries=array(OPLOG))), **errors(400)},
                parameters=[LIMIT],
            )
        },
        "/staff/import": {
            "post": staff_op(
                "Import a ledger CSV into the area: all rows or none",
                {**ok(obj(["imported"], imported=INT)), **errors(413, 422, 503)},
                requestBody={"required": True, "content": {"text/csv": {"schema": STR}}},
            )
        },
        "/staff/export.csv": {
            "get": staff_op(
                "The area's vaccination records as CSV, without My Number (M17)",
                {"200": {"description": "CSV", "content": {"text/csv": {"schema": STR}}}},
            )
        },
        "/staff/persons/lookup": {
            "post": staff_op(
                "A person of the area by My Number: personal fields (not the number) and doses",
                {
                    **ok(
                        obj(
                            ["id", "person", "doses", "moved_out", "deceased"],
                            id=STR,
                            person={"type": "object"},
                            doses=array(DOSE),
                            moved_out=BOOL,
                            deceased=BOOL,
                        )
                    ),
                    **errors(400, 404, 413),
                },
                requestBody=json_body(obj(["my_number"], my_number=MY_NUMBER)),
            )
        },
        "/staff/persons/{person_id}": {
            "delete": staff_op(
                "Erase a person of the administrator's own area (M16)",
                {"204": {"description": "erased"}, **errors(404, 503)},
                parameters=[{"name": "person_id", "in": "path", "required": True, "schema": STR}],
            )
        },
        "/staff/transfers": {
            "post": staff_op(
                "Ask the former municipality for the doses of a person this area holds (M18)",
                {
                    **ok(
                        obj(
                            [
                                "transfer_id",
                                "from_municipality",
                                "to_municipality",
                                "person_id",
                                "provided",
                                "doses",
                            ],
                            transfer_id=INT,
                            from_municipality=MUNICIPALITY,
                            to_municipality=MUNICIPALITY,
                            person_id=STR,
                            provided=array(DOSE),
                            doses=INT,
                        ),
                        201,
                        "provided (possibly no dose new to this area)",
                    ),
                    **errors(400, 404, 413, 422, 503),
                },
                requestBody=json_body(
                    obj(
                        ["from_municipality", "my_number"],
                        from_municipality=MUNICIPALITY,
                        my_number=MY_NUMBER,
                    )
                ),
            ),
            "get": staff_op(
                "Every transfer out of or into the area, newest first (administrators)",
                {**ok(obj(["transfers"], transfers=array(TRANSFER))), **errors(400)},
                parameters=[LIMIT],
            ),
        },
        "/staff/statistics": {
            "get": staff_op(
                "Persons per municipality: all national and prefectural roles see (M13)",
                ok(
                    obj(
                        ["persons"],
                        persons={"type": "object", "additionalProperties": INT},
                    )
                ),
            )
        },
        "/.well-known/jwks.json": JWKS,
        "/issuer/.well-known/jwks.json": JWKS,
        "/.well-known/csca.pem": {
            "get": {
                "summary": "The CSCA certificates of the ICAO VDS-NC seal (PEM)",
                "responses": {
                    "200": {
                        "description": "PEM certificates",
                        "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": SPEC_ITSELF,
    },
    "components": COMPONENTS,
}

COUPON_ASK = obj(
    ["municipality_code", "coupon_number"],
    municipality_code=MUNICIPALITY,
    coupon_number=COUPON,
)
COUPON_ASK["additionalProperties"] = False  # a My Number, a name: refused
DOSE_REPORT = obj(
    [*COUPON_ASK["required"], "dose_date", "product", "lot_number"],
    **COUPON_ASK["properties"],
    dose_date=DATE,
    product={"type": "string", "enum": list(VACCINES)},
    lot_number={"type": "string", "pattern": "^[0-9A-Za-z-]{1,20}$"},
)
DOSE_REPORT["additionalProperties"] = False
DOSE_RECORDED = obj(
    ["municipality_code", "coupon_number", "dose", "recorded"],
    municipality_code=MUNICIPALITY,
    coupon_number=COUPON,
    dose=SITE_DOSE,
    recorded=BOOL,
)
SITE_ERRORS = (400, 401, 404, 413, 422, 503)

SITE_SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "VRS (vaccination-site side)",
        "version": "1",
        "description": "Internet-facing; mutual TLS with a tablet certificate of the site CA."
        " Coupon numbers (接種券番号) only: no My Number is accepted or returned (M12).",
    },
    "paths": {
        "/site/v1/coupons/doses": {
            "post": op(
                "The doses recorded for a coupon, and the number the next one gets",
                {
                    **ok(
                        obj(
                            ["municipality_code", "coupon_number", "doses", "next_dose_number"],
                            municipality_code=MUNICIPALITY,
                            coupon_number=COUPON,
                            doses=array(SITE_DOSE),
                            next_dose_number=INT,
                        )
                    ),
                    **errors(*SITE_ERRORS),
                },
                requestBody=json_body(COUPON_ASK),
            )
        },
        "/site/v1/doses": {
            "post": op(
                "Report a dose given at the site: recorded as the coupon's next dose",
                {
                    **ok(DOSE_RECORDED, 201, "recorded"),
                    **ok(DOSE_RECORDED, 200, "sent before: the dose recorded then"),
                    **errors(*SITE_ERRORS, 409),
                },
                requestBody=json_body(DOSE_REPORT),
            )
        },
        "/openapi.json": SPEC_ITSELF,
    },
    "components": {"schemas": COMPONENTS["schemas"]},
}
