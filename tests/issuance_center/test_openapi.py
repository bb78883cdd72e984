"""Schemathesis against the center over its real mutual-TLS link: no 5xx, every 4xx with a reason."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from issuance_center.openapi import SPEC
from tests.hypothesis_profiles import fuzz

schema = schemathesis.openapi.from_dict(SPEC)


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


def test_the_spec_is_served(center_url: str, pki: dict[str, Any]) -> None:
    served = kiosk_session(pki).get(center_url + "/openapi.json", timeout=5).json()
    assert served["paths"].keys() == SPEC["paths"].keys()
