"""A TCP relay in front of a server, for fault tests: a slow answer, a dead port, a restart.

The center and VRS behind it stay the real servers, with mutual TLS end to end;
the relay only plays the network and the process around them:

- ``latency``: every chunk the server sends arrives this many seconds late (a
  server slow to answer; the request itself gets there at once);
- ``down()``: the port refuses and every open connection ends, as when the
  process dies (the client's pooled keep-alive connections see the end too);
- ``up(backend)``: listening again on the same port, optionally in front of
  another server (a restarted one, with a fresh memory).
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from urllib.parse import urlsplit


class Relay:
    def __init__(self, backend_url: str) -> None:
        self.backend = self._address(backend_url)
        self.latency = 0.0
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.up()

    @staticmethod
    def _address(url: str) -> tuple[str, int]:
        parts = urlsplit(url)
        assert parts.hostname and parts.port, url
        return parts.hostname, parts.port

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def up(self, backend_url: str | None = None) -> None:
        if backend_url is not None:
            self.backend = self._address(backend_url)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))  # the same port again after down()
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def down(self) -> None:
        sock, self._listener = self._listener, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
            sock.close()
        with self._lock:
            conns, self._open = self._open, set()
        for c in conns:
            self._close(c)

    @staticmethod
    def _close(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # down()
            try:
                server = socket.create_connection(self.backend, timeout=5)
            except OSError:
                client.close()  # nothing behind the port: the client sees the end at once
                continue
            server.settimeout(None)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._open |= {client, server}
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, answer: bool) -> None:
        """Copies ``src`` to ``dst``; the server's answers each ``latency`` after they came."""
        chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
        threading.Thread(target=self._deliver, args=(chunks, src, dst), daemon=True).start()
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            chunks.put((time.monotonic() + (self.latency if answer else 0.0), data))
            if not data:
                return

    def _deliver(
        self, chunks: queue.SimpleQueue[tuple[float, bytes]], src: socket.socket, dst: socket.socket
    ) -> None:
        while True:
            due, data = chunks.get()
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                if not data:
                    break
                dst.sendall(data)
            except OSError:
                break
        # one side ended: so does the connection, both ways
        with self._lock:
            self._open -= {src, dst}
        self._close(src)
        self._close(dst)
