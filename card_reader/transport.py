"""Transports: how APDU bytes reach a card and come back.

The abstract ``Transport`` is what the protocol layer talks to. Two
implementations: ``PcscTransport`` (pcsc.py, real readers and the software
card behind vpcd) and ``InMemoryTransport`` (a card object in this process, for
fast unit tests; the real path is tested beside it, never replaced by it).
"""

from __future__ import annotations

import abc
from typing import Protocol, Self

from .errors import ErrorCode, TransportError


class Transport(abc.ABC):
    """Sends one command APDU, returns the response (data ‖ SW1 SW2)."""

    @abc.abstractmethod
    def transmit(self, apdu: bytes) -> bytes: ...

    @property
    @abc.abstractmethod
    def atr(self) -> bytes: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    @property
    def protocol(self) -> str | None:
        """``"T=0"`` or ``"T=1"`` when the reader says; None when there is no reader."""
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Card(Protocol):
    """The card-OS shape: ``execute(apdu) -> response``."""

    @property
    def atr(self) -> bytes: ...

    def execute(self, apdu: bytes) -> bytes: ...


class InMemoryTransport(Transport):
    def __init__(self, card: Card) -> None:
        self._card: Card | None = card
        self.apdu_count = 0

    @property
    def atr(self) -> bytes:
        if self._card is None:
            raise TransportError(ErrorCode.NO_CARD, "transport is closed")
        return self._card.atr

    def transmit(self, apdu: bytes) -> bytes:
        if self._card is None:
            raise TransportError(ErrorCode.NO_CARD, "transport is closed")
        self.apdu_count += 1
        try:
            return bytes(self._card.execute(bytes(apdu)))
        except ConnectionAbortedError:
            # a software card signals its removal this way (see softcard.faults)
            self._card = None
            raise TransportError(ErrorCode.CARD_REMOVED, "the card was removed") from None

    def close(self) -> None:
        self._card = None
