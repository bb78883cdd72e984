"""Fixtures for the center: a fresh app per test, a fake VRS beside the real one.

The fake VRS here answers in VRS's documented shapes for fast unit tests; the
real VRS over mutual TLS is exercised in the end-to-end tests.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient

from card_reader.softcard import Profile
from issuance_center import create_app
from issuance_center.errors import CenterError, Code
from issuance_center.kiosks import Kiosk, KioskRegistry
from issuance_center.redis_server import OwnRedis

from ..card_reader.conftest import card, card_key, instance_dir, issuer, profile  # noqa: F401

MUNICIPALITIES = [
    {
        "code": "382051",
        "name_ja": "新居浜市",
        "name_en": "Niihama City",
        "offers_convenience_store_issuance": True,
    },
    {
        "code": "382019",
        "name_ja": "松山市",
        "name_en": "Matsuyama City",
        "offers_convenience_store_issuance": True,
    },
    {
        "code": "382060",
        "name_ja": "西条市",
        "name_en": "Saijo City",
        "offers_convenience_store_issuance": False,
    },
]


class FakeVrs:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.sessions: list[str] = []  # the session ID each issuance was for
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise CenterError(
                Code.VRS_UNAVAILABLE, "the vaccination record system cannot be reached"
            )

    def municipalities(self) -> list[dict[str, Any]]:
        self._check()
        return MUNICIPALITIES

    def eligibility(self, code: str, my_number: str) -> dict[str, Any]:
        self._check()
        self.calls.append(("eligibility", (code, my_number)))
        return {"domestic": True, "overseas": code == "382051", "doses": 3}

    def issue(
        self, code: str, my_number: str, kind: str, copies: int, *, session_id: str
    ) -> dict[str, Any]:
        self._check()
        self.calls.append(("issue", (code, my_number, kind, copies)))
        self.sessions.append(session_id)
        return {"certificates": [{"type": kind, "certificate_id": "C-1", "jws": "x.y.z"}] * copies}


def personal_data(p: Profile) -> tuple[str, ...]:
    """What the center must never write down: My Number, names, birth date, address."""
    family, given = p.name.split("\u3000")
    born = p.birth_date
    return (
        p.my_number,
        p.name,
        family,
        given,
        p.address,
        born,
        f"{born[:4]}-{born[4:6]}-{born[6:]}",
    )


class CenterLog:
    """What was logged during one test: the center's access log and its TLS server's refusals."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO, logger="issuance_center")
        self.caplog = caplog

    def lines(self) -> list[str]:
        return [r.getMessage() for r in self.caplog.records if r.name == "issuance_center"]

    def line(self, *parts: str, timeout: float = 2.0) -> str:
        """The center's line holding every one of ``parts``.

        Waits a little: a server thread may write it just after the client saw the refusal.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.lines() if all(p in m for p in parts)]
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no center log line with {parts}: {self.lines()[-5:]}")
            time.sleep(0.02)

    def handshake_refused(self, reason: str) -> str:
        """The TLS server's refusal line: the peer's address and OpenSSL's reason, nothing else."""
        line = self.line("op=tls_handshake", f"reason={reason}")
        pattern = r"op=tls_handshake outcome=handshake_refused peer=127\.0\.0\.1:\d+ reason="
        assert re.fullmatch(pattern + re.escape(reason), line), line
        return line

    def assert_clean(self, *data: str) -> None:
        text = self.caplog.text
        leaked = [i for i, d in enumerate(data) if d in text]
        assert not leaked, f"personal data (items {leaked}) in the log"


def client_cert_pem(cn: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="session")
def redis() -> Iterator[OwnRedis]:
    """A Redis of the tests' own (never the system's service), no persistence."""
    with OwnRedis() as r:
        yield r


@pytest.fixture
def center_log(caplog: pytest.LogCaptureFixture) -> CenterLog:
    return CenterLog(caplog)


@pytest.fixture
def vrs() -> FakeVrs:
    return FakeVrs()


@pytest.fixture
def app(tmp_path: Path, issuer: Any, vrs: FakeVrs) -> Flask:  # noqa: F811
    kiosks = tmp_path / "kiosks.json"
    KioskRegistry.write(
        kiosks,
        [
            Kiosk("K0001", "Store 1", True),
            Kiosk("K0002", "Store 2", True),
            Kiosk("K0009", "Closed store", False),
        ],
    )
    return create_app(
        {"TESTING": True, "TRUST": issuer.trust_store(), "KIOSKS": kiosks, "VRS": vrs}
    )


KioskClient = Callable[[str], FlaskClient]


@pytest.fixture
def kiosk(app: Flask) -> KioskClient:
    """``kiosk("K0001")``: a test client that presents that kiosk's certificate."""

    def make(kid: str) -> FlaskClient:
        c = app.test_client()
        c.environ_base["SSL_CLIENT_CERT"] = client_cert_pem(kid)
        return c

    return make


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A kiosk CA with the center's server certificate and kiosks' client certificates."""
    from serving import CA

    d = tmp_path_factory.mktemp("pki")
    kiosk_ca = CA(d / "kiosk", "Kiosk CA (test)")
    return {
        "kiosk_ca": kiosk_ca.cert_path,
        "server": kiosk_ca.issue("center", "localhost", server=True),
        "kiosk": kiosk_ca.issue("k0001", "K0001"),
        "disabled": kiosk_ca.issue("k0009", "K0009"),
        "stranger": CA(d / "other", "Some other CA").issue("k0001", "K0001"),
    }


@pytest.fixture
def center_url(pki: dict[str, Any], tmp_path: Path, issuer: Any) -> Iterator[str]:  # noqa: F811
    """The center over real mutual TLS, with the fake VRS behind it."""
    from serving import Server, mutual_tls_context

    kiosks = tmp_path / "kiosks.json"
    KioskRegistry.write(kiosks, [Kiosk("K0001", "Store 1", True), Kiosk("K0009", "Closed", False)])
    app = create_app({"TRUST": issuer.trust_store(), "KIOSKS": kiosks, "VRS": FakeVrs()})
    cert, key = pki["server"]
    server = Server(app, "127.0.0.1", 0, mutual_tls_context(cert, key, pki["kiosk_ca"])).start()
    yield f"https://localhost:{server.port}"
    server.stop()
