"""The center's client of VRS over real mutual TLS: what a VRS fault becomes at the center."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify

from issuance_center.errors import CenterError, Code
from issuance_center.vrs_client import VrsClient
from serving import CrlContext, DevCa, Server


@pytest.fixture
def vrs_answering(tmp_path: Path) -> Iterator[tuple[VrsClient, dict[str, Any]]]:
    """A stand-in VRS on a real TLS server that answers what the test puts in ``answer``."""
    answer: dict[str, Any] = {"status": 503, "body": {}}
    app = Flask("vrs-stand-in")

    @app.post("/v1/eligibility")
    def eligibility() -> Any:
        return jsonify(answer["body"]), answer["status"]

    ca = DevCa.LGWAN.open(tmp_path)
    server_cert = ca.issue("vrs", "vrs", server=True)
    client_cert = ca.issue("center", "center")
    tls = CrlContext(*server_cert, ca.cert_path, ca.publish_crl())
    server = Server(app, "127.0.0.1", 0, tls, name="vrs").start()
    client = VrsClient(
        f"https://127.0.0.1:{server.port}", client_cert=client_cert, ca_file=ca.cert_path
    )
    try:
        yield client, answer
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (503, {"error": "storage_error", "message": "cannot reach its database"}, "storage_error"),
        (503, {"error": "busy"}, "busy"),
        (500, {"error": "Traceback (most recent call last)"}, "http_500"),  # not a code
        (502, "<html>bad gateway</html>", "http_502"),
    ],
)
def test_a_vrs_fault_reaches_the_kiosk_as_unavailable_with_vrs_reason_when_it_gave_one(
    vrs_answering: tuple[VrsClient, dict[str, Any]], status: int, body: Any, reason: str
) -> None:
    client, answer = vrs_answering
    answer.update(status=status, body=body)
    with pytest.raises(CenterError) as caught:
        client.eligibility("382051", "123456789018")
    assert (caught.value.code, caught.value.detail) == (Code.VRS_UNAVAILABLE, reason)
