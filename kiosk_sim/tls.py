"""Development PKI and mutual-TLS serving, shared by the systems' launchers.

Each link has its own CA (design.md): the kiosk CA for kiosk ↔ center (the
dedicated line), the LGWAN CA for center ↔ VRS. Keys are made at first run in
the instance folder (private keys mode 0600), never in the repository.

Revocation: a CA keeps the serials it revoked in its own signed CRL
(``crl.pem`` beside ``ca.crt``). A server given that CRL checks the client's
certificate against it at the handshake (``VERIFY_CRL_CHECK_LEAF``) and
re-reads it when it changes (:class:`CrlContext`), so a revocation counts from
the next connection without a restart.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, make_server

VALIDITY = dt.timedelta(days=825)
# A verifier refuses everyone once the CRL is past its next update (fail closed):
# the CA signs it afresh on every revocation and whenever a server starts.
CRL_VALIDITY = dt.timedelta(days=30)
HANDSHAKE_TIMEOUT = 10.0  # seconds a client may take to complete its TLS handshake


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


class CrlContext:
    """``mutual_tls_context`` with a CRL, made again whenever the CRL file changes.

    ``start`` calls it for each connection. A CRL that disappears or cannot be
    read refuses every handshake until it is fixed.
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


def _refusal_reason(exc: BaseException) -> str:
    """OpenSSL's words for a refused handshake; never anything from the peer's certificate."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return str(exc.verify_message)
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return type(exc).__name__


class _TLSServer(ThreadedWSGIServer):
    """Werkzeug's threaded server with each TLS handshake in its connection's thread.

    Werkzeug wraps the listening socket, so its handshakes run inside accept():
    one client that connects and says nothing stalls every other client, and a
    refused handshake leaves no trace. Here accept() is plain TCP; the handshake
    runs in the connection's own thread under a deadline, and a refusal is
    logged with the peer's address and OpenSSL's reason only.
    """

    tls: Callable[[], ssl.SSLContext]
    refusals: logging.Logger

    def finish_request(self, request: Any, client_address: Any) -> None:
        conn: ssl.SSLSocket | None = None
        try:
            conn = self.tls().wrap_socket(request, server_side=True, do_handshake_on_connect=False)
            conn.settimeout(HANDSHAKE_TIMEOUT)
            conn.do_handshake()
            conn.settimeout(None)
        except (OSError, ValueError) as exc:  # ssl.SSLError and timeouts are OSErrors
            self.refusals.warning(
                "op=tls_handshake outcome=handshake_refused peer=%s:%s reason=%s",
                client_address[0],
                client_address[1],
                _refusal_reason(exc),
            )
            (conn or request).close()
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            self.shutdown_request(conn)  # the caller's shutdown gets the now-detached socket


def start(
    app: Flask,
    host: str,
    port: int,
    ctx: ssl.SSLContext | Callable[[], ssl.SSLContext] | None,
    name: str = "server",
) -> tuple[BaseWSGIServer, threading.Thread]:
    """Serves ``app`` in a background thread; ``port`` 0 picks a free one (``server.port``).

    ``ctx`` is a server TLS context, a callable giving the current one for each
    connection (:class:`CrlContext`), or None for plain HTTP. Refused handshakes
    go to the app's logger (``app.import_name``), beside its access log.
    """
    if ctx is None:
        server: BaseWSGIServer = make_server(host, port, app, threaded=True)
    else:
        tls = ctx if callable(ctx) else (lambda: ctx)
        server = _TLSServer(host, port, app)
        server.tls = tls
        server.refusals = logging.getLogger(app.import_name)
        # werkzeug reads this for the URL scheme and the client certificate in environ
        server.ssl_context = tls()
    # Accepted sockets inherit this on Linux: werkzeug writes headers and body
    # separately, and Nagle + the peer's delayed ACK would hold each answer ~40 ms.
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # a short poll: shutdown() returns within 0.1 s instead of 0.5 (tests start many servers)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
    )
    thread.start()
    return server, thread


def serve_until_stopped(server: BaseWSGIServer) -> None:
    """Blocks until Ctrl-C or SIGTERM, then shuts ``server`` down cleanly."""
    import contextlib
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.shutdown()
