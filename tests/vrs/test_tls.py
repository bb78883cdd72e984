"""The LGWAN link: VRS over real mutual TLS, the center's certificate only (M05)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from serving import CA, Server, mutual_tls_context
from vrs import Vrs, create_app


@pytest.fixture
def vrs_url(loaded: Vrs, tmp_path: Path) -> Iterator[tuple[str, CA, Path]]:
    lgwan = CA(tmp_path / "lgwan", "LGWAN CA (test)")
    cert, key = lgwan.issue("vrs", "localhost", server=True)
    server = Server(
        create_app({"VRS": loaded}), "127.0.0.1", 0, mutual_tls_context(cert, key, lgwan.cert_path)
    ).start()
    yield f"https://localhost:{server.port}", lgwan, tmp_path
    server.stop()


@pytest.mark.measure("M05")
def test_the_center_gets_in_and_nobody_else(vrs_url: tuple[str, CA, Path]) -> None:
    url, lgwan, tmp = vrs_url
    center = lgwan.issue("center", "issuance-center")
    resp = requests.get(
        url + "/v1/municipalities",
        cert=tuple(map(str, center)),
        verify=str(lgwan.cert_path),
        timeout=5,
    )
    assert resp.status_code == 200 and len(resp.json()["municipalities"]) == 4
    # an LGWAN terminal that is not the center passes TLS but not the issuance API
    terminal = lgwan.issue("terminal", "staff-terminal")
    resp = requests.get(
        url + "/v1/municipalities",
        cert=tuple(map(str, terminal)),
        verify=str(lgwan.cert_path),
        timeout=5,
    )
    assert resp.status_code == 403
    # no certificate, or one from another CA: refused at the handshake
    stranger = CA(tmp / "other", "Other CA").issue("center", "issuance-center")
    for cert in (None, tuple(map(str, stranger))):
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(
                url + "/v1/municipalities", cert=cert, verify=str(lgwan.cert_path), timeout=5
            )


def test_private_keys_are_written_private(tmp_path: Path) -> None:
    ca = CA(tmp_path / "ca", "CA")
    _cert, key = ca.issue("leaf", "leaf")
    assert (tmp_path / "ca" / "ca.key").stat().st_mode & 0o777 == 0o600
    assert key.stat().st_mode & 0o777 == 0o600
