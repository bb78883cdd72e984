"""Bridge from a software card into pcscd through vsmartcard's ``vpcd`` driver.

vpcd (loaded by pcscd, /etc/reader.conf.d/vpcd) listens on TCP port 0x8C7B;
the card side connects to it. Connecting is inserting the card, closing is
removing it. Every message both ways is a 2-byte big-endian length and that
many bytes. From vpcd, a 1-byte message is a control code (00 power off,
01 power on, 02 reset, 04 "send the ATR"); anything longer is a command APDU
that gets its response APDU back. vpcd asks for the ATR on every presence
poll, so the link is never idle for long.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from enum import StrEnum

from .card import SW_INTERNAL, CardOS

log = logging.getLogger(__name__)

VPCD_PORT = 0x8C7B  # 35963: slot 0 of Debian's /etc/reader.conf.d/vpcd
CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0x00, 0x01, 0x02, 0x04
MAX_FRAME = 0xFFFF
# TCP_QUICKACK is Linux-only; elsewhere the delayed-ACK stall may remain
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class EndReason(StrEnum):
    STOPPED = "stopped"  # the stop event was set or the bridge was closed
    REMOVED = "removed"  # remove() was called, or the card raised ConnectionAbortedError
    VPCD_GONE = "vpcd_gone"  # vpcd closed the link (pcscd stopped or restarted)


class _Closed(Exception):
    """The socket reached EOF or failed."""


class VpcdBridge:
    """One card in one vpcd slot: ``connect()`` (= insert), ``serve()``, ``remove()``."""

    def __init__(
        self,
        card: CardOS,
        host: str = "127.0.0.1",
        port: int = VPCD_PORT,
        *,
        poll_interval: float = 0.1,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.poll_interval = poll_interval  # how soon serve() notices its stop event
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._ending: EndReason | None = None  # why the socket was shut down under serve()
        self._serving = False

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def connect(self, timeout: float = 5.0) -> None:
        """Inserts the card: connects to vpcd. Raises OSError when vpcd is not listening."""
        with self._lock:
            if self._sock is not None:
                return
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
            # Latency. vpcd writes a frame's length and its body with two send()
            # calls and keeps Nagle on, so its body waits until our ACK of the
            # length arrives; Linux delays that ACK (~40 ms) on a connection it
            # sees as interactive. Every APDU would stall ~40 ms. Hence:
            # - TCP_QUICKACK, re-armed after every recv() (that also pushes out
            #   an ACK still pending) and after every send (sending soon after
            #   receiving puts the kernel back into delayed-ACK mode), so the
            #   kernel ACKs the next length at once and the body follows;
            # - TCP_NODELAY and one sendall() per frame: our answers never wait.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._quickack(sock)
            sock.settimeout(None)  # blocking: no poll() per recv; stops come via shutdown()
            self._sock, self._buf, self._ending = sock, bytearray(), None
        # a card just put in the reader starts without a session; pcscd powers it up next
        self.card.power_on()
        log.info("software card inserted into vpcd at %s:%d", self.host, self.port)

    insert = connect

    def remove(self) -> None:
        """Takes the card out (closes the link); a serve() in another thread returns REMOVED."""
        self._end(EndReason.REMOVED)

    close = remove

    def _end(self, reason: EndReason) -> None:
        with self._lock:
            sock = self._sock
            if sock is None:
                return
            if self._serving:
                # serve() owns the socket: shutting it down makes its recv() return
                self._ending = self._ending or reason
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                return
            self._sock = None
        sock.close()
        log.info("software card removed from vpcd")

    def __enter__(self) -> VpcdBridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def serve_forever(self) -> EndReason:
        return self.serve(None)

    def serve(self, stop_event: threading.Event | None = None) -> EndReason:
        """Answers vpcd until the card is removed, vpcd goes away or ``stop_event`` is set."""
        with self._lock:
            sock = self._sock
            if sock is None:
                raise RuntimeError("the card is not inserted: call connect() first")
            self._serving = True
        done = threading.Event()
        if stop_event is not None:
            # a watcher, so that the APDU path itself never polls
            threading.Thread(
                target=self._watch, args=(stop_event, done), name="vpcd-stop", daemon=True
            ).start()
        reason = EndReason.VPCD_GONE
        try:
            reason = self._loop(sock)
        finally:
            done.set()
            with self._lock:
                self._serving = False
                self._sock = None
                reason = self._ending or reason  # a requested end wins over the EOF it caused
            sock.close()
        log.info("vpcd link closed: %s", reason.value)
        return reason

    def _watch(self, stop_event: threading.Event, done: threading.Event) -> None:
        while not done.is_set():
            if stop_event.wait(self.poll_interval):
                self._end(EndReason.STOPPED)
                return

    def _loop(self, sock: socket.socket) -> EndReason:
        while True:
            try:
                msg = self._read_frame(sock)
            except _Closed:
                return EndReason.VPCD_GONE
            try:
                answer = self._handle(msg)
            except ConnectionAbortedError:
                return EndReason.REMOVED  # the card says it was pulled out
            if answer is None:
                continue
            try:
                sock.sendall(len(answer).to_bytes(2, "big") + answer)
            except OSError:
                return EndReason.VPCD_GONE
            self._quickack(sock)

    # --- wire ----------------------------------------------------------------

    @staticmethod
    def _quickack(sock: socket.socket) -> None:
        if _QUICKACK is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)

    def _read_exact(self, sock: socket.socket, n: int) -> bytes:
        """Exactly ``n`` bytes; _Closed on EOF (even mid-frame: vpcd is gone) or error."""
        buf = self._buf
        while len(buf) < n:
            try:
                chunk = sock.recv(65536)
            except OSError as exc:
                raise _Closed from exc
            if not chunk:
                raise _Closed
            self._quickack(sock)
            buf += chunk
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def _read_frame(self, sock: socket.socket) -> bytes:
        size = int.from_bytes(self._read_exact(sock, 2), "big")
        return self._read_exact(sock, size) if size else b""

    def _handle(self, msg: bytes) -> bytes | None:
        if len(msg) == 1:
            code = msg[0]
            if code == CTRL_ATR:
                return self.card.atr
            if code == CTRL_ON:
                self.card.power_on()
            elif code == CTRL_OFF:
                self.card.power_off()
            elif code == CTRL_RESET:
                self.card.reset()
            else:
                log.warning("unknown vpcd control code %02X ignored", code)
            return None
        if not msg:
            return None  # vpcd never sends empty frames; nothing to answer
        try:
            answer = self.card.execute(msg)
        except ConnectionAbortedError:
            raise
        except Exception:
            log.exception("software card failed; answering 6F 00")
            answer = b""
        if not answer or len(answer) > MAX_FRAME:
            # an empty frame would make vpcd drop the card: answer "no precise diagnosis"
            answer = SW_INTERNAL.to_bytes(2, "big")
        return answer
