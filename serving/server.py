"""The HTTP server every system runs on: cheroot, with our own TLS handling.

Why cheroot (CherryPy's server): it is a well-kept pure-Python WSGI server that
runs inside our process, so the tests start a real server per app on a free
port exactly as the commands do. It has a bounded thread pool, keeps idle
keep-alive connections in a selector rather than in a thread, closes them after
an idle timeout, and stops gracefully. Its TLS hook is an adapter object, which
lets us hand it our own ``SSLContext`` per connection (:class:`CrlContext`
re-reads the CRL).

What we change, and why:

- Cheroot performs the TLS handshake inside its accept loop (and its base
  adapter first peeks for plain HTTP for up to 0.5 s there), so one client that
  connects and says nothing stalls every other client. Here accept() only wraps
  the socket; the handshake runs in a worker thread under its own deadline.
- A new connection first waits in the selector, like an idle keep-alive one, and
  reaches a worker only once it has sent something: a thousand silent
  connections hold no thread.
- At most ``max_connections`` are open; past that the longest-idle one is
  closed to make room (as nginx does with keep-alive connections).
- Refused handshakes are logged with the peer's address and OpenSSL's reason
  only; the client certificate reaches the app as ``SSL_CLIENT_CERT`` (PEM),
  as werkzeug's server gave it.
- Cheroot reads requests through ``_pyio``, the pure-Python io module, so that it
  can look into the read buffer; reading the header lines that way was a third
  of its cost per request. Here a C ``io.BufferedReader`` reads, and a raw stream
  that can answer "nothing now" lets us look into its buffer without reading
  (:class:`_Reader`). A response's headers wait for its first body bytes and go
  out with them: one TLS record and one send instead of two.
"""

from __future__ import annotations

import io
import logging
import os
import resource
import signal
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

from cheroot import connections, wsgi
from cheroot import server as cheroot_server
from cheroot.ssl import Adapter

from .tls import refusal_reason

TlsSource = ssl.SSLContext | Callable[[], ssl.SSLContext]

HANDSHAKE_TIMEOUT = 5.0  # seconds a client may take for its TLS handshake, in a worker
IDLE_TIMEOUT = 30.0  # an idle keep-alive connection is closed after this; also each read's limit
MAX_CONNECTIONS = 1000
BACKLOG = 1024
GRACE = 3.0  # seconds requests in flight get to finish on stop (the process exits within 5 s)


class _TlsAdapter(Adapter):
    """Wraps accepted sockets with the current context; the handshake is left to a worker."""

    def __init__(self, tls: Callable[[], ssl.SSLContext]) -> None:  # no files: our own context
        self.tls = tls

    def bind(self, sock: socket.socket) -> socket.socket:
        return sock

    def wrap(self, sock: socket.socket) -> tuple[ssl.SSLSocket, dict[str, str]]:
        return self.tls().wrap_socket(sock, server_side=True, do_handshake_on_connect=False), {}

    def get_environ(self) -> dict[str, str]:  # pragma: no cover - unused (wrap gives them)
        return {}

    def makefile(self, sock: socket.socket, mode: str = "r", bufsize: int = -1) -> Any:
        return _makefile(sock, mode, bufsize)


class _Raw(socket.SocketIO):
    """The socket under a C BufferedReader; while ``probing`` it has "nothing now" to give."""

    probing = False

    def readinto(self, b: Any) -> int | None:
        return None if self.probing else super().readinto(b)


class _Reader(io.BufferedReader):
    """What cheroot reads requests from (it wants ``has_data`` and ``bytes_read`` too)."""

    raw: _Raw  # what __init__ gives BufferedReader

    def __init__(self, sock: socket.socket, bufsize: int) -> None:
        super().__init__(_Raw(sock, "rb"), bufsize if bufsize > 0 else io.DEFAULT_BUFFER_SIZE)
        self.sock = sock
        self.bytes_read = 0  # cheroot's statistics, which are off

    def has_data(self) -> bool:
        """Bytes already read from the socket but not yet used (a pipelined request)?"""
        raw = self.raw
        raw.probing = True
        try:
            buffered = bool(self.peek(1))  # the probing raw stream makes this never block
        finally:
            raw.probing = False
        return buffered or (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0)


class _Writer:
    """Sends at once; a response's headers are held until its body (or its end) comes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.held = b""
        self.hold_next = False
        self.bytes_written = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        if self.hold_next:
            self.hold_next = False
            self.held += data
        else:
            self.sock.sendall(self.held + data if self.held else data)
            self.held = b""
        return len(data)

    def flush(self) -> None:
        if self.held:
            self.sock.sendall(self.held)
            self.held = b""

    def close(self) -> None:
        self.closed = True


def _makefile(sock: socket.socket, mode: str = "r", bufsize: int = -1) -> Any:
    return _Reader(sock, bufsize) if "r" in mode else _Writer(sock)


class _Request(cheroot_server.HTTPRequest):
    def send_headers(self) -> None:
        self.conn.wfile.hold_next = True  # they go out with the first body bytes
        super().send_headers()

    def respond(self) -> None:
        try:
            super().respond()
        finally:
            self.conn.wfile.flush()  # a response without a body: its headers now


class _Connection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _Request
    parked = False  # has waited in the selector once, until the client spoke
    handshake_due = False

    def __init__(self, server: Any, sock: socket.socket, makefile: Any = None) -> None:
        super().__init__(server, sock, _makefile)  # plain HTTP too, not cheroot's _pyio files

    def communicate(self) -> bool:
        if self.handshake_due:
            self.handshake_due = False
            if not self.server.handshake(self):
                return False
        return bool(super().communicate())  # type: ignore[no-untyped-call]  # cheroot's stub leaves it unannotated


class _Cheroot(wsgi.Server):
    ConnectionClass = _Connection
    # cheroot's own, set in prepare(); private, so its stub leaves it out
    _connections: connections.ConnectionManager

    def __init__(self, *args: Any, log: logging.Logger, max_connections: int, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.log = log
        self.max_connections = max_connections
        # no limit of cheroot's own: _make_room keeps the count (cheroot would take a lock
        # to count its connections after every response)
        self.keep_alive_conn_limit = None  # type: ignore[assignment]  # cheroot's stub says int; its ConnectionManager takes None for no limit

    def process_conn(self, conn: _Connection) -> None:
        if not conn.parked:
            # a new connection: it waits in the selector (no thread) until it speaks
            conn.parked = True
            conn.handshake_due = self.ssl_adapter is not None
            self._make_room()
            self._connections.put(conn)
            return
        super().process_conn(conn)

    def _make_room(self) -> None:
        manager = self._connections
        if manager._num_connections < self.max_connections:  # type: ignore[attr-defined]  # private to cheroot, not in its stub
            return
        selector = manager._selector  # type: ignore[attr-defined]  # private to cheroot, not in its stub
        idle = [(c.last_used, fd, c) for fd, c in selector.connections if c is not self]
        if idle:
            _, fd, oldest = min(idle, key=lambda t: t[0])
            selector.unregister(fd)
            oldest.close()

    def handshake(self, conn: _Connection) -> bool:
        sock = conn.socket
        try:
            sock.settimeout(HANDSHAKE_TIMEOUT)
            sock.do_handshake()
            sock.settimeout(self.timeout)
            der = sock.getpeercert(binary_form=True)
        except (OSError, ValueError) as exc:  # ssl.SSLError and timeouts are OSErrors
            self.log.warning(
                "op=tls_handshake outcome=handshake_refused peer=%s:%s reason=%s",
                conn.remote_addr,
                conn.remote_port,
                refusal_reason(exc),
            )
            return False
        conn.ssl_env = {"wsgi.url_scheme": "https", "HTTPS": "on"}
        if der:
            conn.ssl_env["SSL_CLIENT_CERT"] = ssl.DER_cert_to_PEM_cert(der)
        return True

    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        # cheroot's own complaints (a peer gone mid-request, ...) go to the app's log, not stderr
        self.log.log(level, "server: %s", msg, exc_info=traceback and level >= logging.ERROR)


class Server:
    """One app served on ``host:port`` by a bounded pool of threads.

    ``tls`` is a server ``SSLContext``, a callable giving the current one for
    each new connection (:class:`CrlContext`), or None for plain HTTP (the
    kiosk's loopback screen). Port 0 picks a free port (:attr:`port`).
    ``reuse_port``: bind with ``SO_REUSEPORT``, so that several processes (the
    center's workers) listen on one port and the kernel spreads new connections
    among them.
    """

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        tls: TlsSource | None = None,
        *,
        name: str = "server",
        threads: int = 16,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        log: logging.Logger | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.name = name
        self._server = _Cheroot(
            (host, port),
            app,
            numthreads=threads,
            max=threads,
            server_name=name,
            timeout=idle_timeout,
            shutdown_timeout=GRACE,
            # the listen backlog (cheroot's default is 5): a burst of clients connecting at
            # once would otherwise see dropped SYNs and wait a second or more to retry
            request_queue_size=BACKLOG,
            log=log or logging.getLogger(getattr(app, "import_name", name)),
            max_connections=max_connections,
            reuse_port=reuse_port,
        )
        self._server.max_request_header_size = 64 * 1024
        # the selector loop notices stop() within this (cheroot's default is 0.5 s)
        self._server.expiration_interval = 0.1
        if tls is not None:
            self._server.ssl_adapter = _TlsAdapter(tls if callable(tls) else (lambda: tls))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    @property
    def threads(self) -> int:
        return int(self._server.requests.max)

    def start(self) -> Server:
        """Binds (an address in use fails here) and serves in a background thread."""
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops accepting; requests in flight get ``GRACE`` seconds to finish."""
        self._server.stop()
        if self._thread is not None:
            self._thread.join(GRACE)

    def __enter__(self) -> Server:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def raise_open_files_limit() -> None:
    """As many descriptors as the hard limit allows: each connection holds one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve_until_stopped(*servers: Server) -> None:
    """Blocks until Ctrl-C or SIGTERM, then stops ``servers``; the process exits within 5 s.

    Requests in flight finish (up to ``GRACE`` seconds); whatever still runs
    after that is cut off by leaving the process at once: a database
    transaction left open rolls back, and nothing half-written is kept.
    """
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    stoppers = [threading.Thread(target=s.stop, daemon=True) for s in servers]
    for t in stoppers:
        t.start()
    for t in stoppers:
        t.join(GRACE + 0.5)
    if any(
        t.is_alive()
        for t in threading.enumerate()
        if not t.daemon and t is not threading.main_thread()
    ):
        logging.shutdown()
        os._exit(0)
