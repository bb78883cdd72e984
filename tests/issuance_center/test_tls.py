"""The center's dedicated line: mutual TLS against the kiosk CA (M05), over real sockets."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import requests


def post(url: str, pki: dict[str, Any], cert: tuple[Path, Path] | None) -> requests.Response:
    return requests.post(
        url + "/v1/sessions",
        cert=(str(cert[0]), str(cert[1])) if cert else None,
        verify=str(pki["kiosk_ca"]),
        timeout=5,
    )


@pytest.mark.measure("M05")
def test_a_registered_kiosk_gets_a_session(center_url: str, pki: dict[str, Any]) -> None:
    resp = post(center_url, pki, pki["kiosk"])
    assert resp.status_code == 201
    assert len(resp.json()["challenge"]) > 40


@pytest.mark.measure("M05")
@pytest.mark.parametrize("who", [None, "stranger"])
def test_clients_without_a_kiosk_ca_certificate_are_refused_at_the_handshake(
    center_url: str, pki: dict[str, Any], who: str | None
) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        post(center_url, pki, pki[who] if who else None)


@pytest.mark.measure("M05")
def test_a_disabled_kiosk_is_refused(center_url: str, pki: dict[str, Any]) -> None:
    resp = post(center_url, pki, pki["disabled"])
    assert (resp.status_code, resp.json()["error"]) == (403, "kiosk_disabled")


@pytest.mark.measure("M05")
def test_the_kiosk_refuses_a_center_it_cannot_authenticate(
    center_url: str, pki: dict[str, Any]
) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(
            center_url + "/v1/sessions",
            cert=tuple(map(str, pki["kiosk"])),
            verify=ssl.get_default_verify_paths().cafile
            or True,  # the public roots, not the kiosk CA
            timeout=5,
        )
