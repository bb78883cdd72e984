"""PC/SC transport through pyscard's ``scard`` layer (pcscd on Linux).

The same code drives a USB reader with a real My Number Card and the software
card behind vsmartcard's ``vpcd`` driver. Every call that can block has a
bound: waiting for a card takes a timeout, and a transmit that does not come
back in time fails with ``timeout`` instead of hanging the caller.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from smartcard import scard

from .errors import ErrorCode, TransportError
from .transport import Transport

T = TypeVar("T")

# pcscd polls a reader for card presence every 400 ms or so: the longest wait
# before an empty answer is known to be a removal.
REMOVAL_GRACE = 0.8

_REMOVED = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_W_UNRESPONSIVE_CARD,
    scard.SCARD_E_NOT_TRANSACTED,  # vpcd reports a closed card link this way
}
_READER_GONE = {
    scard.SCARD_E_READER_UNAVAILABLE,
    scard.SCARD_E_UNKNOWN_READER,
    scard.SCARD_E_NO_SERVICE,
    scard.SCARD_E_SERVICE_STOPPED,
    scard.SCARD_E_INVALID_HANDLE,
}


def _error(hresult: int, what: str) -> TransportError:
    text = scard.SCardGetErrorMessage(hresult)
    if hresult in _REMOVED:
        return TransportError(ErrorCode.CARD_REMOVED, f"the card was removed ({what}: {text})")
    if hresult == scard.SCARD_W_RESET_CARD:
        return TransportError(
            ErrorCode.CARD_REMOVED, f"the card was reset by another program ({what})"
        )
    if hresult in _READER_GONE:
        return TransportError(
            ErrorCode.READER_UNAVAILABLE, f"reader or pcscd unavailable ({what}: {text})"
        )
    if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
        return TransportError(ErrorCode.NO_READER, "no smart-card reader is connected")
    if hresult == scard.SCARD_E_TIMEOUT:
        return TransportError(ErrorCode.TIMEOUT, f"timed out ({what})")
    return TransportError(
        ErrorCode.TRANSPORT, f"PC/SC error in {what}: {text} ({hresult & 0xFFFFFFFF:08X})"
    )


def _check(result: Any, what: str) -> Any:
    hresult, *rest = result
    if hresult != scard.SCARD_S_SUCCESS:
        raise _error(hresult, what)
    return rest[0] if len(rest) == 1 else tuple(rest)


@dataclass(frozen=True)
class ReaderInfo:
    name: str
    atr: bytes | None  # None when no card is in the reader


class _Context:
    def __init__(self) -> None:
        self.handle = _check(
            scard.SCardEstablishContext(scard.SCARD_SCOPE_USER), "connect to pcscd"
        )

    def readers(self) -> list[str]:
        hresult, names = scard.SCardListReaders(self.handle, [])
        if hresult in (scard.SCARD_E_NO_READERS_AVAILABLE,):
            return []
        if hresult != scard.SCARD_S_SUCCESS:
            raise _error(hresult, "list readers")
        return list(names)

    def states(self, names: list[str], timeout_ms: int = 0) -> dict[str, tuple[int, bytes]]:
        if not names:
            return {}
        hresult, states = scard.SCardGetStatusChange(
            self.handle, timeout_ms, [(n, scard.SCARD_STATE_UNAWARE) for n in names]
        )
        if hresult == scard.SCARD_E_TIMEOUT:
            return {}
        if hresult != scard.SCARD_S_SUCCESS:
            raise _error(hresult, "reader status")
        return {name: (state, bytes(atr)) for name, state, atr in states}

    def release(self) -> None:
        scard.SCardReleaseContext(self.handle)


def list_readers() -> list[ReaderInfo]:
    """Every reader pcscd knows, with the ATR of the card in it (if any)."""
    ctx = _Context()
    try:
        names = ctx.readers()
        states = ctx.states(names)
        out = []
        for name in names:
            state, atr = states.get(name, (0, b""))
            out.append(ReaderInfo(name, atr if state & scard.SCARD_STATE_PRESENT else None))
        return out
    finally:
        ctx.release()


class _Worker:
    """One thread that runs blocking PC/SC calls, so the caller can stop waiting."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]] | None]
        self._jobs = queue.SimpleQueue()
        self.busy = False  # a call is in flight (one that timed out, once its caller has gone)
        self._thread = threading.Thread(target=self._run, name="pcsc-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, out = job
            self.busy = True
            try:
                out.put((True, fn()))
            except BaseException as exc:  # handed back to the caller's thread
                out.put((False, exc))
            finally:
                self.busy = False

    def call(self, fn: Callable[[], T], timeout: float) -> T:
        out: queue.SimpleQueue[tuple[Literal[True], T] | tuple[Literal[False], BaseException]]
        out = queue.SimpleQueue()
        self._jobs.put((fn, out))
        try:
            result = out.get(timeout=timeout)
        except queue.Empty:
            raise TransportError(
                ErrorCode.TIMEOUT, f"the card did not answer within {timeout:g} s"
            ) from None
        if not result[0]:
            raise result[1]
        return result[1]

    def stop(self, last: Callable[[], Any] | None = None) -> None:
        """Ends the thread, after ``last`` (run after any call still in flight here)."""
        if last is not None:
            self._jobs.put((last, queue.SimpleQueue()))
        self._jobs.put(None)


class PcscTransport(Transport):
    """A connection to the card in one PC/SC reader.

    ``reader``: a reader name or a part of it; ``None`` picks the first reader
    holding a card. ``wait``: seconds to wait for a card to appear.
    ``timeout``: the bound on one APDU round trip; ``None`` calls pcscd
    directly from the caller's thread (about 0.1 ms faster, but a card that
    never answers then blocks the caller).
    """

    def __init__(
        self,
        reader: str | None = None,
        *,
        wait: float = 0.0,
        timeout: float | None = 5.0,
        exclusive: bool = False,
    ) -> None:
        self.timeout = timeout
        # Held while a transmit runs. pcsc-lite frees a context's memory when it is released,
        # and a call still using it in another thread then crashes the process (a kiosk that
        # closes the card's link when its watcher sees the card go, mid-APDU); close() so
        # leaves the freeing to the transmit under way.
        self._use = threading.Lock()
        self._close_pending = False
        self._card: int | None = None
        self._worker: _Worker | None = None
        ctx = _Context()
        self._ctx: _Context | None = ctx  # None once closed
        try:
            self.reader = self._find_reader(ctx, reader, wait)
            mode = scard.SCARD_SHARE_EXCLUSIVE if exclusive else scard.SCARD_SHARE_SHARED
            self._card, self._protocol = _check(
                scard.SCardConnect(
                    ctx.handle,
                    self.reader,
                    mode,
                    scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
                ),
                "connect to the card",
            )
            self._atr = self._status_atr()
            self._worker = _Worker() if timeout is not None else None
        except BaseException:
            self.close()
            raise

    def _find_reader(self, ctx: _Context, wanted: str | None, wait: float) -> str:
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            names = every = ctx.readers()
            if wanted is not None:
                names = [n for n in names if n == wanted] or [n for n in names if wanted in n]
                if not names and time.monotonic() >= deadline:
                    # the names to pick from, so a typo is fixed without another command
                    there = ", ".join(repr(n) for n in every) or "none"
                    raise TransportError(
                        ErrorCode.NO_READER, f"no reader named {wanted!r}; readers: {there}"
                    )
            for name, (state, _) in ctx.states(names).items():
                if state & scard.SCARD_STATE_PRESENT and not state & scard.SCARD_STATE_MUTE:
                    return name
            left = deadline - time.monotonic()
            if left <= 0:
                if not names and wanted is None:
                    raise TransportError(ErrorCode.NO_READER, "no smart-card reader is connected")
                raise TransportError(ErrorCode.NO_CARD, "no card in the reader")
            # sleep on pcscd's own change notification, a slice at a time so new readers count too
            current = [(n, scard.SCARD_STATE_EMPTY) for n in names]
            if current:
                scard.SCardGetStatusChange(ctx.handle, int(min(left, 0.25) * 1000), current)
            else:
                time.sleep(min(left, 0.25))

    def _status_atr(self) -> bytes:
        _name, _state, _proto, atr = _check(scard.SCardStatus(self._card), "card status")
        return bytes(atr)

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def protocol(self) -> str | None:
        return {scard.SCARD_PROTOCOL_T0: "T=0", scard.SCARD_PROTOCOL_T1: "T=1"}.get(self._protocol)

    def transmit(self, apdu: bytes) -> bytes:
        with self._use:
            try:
                return self._transmit(apdu)
            finally:
                if self._close_pending:
                    self._close_now()

    def _transmit(self, apdu: bytes) -> bytes:
        if self._card is None or self._ctx is None:  # both None once closed
            raise TransportError(ErrorCode.NO_CARD, "not connected to a card")
        ctx, card, proto, cmd = self._ctx, self._card, self._protocol, list(apdu)
        if self._worker is None or self.timeout is None:
            result = scard.SCardTransmit(card, proto, cmd)
        else:
            result = self._worker.call(lambda: scard.SCardTransmit(card, proto, cmd), self.timeout)
        resp = bytes(_check(result, "transmit"))
        if not resp and self._removal_confirmed(ctx, REMOVAL_GRACE):
            # vpcd (and some readers) hand back an empty answer when the card
            # leaves mid-command; pcscd confirms the removal at its next poll
            raise TransportError(ErrorCode.CARD_REMOVED, "the card was removed")
        return resp

    def _removal_confirmed(self, ctx: _Context, within: float) -> bool:
        deadline = time.monotonic() + within
        while True:
            hresult = scard.SCardStatus(self._card)[0]
            if hresult != scard.SCARD_S_SUCCESS:
                return hresult in _REMOVED or hresult == scard.SCARD_W_RESET_CARD
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            scard.SCardGetStatusChange(
                ctx.handle,
                int(min(left, 0.1) * 1000),
                [(self.reader, scard.SCARD_STATE_PRESENT)],
            )

    def card_present(self) -> bool:
        """Asks pcscd (not the card) whether the card is still in the reader."""
        if self._ctx is None:  # closed
            return False
        try:
            state, _ = self._ctx.states([self.reader]).get(self.reader, (0, b""))
        except TransportError:
            return False
        return bool(state & scard.SCARD_STATE_PRESENT)

    def close(self) -> None:
        """Safe from any thread: during a transmit, that transmit closes it as it returns."""
        self._close_pending = True
        if self._use.acquire(blocking=False):
            try:
                self._close_now()
            finally:
                self._use.release()

    def _close_now(self) -> None:
        self._close_pending = False
        worker, card, ctx = self._worker, self._card, self._ctx
        self._worker = self._card = self._ctx = None

        def free() -> None:
            if card is not None:
                scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
            if ctx is not None:
                ctx.release()

        if worker is not None and worker.busy:
            worker.stop(free)  # after the SCardTransmit that timed out but is still in flight
            return
        if worker is not None:
            worker.stop()
        free()


def wait_for_card_state(reader: str, present: bool, timeout: float) -> bool:
    """Blocks until the reader holds a card (``present``) or is empty, or ``timeout`` passes.

    Returns whether the wanted state was reached. Sleeps on pcscd's change
    notification, so a kiosk can watch the reader without polling the card.
    A reader that is gone (unplugged, or pcscd restarted without it) raises
    ``reader_unavailable`` rather than passing for an empty one.
    """
    ctx = _Context()
    try:
        deadline = time.monotonic() + timeout
        known = scard.SCARD_STATE_UNAWARE
        while True:
            left = deadline - time.monotonic()
            hresult, states = scard.SCardGetStatusChange(
                ctx.handle, max(0, int(min(left, 0.5) * 1000)), [(reader, known)]
            )
            if hresult == scard.SCARD_S_SUCCESS:
                _name, known, _atr = states[0]
                if known & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                    raise _error(scard.SCARD_E_READER_UNAVAILABLE, "watch the reader")
                has_card = bool(known & scard.SCARD_STATE_PRESENT)
                if has_card == present:
                    return True
                known &= ~scard.SCARD_STATE_CHANGED
            elif hresult != scard.SCARD_E_TIMEOUT:
                raise _error(hresult, "watch the reader")
            if left <= 0:
                return False
    finally:
        ctx.release()
