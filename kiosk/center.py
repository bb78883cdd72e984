"""The kiosk's side of the dedicated line to the center: pooled keep-alive mutual TLS."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from card_reader import CardFiles, CardWire
from serving import Link, LinkError

from .errors import Code, KioskError

log = logging.getLogger("kiosk")

# A cancel the center missed is sent again every RETRY_EVERY seconds (and at once
# when the center next answers) until it gets through or the center has expired
# the session by itself (its 10-minute TTL): its My Number should not wait for that.
RETRY_EVERY = 1.0
RETRY_FOR = 600.0
# At most this many sessions wait for their cancel (a kiosk opens one a visit: a center
# down for its whole TTL leaves a few dozen); one more is dropped, with a log line, and
# the center expires it at its TTL.
MAX_WAITING = 256

_NOW = object()  # in the queue: the center answers again, every waiting cancel goes now
_STOP = object()


class Canceller:
    """One worker thread that sends session cancels from a bounded queue and resends
    those the center missed.

    One thread for every cancel, however many wait: a cancel takes one of the link's
    few connections at a time, so a center that is down never has a thread (and a
    connection) per session tied up in it while a visit waits for the pool. ``start``
    starts the thread (the kiosk's runtime does, never the app factory); cancels
    queued before wait for it.
    """

    def __init__(self, send: Callable[[str], bool], limit: int | None = None) -> None:
        self._send = send  # True once the center has the cancel (or no longer the session)
        self._limit = MAX_WAITING if limit is None else limit
        # each waiting session ID once, one _NOW and one _STOP at most: never full
        self._queue: queue.Queue[object] = queue.Queue(self._limit + 2)
        self._lock = threading.Lock()
        self._waiting: set[str] = set()  # queued or in the worker's hands, until done
        self._now_queued = False
        self._stopped = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="kiosk-cancels", daemon=True)
                self._thread.start()

    def add(self, sid: str) -> None:
        """Queues the cancel of ``sid``; returns at once (the worker sends it)."""
        with self._lock:
            if self._stopped or sid in self._waiting:
                return
            if len(self._waiting) >= self._limit:
                log.warning("cancel dropped: %d waiting already", len(self._waiting))
                return
            self._waiting.add(sid)
            self._queue.put_nowait((sid, time.monotonic()))

    def resend_now(self) -> None:
        """The center answers again: every cancel still waiting goes now, not at its turn."""
        with self._lock:
            if self._waiting and not self._now_queued and not self._stopped:
                self._now_queued = True
                self._queue.put_nowait(_NOW)

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def stop(self) -> None:
        """The worker ends after the cancel it may be sending; those still waiting are dropped."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._waiting.clear()
            self._queue.put_nowait(_STOP)
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(RETRY_EVERY)

    def _take(self, due: dict[str, tuple[float, float]], block: bool) -> bool:
        """Moves what is queued into ``due`` (session ID -> (since, next try)), waiting for
        the first item until the next try is due when ``block``; False once stopped."""
        now = time.monotonic()
        first = min((at for _since, at in due.values()), default=None)
        timeout = None if first is None else max(0.0, first - now)
        try:
            item = self._queue.get(block, timeout)
        except queue.Empty:
            return not self._stopped
        while True:
            if item is _STOP:
                return False
            if item is _NOW:
                with self._lock:
                    self._now_queued = False
                now = time.monotonic()
                for sid, (since, _at) in due.items():
                    due[sid] = (since, now)
            elif isinstance(item, tuple):
                sid, since = item
                due[sid] = (since, time.monotonic())
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return not self._stopped

    def _run(self) -> None:
        due: dict[str, tuple[float, float]] = {}
        while self._take(due, block=True):
            now = time.monotonic()
            for sid in [s for s, (_since, at) in due.items() if at <= now]:
                try:
                    done = self._send(sid)
                except Exception as exc:  # never lose the thread that every later cancel needs
                    log.error("cancel failed: %s", type(exc).__name__)
                    done = False
                since = due[sid][0]
                now = time.monotonic()
                if done or now - since >= RETRY_FOR:
                    del due[sid]  # got through, or the center has expired it by now
                    with self._lock:
                        self._waiting.discard(sid)
                else:
                    due[sid] = (since, now + RETRY_EVERY)
                if not self._take(due, block=False):  # stopped, or "now" came meanwhile
                    return


def passed_on(answer: dict[str, Any]) -> object:
    """VRS's code behind the center's ``vrs_refused``: its ``details`` are ``[{"error": code}]``."""
    details = answer.get("details")
    first = details[0] if isinstance(details, list) and details else None
    return first.get("error") if isinstance(first, dict) else None


class CenterClient:
    def __init__(
        self, base_url: str, cert: tuple[str, str], ca: str, timeout: float = 15.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # the kiosk CA only; a few connections: one visit at a time, plus cancels
        self._link = Link(
            base_url,
            ca=ca,
            cert=cert,
            size=4,
            connect_timeout=min(timeout, 3.0),
            read_timeout=timeout,
        )
        self._cancels = Canceller(self._delete)

    def start(self) -> None:
        """Starts the thread that sends the cancels (the kiosk's runtime calls it)."""
        self._cancels.start()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            reply = self._link.request(method, path, body)
        except LinkError:
            raise KioskError(Code.CENTER_UNAVAILABLE) from None
        # the center answers again: wipe what earlier visits left there now, not at its TTL
        # (on the canceller's thread, so a link that is still slow does not hold a visit up)
        self._cancels.resend_now()
        if reply.status == 204:
            return {}
        data = reply.data
        if not isinstance(data, dict):
            raise KioskError(Code.CENTER_UNAVAILABLE)
        if reply.status >= 400:
            # the center's code, or VRS's behind it, is what the resident's words are chosen by
            code = data.get("error")
            raise KioskError(Code.of(passed_on(data) if code == "vrs_refused" else code))
        return data

    def open_session(self) -> dict[str, Any]:
        return self._call("POST", "/v1/sessions")

    def submit_card(self, sid: str, card: CardFiles) -> None:
        self._call("POST", f"/v1/sessions/{sid}/card", CardWire.of(card).model_dump())

    def eligibility(self, sid: str, municipality: str) -> dict[str, Any]:
        return self._call(
            "POST", f"/v1/sessions/{sid}/eligibility", {"municipality_code": municipality}
        )

    def issue(self, sid: str, municipality: str, kind: str, copies: int) -> list[dict[str, Any]]:
        certificates: list[dict[str, Any]] = self._call(
            "POST",
            f"/v1/sessions/{sid}/certificates",
            {"municipality_code": municipality, "certificate_type": kind, "copies": copies},
        )["certificates"]
        return certificates

    def cancel(self, sid: str) -> None:
        """Ends the session at the center; returns at once (the canceller's thread sends it,
        once started). Slow or down: sent again every RETRY_EVERY seconds, not only when the
        next call gets through (that call may have ended before this one timed out, and may
        be the last for a while)."""
        self._cancels.add(sid)

    def _delete(self, sid: str) -> bool:
        try:
            self._call("DELETE", f"/v1/sessions/{sid}")
        except KioskError as exc:
            return exc.code is not Code.CENTER_UNAVAILABLE  # any answer means the center has it
        return True

    def close(self) -> None:
        """Stops the canceller (cancels still waiting are dropped) and the link's pool."""
        self._cancels.stop()
        self._link.close()
