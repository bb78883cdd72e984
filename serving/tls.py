"""TLS contexts for both ends of a mutual-TLS link.

A server context admits only clients certified by the link's CA (M05) and,
given that CA's CRL, checks the client's certificate against it at the
handshake (``VERIFY_CRL_CHECK_LEAF``). :class:`CrlContext` makes the context
again whenever the CRL file changes, so a revocation counts from the next
connection without a restart; a new context also starts a new session cache,
so no session resumed from before the revocation skips the check.
"""

from __future__ import annotations

import ssl
import threading
from pathlib import Path


def mutual_tls_context(
    cert: Path, key: Path, client_ca: Path, crl: Path | None = None
) -> ssl.SSLContext:
    """Server side of a mutual-TLS link: only clients certified by ``client_ca`` get in (M05).

    With ``crl`` (the CA's, PEM), a client whose certificate it lists is refused
    too; so is everyone while the CRL is expired or not the CA's (fail closed).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(cafile=str(client_ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    if crl is not None:
        ctx.load_verify_locations(cafile=str(crl))  # OpenSSL reads CRLs from the same store
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return ctx


def client_context(ca: Path | str, cert: tuple[Path | str, Path | str] | None) -> ssl.SSLContext:
    """Client side: trusts the link's own CA only (never a system bundle), shows ``cert``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


class CrlContext:
    """``mutual_tls_context`` with a CRL, made again whenever the CRL file changes.

    The server calls it for each new connection. A CRL that disappears or cannot
    be read refuses every handshake until it is fixed.
    """

    def __init__(self, cert: Path, key: Path, client_ca: Path, crl: Path) -> None:
        self._args = (cert, key, client_ca, crl)
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._ctx = mutual_tls_context(*self._args)  # a broken set-up fails at start

    def _stat(self) -> tuple[int, int, int]:
        st = self._args[3].stat()
        return st.st_ino, st.st_mtime_ns, st.st_size

    def __call__(self) -> ssl.SSLContext:
        with self._lock:
            stamp = self._stat()
            if stamp != self._stamp:
                self._ctx = mutual_tls_context(*self._args)
                self._stamp = stamp
            return self._ctx


def refusal_reason(exc: BaseException) -> str:
    """OpenSSL's words for a refused handshake; never anything from the peer's certificate."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return str(exc.verify_message)
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return type(exc).__name__
