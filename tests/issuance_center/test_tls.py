"""The center's dedicated line: mutual TLS against the kiosk CA (M05), over real sockets."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import CenterLog


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
@pytest.mark.parametrize(
    "who,reason",
    [
        pytest.param(
            None, "PEER_DID_NOT_RETURN_A_CERTIFICATE", marks=pytest.mark.security("A05"), id="none"
        ),
        pytest.param(
            "stranger",
            "unable to get local issuer certificate",
            marks=pytest.mark.security("A06"),
            id="another_ca",
        ),
    ],
)
def test_clients_without_a_kiosk_ca_certificate_are_refused_at_the_handshake(
    center_url: str,
    pki: dict[str, Any],
    center_log: CenterLog,
    cases: Any,
    who: str | None,
    reason: str,
) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        post(center_url, pki, pki[who] if who else None)
    cases()
    # logged by the center's TLS server; the stranger's certificate (CN K0001) is not in it
    assert "K0001" not in center_log.handshake_refused(reason)


@pytest.mark.measure("M05")
@pytest.mark.security("A08")
def test_a_disabled_kiosk_is_refused(
    center_url: str, pki: dict[str, Any], center_log: CenterLog, cases: Any
) -> None:
    resp = post(center_url, pki, pki["disabled"])
    assert (resp.status_code, resp.json()["error"]) == (403, "kiosk_disabled")
    cases()
    center_log.line("kiosk=K0009", "op=api.open_session", "status=403", "outcome=kiosk_disabled")


def test_clients_that_stall_before_or_during_their_handshake_stall_no_one(
    center_url: str, pki: dict[str, Any], center_log: CenterLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A silent connection waits without a thread; a stalled handshake is cut at its deadline."""
    import serving.server

    monkeypatch.setattr(serving.server, "HANDSHAKE_TIMEOUT", 0.5)
    port = int(center_url.rsplit(":", 1)[1])
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]  # say nothing
    # starts a TLS record (a ClientHello's first bytes), then stops in the middle of it
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.sendall(bytes.fromhex("160301020001"))
    try:
        assert post(center_url, pki, pki["kiosk"]).status_code == 201
        center_log.handshake_refused("TimeoutError")  # the stalled one, cut off at the deadline
        assert post(center_url, pki, pki["kiosk"]).status_code == 201
    finally:
        for s in [*silent, stalled]:
            s.close()


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
