"""A vpcd slot whose card is swapped inside one long-lived process, and its control socket.

`kiosk-sim card emulate --control SOCKET` keeps one process up for the demo:
inserting, removing or switching a card is a line of JSON on a Unix socket,
instead of starting a Python process per card (about 0.5 s of CPU each). The
card still reaches the kiosk through pcscd and vpcd, as a real card would.

The protocol, one JSON object a line each way:

- ``{"op": "insert", "profile": PATH, "state": PATH}`` -> ``{"ok": true, "inserted": NAME}``
- ``{"op": "remove"}`` -> ``{"ok": true, "inserted": null}``
- ``{"op": "status"}`` -> ``{"ok": true, "inserted": NAME or null}``
- anything else -> ``{"ok": false, "error": CODE, "message": TEXT}``

NAME is the profile file's stem (``resident-003``): no personal data.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .card import CardOS, SoftCard
from .issuer import DevCardIssuer
from .profile import CardState, Profile, ProfileError
from .vpcd import VPCD_PORT, EndReason, VpcdBridge

log = logging.getLogger(__name__)

MAX_LINE = 4096  # a request is two paths: longer is not a request
CACHED_CARDS = 64  # the demo has 40 cards; a card's key takes ~0.1 s of CPU to load


class CardSlot:
    """One vpcd slot: ``insert(card)`` takes out what was there, ``remove()`` empties it.

    An inserted card stays in while vpcd restarts (pcscd restarted): it is put
    back once vpcd listens again, as ``run_emulator`` does. ``on_removed`` is
    called after a card was taken out, e.g. to wait until pcscd has seen it go,
    so that a card switched for another is seen leaving and the next arriving.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = VPCD_PORT,
        *,
        retry_interval: float = 0.5,
        on_removed: Callable[[], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.retry_interval = retry_interval
        self.on_removed = on_removed
        self._lock = threading.Lock()  # one insert or remove at a time
        self._current: tuple[VpcdBridge, threading.Event, threading.Thread] | None = None
        self.name: str | None = None  # what is in the slot

    def insert(self, card: CardOS, name: str, timeout: float = 5.0) -> bool:
        """Puts ``card`` in; True once vpcd took it (else it keeps trying in the background)."""
        with self._lock:
            self._take_out()
            bridge = VpcdBridge(card, self.host, self.port)
            stop, connected = threading.Event(), threading.Event()
            thread = threading.Thread(
                target=self._keep_in,
                args=(bridge, stop, connected),
                name="card-slot",
                daemon=True,
            )
            self._current, self.name = (bridge, stop, thread), name
            thread.start()
        return connected.wait(timeout)

    def remove(self) -> None:
        with self._lock:
            self._take_out()

    close = remove

    def _take_out(self) -> None:
        if self._current is None:
            return
        bridge, stop, thread = self._current
        self._current, self.name = None, None
        stop.set()
        bridge.remove()  # ends serve() at once (it shuts the socket down)
        thread.join(5)
        if self.on_removed is not None:
            self.on_removed()

    def _keep_in(
        self, bridge: VpcdBridge, stop: threading.Event, connected: threading.Event
    ) -> None:
        waiting_logged = False
        while not stop.is_set():
            try:
                bridge.connect(timeout=max(self.retry_interval, 1.0))
            except OSError as exc:
                if not waiting_logged:
                    log.info("waiting for vpcd at %s:%d (%s)", self.host, self.port, exc)
                    waiting_logged = True
                stop.wait(self.retry_interval)
                continue
            waiting_logged = False
            connected.set()
            try:
                reason = bridge.serve(stop)
            except RuntimeError:  # removed between connect() and serve()
                break
            if reason is not EndReason.VPCD_GONE:
                break
            stop.wait(self.retry_interval)  # vpcd went away: insert again once it is back
        bridge.remove()


class CardShelf:
    """The cards a control socket can insert, made from profile and state files (cached)."""

    def __init__(self, issuer: DevCardIssuer) -> None:
        self.issuer = issuer
        self._cards: OrderedDict[tuple[str, str, int], SoftCard] = OrderedDict()

    def card(self, profile: Path, state: Path) -> SoftCard:
        key = (str(profile), str(state), profile.stat().st_mtime_ns)
        card = self._cards.get(key)
        if card is None:
            holder = Profile.load(profile)
            card = SoftCard.personalized(holder, self.issuer, CardState.load_or_create(state))
            self._cards[key] = card
            if len(self._cards) > CACHED_CARDS:
                self._cards.popitem(last=False)
        else:
            self._cards.move_to_end(key)
        return card


class _Handler(socketserver.StreamRequestHandler):
    server: ControlServer

    def handle(self) -> None:
        while True:
            line = self.rfile.readline(MAX_LINE + 1)
            if not line:
                return
            try:
                reply = self.server.answer(line)
            except Exception:  # a reply, never a dead control channel
                log.exception("card control failed")
                reply = _error("internal", "the card emulator failed; see its log")
            self.wfile.write(json.dumps(reply).encode() + b"\n")
            self.wfile.flush()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": code, "message": message}


class ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Answers the control protocol on a Unix socket (created owner-only)."""

    daemon_threads = True

    def __init__(self, path: Path, slot: CardSlot, shelf: CardShelf) -> None:
        self.slot, self.shelf = slot, shelf
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a socket file a killed emulator left behind
        old = os.umask(0o077)
        try:
            super().__init__(str(path), _Handler)
        finally:
            os.umask(old)
        self.path = path

    def answer(self, line: bytes) -> dict[str, Any]:
        if len(line) > MAX_LINE:
            return _error("too_long", f"a request is one line of at most {MAX_LINE} bytes")
        try:
            req = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            return _error("not_json", "a request is one line of JSON")
        op = req.get("op") if isinstance(req, dict) else None
        if op == "status":
            return {"ok": True, "inserted": self.slot.name}
        if op == "remove":
            self.slot.remove()
            return {"ok": True, "inserted": None}
        if op != "insert":
            return _error("unknown_op", "op is one of insert, remove, status")
        profile, state = req.get("profile"), req.get("state")
        if not isinstance(profile, str) or not isinstance(state, str):
            return _error("bad_request", "insert needs profile and state paths")
        try:
            card = self.shelf.card(Path(profile), Path(state))
        except OSError:
            return _error("no_profile", "the profile or state file cannot be read")
        except ProfileError as exc:
            return _error("bad_profile", str(exc))
        name = Path(profile).stem
        if not self.slot.insert(card, name):
            return _error("vpcd_unavailable", "vpcd does not answer; the card goes in once it does")
        log.info("card %s inserted", name)
        return {"ok": True, "inserted": name}

    def server_close(self) -> None:
        super().server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def request(path: Path, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """One request to a control socket; OSError when nobody answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(message).encode() + b"\n")
        with sock.makefile("rb") as f:
            line = f.readline(MAX_LINE * 4)
    if not line:
        raise ConnectionError("the card emulator closed the control socket")
    reply: dict[str, Any] = json.loads(line)
    return reply
