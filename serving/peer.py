"""Who is calling: the client certificate the TLS handshake verified, as the app sees it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Peer:
    cn: str
    serial: int


def client_certificate(environ: Mapping[str, Any]) -> Peer | None:
    """The caller's certificate (``SSL_CLIENT_CERT``), or None without one.

    Raises ValueError for a certificate that cannot be read or has no common name.
    """
    pem = environ.get("SSL_CLIENT_CERT")
    return _parse(pem) if pem else None


@lru_cache(maxsize=1024)  # a kiosk calls many times with one certificate: parse it once
def _parse(pem: str) -> Peer:
    cert = x509.load_pem_x509_certificate(pem.encode())
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise ValueError("the certificate has no common name")
    return Peer(str(names[0].value), cert.serial_number)
