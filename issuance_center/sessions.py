"""Transactions in memory only (M06): a fresh challenge, then the verified card.

A session lives for one issuance at one kiosk and is wiped at its end, on
cancel, or when it expires. Nothing of it is ever written anywhere.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from .errors import CenterError, Code


@dataclass
class Session:
    id: str
    kiosk_id: str
    challenge: bytes
    expires: float
    my_number: str | None = field(default=None, repr=False)  # set once the card verified
    card_used: bool = False


class SessionStore:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def _sweep(self, now: float) -> None:
        for sid in [s.id for s in self._sessions.values() if s.expires <= now]:
            self._wipe(sid)

    def _wipe(self, sid: str) -> None:
        session = self._sessions.pop(sid, None)
        if session is not None:
            session.my_number = None

    def open(self, kiosk_id: str) -> Session:
        now = time.time()
        with self._lock:
            self._sweep(now)
            session = Session(
                secrets.token_urlsafe(24), kiosk_id, secrets.token_bytes(32), now + self.ttl
            )
            self._sessions[session.id] = session
            return session

    def get(self, sid: str, kiosk_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(sid)
            # another kiosk's session is as unknown to this kiosk as a made-up one
            if session is None or session.kiosk_id != kiosk_id:
                raise CenterError(Code.SESSION_UNKNOWN, "no such session at this kiosk")
            if session.expires <= time.time():
                self._wipe(sid)
                raise CenterError(Code.SESSION_EXPIRED, "the session expired; start again")
            return session

    def close(self, sid: str) -> None:
        with self._lock:
            self._wipe(sid)

    def __len__(self) -> int:
        with self._lock:
            self._sweep(time.time())
            return len(self._sessions)
