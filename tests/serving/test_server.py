"""The shared server over real sockets: keep-alive, resumption, idle connections, stopping."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from flask import Flask, jsonify, request

from serving import Link, Server, mutual_tls_context, raise_open_files_limit

from .conftest import Pki


def echo_app() -> Flask:
    """Says who called (the certificate's CN) and from which client port (one per connection)."""
    app = Flask("echo")

    @app.route("/who", methods=["GET", "POST"])
    def who() -> object:
        pem = request.environ.get("SSL_CLIENT_CERT")
        cn = None
        if pem:
            cert = x509.load_pem_x509_certificate(pem.encode())
            cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        return jsonify(cn=cn, port=request.environ["REMOTE_PORT"])

    @app.get("/slow")
    def slow() -> object:
        time.sleep(float(request.args.get("s", "0.5")))
        return jsonify(done=True, port=request.environ["REMOTE_PORT"])

    return app


@pytest.fixture
def served(pki: Pki) -> Iterator[Server]:
    ctx = mutual_tls_context(*pki.server, pki.ca.cert_path)
    with Server(echo_app(), "127.0.0.1", 0, ctx, threads=4, max_connections=200) as server:
        yield server


def link(server: Server, pki: Pki, size: int = 1) -> Link:
    return Link(f"https://localhost:{server.port}", ca=pki.ca.cert_path, cert=pki.client, size=size)


def test_one_connection_serves_many_requests_and_the_app_sees_the_client(
    served: Server, pki: Pki
) -> None:
    client = link(served, pki)
    replies = [client.request("GET" if i % 2 else "POST", "/who", {"i": i}) for i in range(40)]
    assert {r.status for r in replies} == {200}
    assert {r.data["cn"] for r in replies} == {"client-7"}
    # keep-alive: every request came over the same connection (one client port, one handshake)
    assert len({r.data["port"] for r in replies}) == 1


def test_a_link_never_opens_more_connections_than_its_size(served: Server, pki: Pki) -> None:
    client = link(served, pki, size=2)
    ports: list[str] = []

    def call() -> None:
        ports.append(client.request("GET", "/slow?s=0.2").data["port"])

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(ports) == 6
    assert len(set(ports)) <= 2


def _get(sock: ssl.SSLSocket) -> bytes:
    sock.sendall(b"GET /who HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_client_resumes_its_tls_session_and_is_still_known(served: Server, pki: Pki) -> None:
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert_path))
    ctx.load_cert_chain(*map(str, pki.client))
    sessions = []
    for _ in range(2):
        raw = socket.create_connection(("127.0.0.1", served.port), timeout=5)
        with ctx.wrap_socket(
            raw, server_hostname="localhost", session=(sessions or [None])[-1]
        ) as s:
            answer = _get(s)  # TLS 1.3 hands out its session ticket after the handshake
            assert b"200 OK" in answer and b'"cn":"client-7"' in answer
            sessions.append(s.session)
            reused = s.session_reused
    assert reused  # the second handshake was a resumption, and the app still saw the certificate


def test_a_thousand_idle_connections_leave_the_server_serving(pki: Pki) -> None:
    raise_open_files_limit()  # 2,000 descriptors in this process: both ends of each connection
    ctx = mutual_tls_context(*pki.server, pki.ca.cert_path)
    with Server(echo_app(), "127.0.0.1", 0, ctx, threads=4) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(1000)]
        try:
            before = threading.active_count()
            t0 = time.monotonic()
            reply = link(server, pki).request("GET", "/who")
            assert reply.status == 200
            assert time.monotonic() - t0 < 2.0
            # the silent connections hold no thread: they wait in the selector
            assert threading.active_count() <= before + 1
        finally:
            for s in idle:
                s.close()


def test_past_max_connections_the_longest_idle_one_makes_room(pki: Pki) -> None:
    ctx = mutual_tls_context(*pki.server, pki.ca.cert_path)
    with Server(echo_app(), "127.0.0.1", 0, ctx, threads=2, max_connections=10) as server:
        idle = []
        for _ in range(10):
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            time.sleep(0.01)  # an order of arrival
        try:
            assert link(server, pki).request("GET", "/who").status == 200
            assert idle[0].recv(1) == b""  # the oldest was closed to make room
            idle[-1].settimeout(0.2)
            with pytest.raises(TimeoutError):
                idle[-1].recv(1)  # the newest is still open
        finally:
            for s in idle:
                s.close()


def test_stop_lets_a_request_in_flight_finish(served: Server, pki: Pki) -> None:
    client = link(served, pki)
    answers = []
    t = threading.Thread(target=lambda: answers.append(client.request("GET", "/slow?s=0.6")))
    t.start()
    time.sleep(0.2)  # the request is in the app now
    t0 = time.monotonic()
    served.stop()
    t.join(5)
    assert [a.status for a in answers] == [200]
    assert time.monotonic() - t0 < 2.0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", served.port), timeout=1)


SERVE = """
import sys, time
from flask import Flask
from serving import Server, serve_until_stopped
app = Flask("slow")

@app.get("/sleep/<float:s>")
def sleep(s):
    time.sleep(s)
    return "done"

server = Server(app, "127.0.0.1", 0, None, threads=2).start()
print(server.port, flush=True)
serve_until_stopped(server)
"""


@pytest.mark.parametrize("sleep,finishes", [(1.0, True), (60.0, False)], ids=["short", "hung"])
def test_sigterm_ends_the_process_within_five_seconds(sleep: float, finishes: bool) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SERVE)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(f"GET /sleep/{sleep} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        time.sleep(0.3)  # in the app now
        t0 = time.monotonic()
        proc.terminate()
        proc.wait(5.5)
        assert time.monotonic() - t0 < 5.0
        answer = sock.recv(4096)
        # a request that can finish in the grace period is answered; a hung one is cut off
        assert (b"200 OK" in answer) is finishes
    finally:
        proc.kill()
        proc.wait()


def test_pipelined_requests_are_all_answered_at_once(pki: Pki) -> None:
    """Two requests in one packet: the second waits in our read buffer, not on the socket."""
    server = Server(echo_app(), "127.0.0.1", 0, None, threads=2, idle_timeout=5)
    with server, socket.create_connection(("127.0.0.1", server.port), timeout=3) as s:
        one = b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n"
        s.sendall(one + one.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        t0 = time.monotonic()
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert time.monotonic() - t0 < 1.0  # not after the 5 s idle timeout
