"""The development PKI: one CA per link, its certificates and its CRL.

Each link has its own CA (design.md): the kiosk CA for kiosk ↔ center (the
dedicated line), the LGWAN CA for center ↔ VRS, the vaccination-site CA for
the tablets. Keys are made at first run in the instance folder (private keys
mode 0600), never in the repository.

Revocation: a CA keeps the serials it revoked in its own signed CRL
(``crl.pem`` beside ``ca.crt``); a server given that CRL checks client
certificates against it at the handshake (:class:`serving.tls.CrlContext`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=825)
# A verifier refuses everyone once the CRL is past its next update (fail closed):
# the CA signs it afresh on every revocation and whenever a server starts.
CRL_VALIDITY = dt.timedelta(days=30)


def _name(cn: str, org: str = "kiosk-sim development") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


class CA:
    """A development CA in ``directory`` (``ca.crt``, ``ca.key``), created on first use."""

    def __init__(self, directory: Path, name: str) -> None:
        self.dir = Path(directory)
        self.cert_path, key_path = self.dir / "ca.crt", self.dir / "ca.key"
        if not self.cert_path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            now = dt.datetime.now(dt.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(_name(name))
                .issuer_name(_name(name))
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + VALIDITY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                    critical=True,
                )
                .sign(key, hashes.SHA256())
            )
            _write_key(key_path, key)
            self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        self._key = _load_key(key_path)

    def issue(
        self,
        name: str,
        cn: str,
        *,
        server: bool = False,
        hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
    ) -> tuple[Path, Path]:
        """``name.crt``/``name.key`` beside the CA, made once: a server or a client certificate."""
        cert_path, key_path = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        if cert_path.exists() and key_path.exists():
            return cert_path, key_path
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            names: list[x509.GeneralName] = []
            for h in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(h)))
                except ValueError:
                    names.append(x509.DNSName(h))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        _write_key(key_path, key)
        cert_path.write_bytes(
            builder.sign(self._key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        )
        return cert_path, key_path

    @property
    def crl_path(self) -> Path:
        return self.dir / "crl.pem"

    def revoked(self) -> dict[int, dt.datetime]:
        """Serial -> revocation date, as the current CRL says (empty without one)."""
        if not self.crl_path.exists():
            return {}
        crl = x509.load_pem_x509_crl(self.crl_path.read_bytes())
        return {r.serial_number: r.revocation_date_utc for r in crl}

    def publish_crl(self, revoke: Iterable[int] = ()) -> Path:
        """Signs ``crl.pem`` afresh: every serial revoked so far, plus ``revoke``."""
        now = dt.datetime.now(dt.UTC)
        entries = self.revoked()
        for serial in revoke:
            entries.setdefault(serial, now)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + CRL_VALIDITY)
        )
        for serial, when in sorted(entries.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        pem = builder.sign(self._key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        # whole or not at all: a server re-reads this file while it runs
        tmp = self.crl_path.with_suffix(".tmp")
        tmp.write_bytes(pem)
        os.replace(tmp, self.crl_path)
        return self.crl_path

    def revoke(self, cert: Path | x509.Certificate) -> int:
        """Revokes a certificate this CA issued (its file or itself); returns its serial."""
        if isinstance(cert, Path):
            cert = x509.load_pem_x509_certificate(cert.read_bytes())
        if cert.issuer != self.cert.subject:
            raise ValueError("this certificate was not issued by this CA")
        self.publish_crl([cert.serial_number])
        return cert.serial_number
