"""The center's dedicated line: mutual TLS against the kiosk CA (M05), over real sockets."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from issuance_center import create_app
from issuance_center.kiosks import Kiosk, KioskRegistry
from issuance_center.server import mutual_tls_context, start

from .conftest import FakeVrs


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(
    path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> tuple[Path, Path]:
    key_path, cert_path = path.with_suffix(".key"), path.with_suffix(".crt")
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def make_ca(path: Path, cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key, _write(path, key, cert)[0]


def make_leaf(
    path: Path, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path], cn: str, server: bool
) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    return _write(path, key, builder.sign(ca[1], hashes.SHA256()))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("pki")
    kiosk_ca = make_ca(d / "kiosk-ca", "Kiosk CA (test)")
    other_ca = make_ca(d / "other-ca", "Some other CA")
    return {
        "kiosk_ca": kiosk_ca[2],
        "server": make_leaf(d / "center", kiosk_ca, "localhost", server=True),
        "kiosk": make_leaf(d / "k0001", kiosk_ca, "K0001", server=False),
        "disabled": make_leaf(d / "k0009", kiosk_ca, "K0009", server=False),
        "stranger": make_leaf(d / "stranger", other_ca, "K0001", server=False),
    }


@pytest.fixture
def center_url(pki: dict[str, Any], tmp_path: Path, issuer: Any) -> Iterator[str]:
    kiosks = tmp_path / "kiosks.json"
    KioskRegistry.write(kiosks, [Kiosk("K0001", "Store 1", True), Kiosk("K0009", "Closed", False)])
    app = create_app({"TRUST": issuer.trust_store(), "KIOSKS": kiosks, "VRS": FakeVrs()})
    cert, key = pki["server"]
    server, thread = start(app, "127.0.0.1", 0, mutual_tls_context(cert, key, pki["kiosk_ca"]))
    yield f"https://localhost:{server.port}"
    server.shutdown()
    thread.join(5)


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
