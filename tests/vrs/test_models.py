"""VRS's request and response models (vrs/models.py): each request refuses what it must,
with a 400 ``bad_request`` that names the field and never the value, and each listener's
description says what the models say (a field dropped or loosened fails here)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, get_args

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from certs import VACCINES
from certs.printable import ISSUED_JSON_SCHEMA
from serving.api import UNKNOWN_FIELDS, openapi31
from vrs import Vrs, lgwan_api
from vrs.demo import Resident
from vrs.errors import Code
from vrs.models import Product
from vrs.site import CouponDesk, create_site_app, site_api

from ..issuance_center.conftest import client_cert_pem
from .conftest import Login

NIIHAMA = "382051"
MATSUYAMA = "382019"
LGWAN = lgwan_api().api_doc
SITE = site_api().api_doc


def request_schema(spec: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    ref = spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    schema: dict[str, Any] = spec["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    return schema


def answer_schema(spec: dict[str, Any], path: str, status: str, method: str = "post") -> Any:
    media = spec["paths"][path][method]["responses"][status]["content"]["application/json"]
    return spec["components"]["schemas"][media["schema"]["$ref"].rsplit("/", 1)[1]]


# (path, the required fields, whether any other field is refused)
REQUESTS = [
    (LGWAN, "/v1/eligibility", {"municipality_code", "my_number"}, False),
    (
        LGWAN,
        "/v1/certificates",
        {"municipality_code", "my_number", "certificate_type", "session_id"},
        False,
    ),
    (LGWAN, "/staff/login", {"user_id", "password"}, False),
    (LGWAN, "/staff/users", {"user_id", "password", "role"}, False),
    (LGWAN, "/staff/persons/lookup", {"my_number"}, False),
    (LGWAN, "/staff/transfers", {"from_municipality", "my_number"}, False),
    (SITE, "/site/v1/coupons/doses", {"municipality_code", "coupon_number"}, True),
    (
        SITE,
        "/site/v1/doses",
        {"municipality_code", "coupon_number", "dose_date", "product", "lot_number"},
        True,
    ),
]


@pytest.mark.parametrize(("spec", "path", "required", "closed"), REQUESTS)
def test_each_request_body_is_described_as_its_model_checks_it(
    spec: dict[str, Any], path: str, required: set[str], closed: bool
) -> None:
    schema = request_schema(spec, path)
    assert set(schema["required"]) == required
    assert set(schema["properties"]) >= required
    # the site takes its own fields only (M12); the LGWAN side ignores what it does not know
    assert schema.get("additionalProperties", True) is (not closed)


def test_the_descriptions_are_openapi_31_and_name_the_staff_scheme() -> None:
    assert LGWAN["openapi"] == SITE["openapi"] == "3.1.0"
    assert LGWAN["components"]["securitySchemes"] == {"staff": {"type": "http", "scheme": "bearer"}}
    for path, ops in LGWAN["paths"].items():
        for method, op in ops.items():
            staff_session = path.startswith("/staff/") and path != "/staff/login"
            assert (op.get("security") == [{"staff": []}]) is staff_session, (method, path)
            if staff_session:
                assert {"401", "403"} <= set(op["responses"]), (method, path)
    for spec in (LGWAN, SITE):
        codes = spec["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
        assert codes == [c.value for c in Code]
        for path, ops in spec["paths"].items():
            for method, op in ops.items():
                # a refused request is an Error, never pydantic's list
                bad = op["responses"]["400"]["content"]["application/json"]["schema"]
                assert bad == {"$ref": "#/components/schemas/Error"}, (method, path)


def test_the_issuance_answer_is_certs_certificate() -> None:
    certificates = answer_schema(LGWAN, "/v1/certificates", "200")
    assert certificates["properties"]["certificates"]["items"] == openapi31(ISSUED_JSON_SCHEMA)
    # the page is certs' printable model, closed as certs closes it
    page = certificates["properties"]["certificates"]["items"]["properties"]["printable"]
    assert page["additionalProperties"] is False
    assert page["properties"]["romanized_name"]["anyOf"][1] == {"type": "null"}


def test_the_products_are_certs_vaccines() -> None:
    assert set(get_args(Product)) == set(VACCINES)


def test_the_csv_routes_are_described_as_csv() -> None:
    body = LGWAN["paths"]["/staff/import"]["post"]["requestBody"]["content"]
    assert set(body) == {"text/csv"}
    export = LGWAN["paths"]["/staff/export.csv"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"text/csv"}


def json_of(resp: TestResponse) -> dict[str, Any]:
    body = resp.get_json()
    assert isinstance(body, dict), resp.data[:300]
    return body


def bad(resp: Any, *words: str) -> str:
    assert (resp.status_code, resp.json["error"]) == (400, "bad_request"), resp.data[:300]
    message: str = resp.json["message"]
    for w in words:
        assert w in message, message
    return message


@pytest.mark.security("B07")
def test_the_center_api_refuses_bad_requests_by_field_without_echoing(
    center: FlaskClient, people: list[Resident], cases: Callable[..., None]
) -> None:
    number = next(r for r in people if r.code == NIIHAMA).my_number
    good = {
        "municipality_code": NIIHAMA,
        "my_number": number,
        "certificate_type": "domestic",
        "session_id": "5e" * 32,
    }
    assert center.post("/v1/certificates", json=good).status_code == 200
    changes: list[tuple[dict[str, object], str]] = [
        ({"certificate_type": None}, "certificate_type"),
        ({"certificate_type": "lifetime"}, "certificate_type"),
        ({"copies": 0}, "copies"),
        ({"copies": 11}, "copies"),
        ({"copies": True}, "copies"),  # not 1
        ({"copies": "2"}, "copies"),  # not 2
        ({"my_number": number[:-1] + str((int(number[-1]) + 1) % 10)}, "my_number"),
        ({"municipality_code": "382050"}, "municipality_code"),  # its check digit
        ({"municipality_code": number}, "municipality_code"),  # a My Number misplaced
        ({"my_number": int(number)}, "my_number"),
        ({"session_id": "not-a-sha256"}, "session_id"),
        ({"session_id": None}, "session_id"),  # required
    ]
    for change, field in changes:
        cases()
        body = {k: v for k, v in {**good, **change}.items() if v is not None}
        message = bad(center.post("/v1/certificates", json=body), field)
        assert number not in message and number[:-1] not in message
    for missing in ("municipality_code", "my_number"):
        cases()
        body = {k: v for k, v in good.items() if k != missing}
        bad(center.post("/v1/eligibility", json=body), missing, "required")
    for raw in ("[]", '"{}"', "null", "{", json.dumps(json.dumps(good))):
        cases()
        resp = center.post("/v1/eligibility", data=raw, content_type="application/json")
        bad(resp, "JSON object")
    # unknown fields are ignored here, as before (the center sends exactly these)
    cases()
    assert center.post("/v1/eligibility", json={**good, "extra": 1}).status_code == 200


@pytest.mark.security("B07")
def test_the_site_refuses_a_field_of_its_own_kind_only(
    loaded: Vrs, people: list[Resident], cases: Callable[..., None]
) -> None:
    client = create_site_app({"DESK": CouponDesk.from_vrs(loaded)}).test_client()
    client.environ_base["SSL_CLIENT_CERT"] = client_cert_pem("tablet-1")
    holder = next(r for r in people if r.code == NIIHAMA and r.doses)
    ask = {"municipality_code": NIIHAMA, "coupon_number": holder.coupon}
    assert client.post("/site/v1/coupons/doses", json=ask).status_code == 200
    sneaks: list[tuple[dict[str, object], tuple[str, ...]]] = [
        ({**ask, "name": holder.name}, (UNKNOWN_FIELDS,)),
        ({**ask, "my_number": holder.my_number}, (UNKNOWN_FIELDS,)),
        ({**ask, holder.my_number: holder.my_number}, (UNKNOWN_FIELDS,)),
        ({**ask, holder.name: 1}, (UNKNOWN_FIELDS,)),
        ({"municipality_code": NIIHAMA}, ("coupon_number is required",)),
        ({**ask, "coupon_number": holder.my_number}, ("coupon_number must match",)),
        ({**ask, "coupon_number": int(holder.coupon)}, ("coupon_number must be a string",)),
    ]
    for sneaked, words in sneaks:
        cases()
        message = bad(client.post("/site/v1/coupons/doses", json=sneaked), *words)
        assert holder.my_number not in message and holder.name not in message
        assert [key for key in sneaked if key not in ask and key in message] == []  # M08
    report = {**ask, "dose_date": "2022-03-01", "product": "pfizer", "lot_number": "FA1234"}
    for change, field in [
        ({"dose_date": "2022-02-30"}, "dose_date"),
        ({"product": "PFIZER"}, "product"),
        ({"lot_number": "x" * 21}, "lot_number"),
    ]:
        cases()
        bad(client.post("/site/v1/doses", json={**report, **change}), field)


def test_staff_queries_and_paths_are_typed(
    staff: Login, people: list[Resident], cases: Callable[..., None]
) -> None:
    admin = staff(NIIHAMA, "administrator")
    for limit in ("²", "-1", "1e3", " 5", "5 "):
        cases()
        bad(admin.get("/staff/oplog", query_string={"limit": limit}), "limit")
    cases()
    assert len(json_of(admin.get("/staff/oplog?limit=2"))["entries"]) == 2
    cases()
    assert admin.get(f"/staff/oplog?limit={'9' * 5000}").status_code == 200  # at most 10,000
    cases()
    assert admin.get("/staff/transfers?limit=0").json == {"transfers": []}
    # a session is asked for before the body is looked at
    anonymous = staff(NIIHAMA, "read-only")
    anonymous.environ_base.pop("HTTP_AUTHORIZATION")
    cases()
    resp = anonymous.post("/staff/persons/lookup", json={"my_number": 5})
    assert (resp.status_code, json_of(resp)["error"]) == (401, "unauthenticated")
    cases()
    made = admin.post(
        "/staff/users", json={"user_id": "clerk-x", "password": "short", "role": "operator"}
    )
    bad(made, "password", "at least 12")
    cases()
    number = next(r for r in people if r.code == NIIHAMA).my_number
    found = json_of(admin.post("/staff/persons/lookup", json={"my_number": number}))
    assert set(found) == {"id", "person", "doses", "moved_out", "deceased"}
    assert "my_number" not in found["person"]
