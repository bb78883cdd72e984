"""The kiosk's side of the dedicated line to the center: pooled keep-alive mutual TLS."""

from __future__ import annotations

import logging
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


class Canceller:
    """One long-lived thread that sends session cancels and resends those the center missed.

    One thread for every cancel, however many wait: a cancel takes one of the link's
    few connections at a time, so a center that is down never has a thread (and a
    connection) per session tied up in it while a visit waits for the pool.
    """

    def __init__(self, send: Callable[[str], bool]) -> None:
        self._send = send  # True once the center has the cancel (or no longer the session)
        self._cond = threading.Condition()
        self._waiting: dict[str, tuple[float, float]] = {}  # session ID -> (since, due)
        self._thread: threading.Thread | None = None
        self._stopped = False

    def add(self, sid: str) -> None:
        """Sends the cancel of ``sid`` at once, off the caller's thread."""
        now = time.monotonic()
        with self._cond:
            if self._stopped:
                return
            since, _due = self._waiting.get(sid, (now, now))
            self._waiting[sid] = (since, now)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kiosk-cancels", daemon=True)
                self._thread.start()
            self._cond.notify()

    def resend_now(self) -> None:
        """The center answers again: every cancel still waiting goes now, not at its turn."""
        with self._cond:
            if not self._waiting:
                return
            now = time.monotonic()
            self._waiting = {sid: (since, now) for sid, (since, _due) in self._waiting.items()}
            self._cond.notify()

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def stop(self) -> None:
        """The thread ends after the cancel it may be sending; those still waiting are dropped."""
        with self._cond:
            self._stopped = True
            self._waiting.clear()
            self._cond.notify()

    def _next(self) -> tuple[str, float] | None:
        """The next cancel that is due (and when it was due), waiting until one is."""
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                for sid, (_since, due) in self._waiting.items():
                    if due <= now:
                        return sid, due
                first = min((due for _since, due in self._waiting.values()), default=None)
                self._cond.wait(None if first is None else first - now)
            return None

    def _run(self) -> None:
        while (job := self._next()) is not None:
            sid, due = job
            try:
                done = self._send(sid)
            except Exception as exc:  # never lose the thread that every later cancel needs
                log.error("cancel failed: %s", type(exc).__name__)
                done = False
            with self._cond:
                if sid not in self._waiting:
                    continue  # stopped meanwhile
                since, due_now = self._waiting[sid]
                now = time.monotonic()
                if done or now - since >= RETRY_FOR:
                    del self._waiting[sid]  # got through, or the center has expired it by now
                elif due_now == due:  # (made due again while it was sent: it goes at once)
                    self._waiting[sid] = (since, now + RETRY_EVERY)


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
        """Ends the session at the center; returns at once. Slow or down: sent again every
        RETRY_EVERY seconds, not only when the next call gets through (that call may have
        ended before this one timed out, and may be the last for a while)."""
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
