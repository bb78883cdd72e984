"""The center's description, derived from its pydantic models by flask-openapi3: what it says,
that it is what is served, and schemathesis against the center over its real mutual-TLS link
(no 5xx, every 4xx with a reason, every answer as described)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from certs.printable import ISSUED_JSON_SCHEMA
from issuance_center.api import description
from issuance_center.errors import Code
from serving.api import openapi31
from tests.helpers import CARD_REQUEST_FIELDS
from tests.hypothesis_profiles import fuzz

SPEC = description()
schema = schemathesis.openapi.from_dict(SPEC)
# the body is read (and checked against its model) before the session is looked up: one too
# large for the center is refused as such (413), and a session may have expired (410)
schema.config.checks.negative_data_rejection.expected_statuses = [
    *schema.config.checks.negative_data_rejection.expected_statuses,
    "410",
    "413",
]

OPERATIONS = {
    ("/v1/sessions", "post"),
    ("/v1/sessions/{sid}/card", "post"),
    ("/v1/sessions/{sid}/eligibility", "post"),
    ("/v1/sessions/{sid}/certificates", "post"),
    ("/v1/sessions/{sid}", "delete"),
}


def kiosk_session(pki: dict[str, Any]) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.cert = tuple(map(str, pki["kiosk"]))
    s.verify = str(pki["kiosk_ca"])
    return s


@pytest.mark.security("B06")
@schema.parametrize()
# 20 times more in bin/campaign; the center runs per test (function-scoped), by design
@settings(fuzz(30), suppress_health_check=list(HealthCheck))
def test_no_input_breaks_the_center(
    case: schemathesis.Case, center_url: str, pki: dict[str, Any], cases: Any
) -> None:
    cases()
    s = kiosk_session(pki)
    resp = case.call(base_url=center_url, session=s, cert=s.cert, verify=s.verify)
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        body = resp.json()
        assert body["error"] and body["message"]
    case.validate_response(resp)


def test_the_description_is_served(center_url: str, pki: dict[str, Any]) -> None:
    served = kiosk_session(pki).get(center_url + "/openapi.json", timeout=5).json()
    assert served == SPEC


def test_every_operation_is_described() -> None:
    described = {(p, m) for p, item in SPEC["paths"].items() for m in item}
    assert described == {*OPERATIONS, ("/openapi.json", "get")}  # the description too
    assert SPEC["openapi"].startswith("3.1")
    assert SPEC["components"]["securitySchemes"]["kiosk"]["type"] == "mutualTLS"


def request_schema(path: str) -> dict[str, Any]:
    ref = SPEC["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name: str = ref["$ref"].rsplit("/", 1)[1]
    found: dict[str, Any] = SPEC["components"]["schemas"][name]
    return found


@pytest.mark.measure("M08")
@pytest.mark.parametrize("path", sorted(p for p, m in OPERATIONS if "{sid}/" in p))
def test_each_request_body_holds_its_fields_and_nothing_else(path: str) -> None:
    body = request_schema(path)
    assert body["additionalProperties"] is False
    assert set(body["required"]) == set(body["properties"])


def test_the_order_says_what_the_center_checks() -> None:
    order = request_schema("/v1/sessions/{sid}/certificates")["properties"]
    assert (order["copies"]["type"], order["copies"]["minimum"], order["copies"]["maximum"]) == (
        "integer",
        1,
        10,
    )
    assert order["certificate_type"]["enum"] == ["domestic", "overseas"]
    assert order["municipality_code"]["pattern"] == "^[0-9]{6}$"


def test_the_card_request_is_card_readers() -> None:
    card = request_schema("/v1/sessions/{sid}/card")
    assert set(card["properties"]) == CARD_REQUEST_FIELDS
    assert all(p["format"] == "byte" for p in card["properties"].values())


def test_every_refusal_is_an_error_with_the_centers_codes() -> None:
    error = SPEC["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["enum"] == [c.value for c in Code]
    assert set(error["required"]) == {"error", "message"}
    # flask-openapi3's own 422 list is neither sent nor described
    assert "ValidationErrorModel" not in SPEC["components"]["schemas"]
    for path, method in OPERATIONS:
        responses = SPEC["paths"][path][method]["responses"]
        refusals = {s: r for s, r in responses.items() if s.startswith("4") or s.startswith("5")}
        assert "400" in refusals and "401" in refusals, (path, method)
        for r in refusals.values():
            assert r["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }


def test_the_certificates_are_certs_own_schema() -> None:
    """Relayed as VRS issued them: the shape is certs', said the way OpenAPI 3.1 says it."""
    ok = SPEC["paths"]["/v1/sessions/{sid}/certificates"]["post"]["responses"]["200"]
    name = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    issued = SPEC["components"]["schemas"][name]["properties"]["certificates"]["items"]
    assert issued == openapi31(ISSUED_JSON_SCHEMA)
    assert "nullable" not in str(issued)
    assert issued["properties"]["seal"]["anyOf"][1] == {"type": "null"}
