"""A link's retries: a POST that may have arrived is never sent again; an idempotent call once."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from serving import Link, LinkCode, LinkError, mutual_tls_context

from .conftest import Pki


class DroppingServer:
    """Reads each request, then drops the connection without an answer (or hangs first)."""

    def __init__(self, ctx: ssl.SSLContext, hang: float = 0.0) -> None:
        self.ctx = ctx
        self.hang = hang
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.ctx.wrap_socket(raw, server_side=True) as conn:
                    data = conn.recv(65536)
                    if data:
                        self.requests.append(data.split(b"\r\n", 1)[0])
                    self._stop.wait(self.hang)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.fixture
def dropping(pki: Pki) -> Iterator[DroppingServer]:
    server = DroppingServer(mutual_tls_context(*pki.server, pki.ca.cert_path))
    yield server
    server.close()


def link_to(port: int, pki: Pki, **kw: float) -> Link:
    return Link(f"https://localhost:{port}", ca=pki.ca.cert_path, cert=pki.client, **kw)


def test_a_post_whose_connection_dropped_is_not_sent_again(
    dropping: DroppingServer, pki: Pki
) -> None:
    with pytest.raises(LinkError) as err:
        link_to(dropping.port, pki).request("POST", "/v1/sessions/s/certificates", {"copies": 1})
    assert err.value.code is LinkCode.UNREACHABLE
    assert dropping.requests == [b"POST /v1/sessions/s/certificates HTTP/1.1"]


def test_an_idempotent_call_whose_connection_dropped_is_retried_once(
    dropping: DroppingServer, pki: Pki
) -> None:
    with pytest.raises(LinkError):
        link_to(dropping.port, pki).request("DELETE", "/v1/sessions/s")
    assert dropping.requests == [b"DELETE /v1/sessions/s HTTP/1.1"] * 2


def test_no_answer_in_time_is_a_timeout(pki: Pki) -> None:
    server = DroppingServer(mutual_tls_context(*pki.server, pki.ca.cert_path), hang=5)
    try:
        with pytest.raises(LinkError) as err:
            link_to(server.port, pki, read_timeout=0.3).request("POST", "/v1/sessions")
        assert err.value.code is LinkCode.TIMEOUT
        assert len(server.requests) == 1
    finally:
        server.close()


def test_nobody_listening_is_unreachable(pki: Pki) -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed again: nobody listens there now
    with pytest.raises(LinkError) as err:
        link_to(port, pki).request("POST", "/v1/sessions")
    assert err.value.code is LinkCode.UNREACHABLE
