"""Transactions in memory only (M06): a fresh challenge, then the verified card.

A session lives for one issuance at one kiosk and is wiped at its end, on
cancel, or when it expires. Nothing of it is ever written anywhere.

Two stores keep sessions, behind one interface (:class:`Sessions`): this
process's memory (:class:`SessionStore`, the default: the demo, the unit tests,
a center of one process), and a Redis shared by every worker of the center
(:class:`issuance_center.shared.RedisSessionStore`), so that any worker serves
any call of any session. Both give the same answers to the same calls.

Calls on one session may arrive at once (the server has many workers), so each
step that does slow work (verifying the card, asking VRS) first claims the
session under the store's lock, works outside it, and then releases it: one
step in flight per session, the others refused with ``session_busy``. That is
what keeps one card answer from being verified twice and one payment from
being issued twice.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from .errors import CenterError, Code

EXPIRED_GRACE = 600.0  # seconds an expired session is still told apart from an unknown one


class Step(StrEnum):
    CARD = "card"
    ELIGIBILITY = "eligibility"
    ISSUE = "issue"


@dataclass
class Session:
    id: str
    kiosk_id: str
    challenge: bytes
    expires: float
    my_number: str | None = field(default=None, repr=False)  # set once the card verified
    card_used: bool = False  # the session's one card answer was taken for verification
    busy: Step | None = None  # the step in flight, if any


@dataclass(frozen=True)
class Claim:
    """What a claimed step works with outside the lock: a cancel may wipe the session meanwhile."""

    session: Session
    step: Step
    my_number: str = field(repr=False)  # the verified card's; "" in the card step
    token: str = ""  # the shared store's mark of this claim ("" in this process's store)


class Sessions(Protocol):
    """What the center asks of a session store (either one)."""

    ttl: float

    def open(self, kiosk_id: str) -> Session: ...
    def get(self, sid: str, kiosk_id: str) -> Session: ...
    def claim(self, sid: str, kiosk_id: str, step: Step) -> Claim: ...
    def release(self, claim: Claim, my_number: str | None = None) -> bool: ...
    def step(
        self, sid: str, kiosk_id: str, step: Step
    ) -> contextlib.AbstractContextManager[Claim]: ...
    def close(self, sid: str) -> None: ...
    def __contains__(self, sid: object) -> bool: ...
    def __len__(self) -> int: ...


class Steps:
    """``step`` for a store that has ``claim`` and ``release`` (both stores)."""

    def claim(self, sid: str, kiosk_id: str, step: Step) -> Claim:
        raise NotImplementedError

    def release(self, claim: Claim, my_number: str | None = None) -> bool:
        raise NotImplementedError

    @contextlib.contextmanager
    def step(self, sid: str, kiosk_id: str, step: Step) -> Iterator[Claim]:
        """``claim`` then ``release`` whatever the step raised (VRS down: the kiosk may retry)."""
        claim = self.claim(sid, kiosk_id, step)
        try:
            yield claim
        finally:
            self.release(claim)


class SessionStore(Steps):
    """Sessions in this process's memory: one worker serves them all."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._sessions: dict[str, Session] = {}
        # sid -> (kiosk, until): sessions that expired, so that a late call is told
        # ``session_expired`` (start again) rather than ``session_unknown``, once
        self._expired: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _sweep(self, now: float) -> None:
        for s in [s for s in self._sessions.values() if s.expires <= now]:
            self._expire(s, now)
        for sid in [sid for sid, (_, until) in self._expired.items() if until <= now]:
            del self._expired[sid]

    def _expire(self, session: Session, now: float) -> None:
        self._wipe(session.id)
        self._expired[session.id] = (session.kiosk_id, now + EXPIRED_GRACE)

    def _wipe(self, sid: str) -> None:
        session = self._sessions.pop(sid, None)
        if session is not None:
            session.my_number = None

    def _live(self, sid: str, kiosk_id: str) -> Session:
        """The session, under the lock: unknown, another kiosk's or expired ones are refused."""
        now = time.time()
        session = self._sessions.get(sid)
        if session is not None and session.kiosk_id == kiosk_id and session.expires <= now:
            self._expire(session, now)
            session = None
        if session is None and self._expired.get(sid, ("", 0.0))[0] == kiosk_id:
            del self._expired[sid]
            raise CenterError(Code.SESSION_EXPIRED, "the session expired; start again")
        # another kiosk's session is as unknown to this kiosk as a made-up one
        if session is None or session.kiosk_id != kiosk_id:
            raise CenterError(Code.SESSION_UNKNOWN, "no such session at this kiosk")
        return session

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
            return self._live(sid, kiosk_id)

    def claim(self, sid: str, kiosk_id: str, step: Step) -> Claim:
        """Marks ``step`` in flight on the session, or refuses it; never blocks on other steps."""
        with self._lock:
            session = self._live(sid, kiosk_id)
            if step is Step.CARD and session.card_used and session.busy is not Step.CARD:
                # one challenge, one answer: a second submission is a replay attempt
                self._wipe(sid)
                raise CenterError(
                    Code.CARD_REPLAYED, "card data was already submitted in this session"
                )
            if session.busy is not None:
                raise CenterError(
                    Code.SESSION_BUSY, "another request on this session is still being processed"
                )
            if step is Step.CARD:
                session.card_used = True
            elif session.my_number is None:
                raise CenterError(
                    Code.SESSION_STATE, "the card has not been verified in this session"
                )
            session.busy = step
            return Claim(session, step, session.my_number or "")

    def release(self, claim: Claim, my_number: str | None = None) -> bool:
        """Ends the claimed step (with the verified My Number, for the card step).

        False if the session was wiped meanwhile (cancel, expiry): nothing is put back.
        """
        with self._lock:
            session = self._sessions.get(claim.session.id)
            if session is not claim.session or session.busy is not claim.step:
                return False
            if my_number is not None:
                session.my_number = my_number
            session.busy = None
            return True

    def close(self, sid: str) -> None:
        with self._lock:
            self._wipe(sid)

    def __contains__(self, sid: object) -> bool:
        """Whether the store still holds session ``sid`` (an expired one is wiped first)."""
        with self._lock:
            self._sweep(time.time())
            return sid in self._sessions

    def __len__(self) -> int:
        with self._lock:
            self._sweep(time.time())
            return len(self._sessions)
