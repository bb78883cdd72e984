"""VRS fills certs' printable model: its issuance reply parses into ``Printable`` and matches
the OpenAPI descriptions of VRS and of the center that relays it."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask.testing import FlaskClient

from certs import Printable, to_numeric
from certs.printable import OVERSEAS_FIELDS
from certs.vds import parse_seal
from issuance_center.api import description as center_description
from vrs import lgwan_api
from vrs.demo import Resident

from .test_seal import issue

VRS_ISSUE = schemathesis.openapi.from_dict(lgwan_api().api_doc)["/v1/certificates"]["POST"]
CENTER_ISSUE = schemathesis.openapi.from_dict(center_description())[
    "/v1/sessions/{sid}/certificates"
]["POST"]


@pytest.mark.parametrize(
    ("who", "kind", "kinds"),
    [(0, "overseas", ["overseas", "domestic"]), (1, "domestic", ["domestic"])],
)
def test_the_issuance_reply_parses_into_the_printable_model(
    center: FlaskClient, people: list[Resident], who: int, kind: str, kinds: list[str]
) -> None:
    holder = people[who]
    resp = issue(center, holder, kind)
    assert resp.status_code == 200
    # what VRS answers is what both descriptions say (the center relays it as it is)
    VRS_ISSUE.validate_response(resp)
    CENTER_ISSUE.validate_response(resp)
    issued: list[dict[str, Any]] = resp.json["certificates"]
    assert [c["type"] for c in issued] == kinds
    for c in issued:
        page = Printable.from_json(c["printable"])
        assert page.to_json() == c["printable"]  # the wire is the model's JSON, key for key
        assert (page.certificate_type, page.certificate_id) == (c["type"], c["certificate_id"])
        assert page.issue_date.isoformat() == c["issue_date"]
        assert page.qr_value == to_numeric(c["jws"])
        assert (page.name, page.birth_date) == (holder.name, holder.birth)
        assert [d.number for d in page.doses] == list(range(1, holder.doses + 1))
        assert (page.municipality_ja, page.mayor_ja) == ("新居浜市", "新居浜市長")
        if c["type"] == "overseas":
            assert page.romanized_name == holder.romanized and page.passport_number
            assert page.seal_value is not None and parse_seal(page.seal_value) == c["seal"]
        else:  # a domestic page carries no passport data, and no seal
            assert all(getattr(page, f) is None for f in OVERSEAS_FIELDS) and c["seal"] is None
