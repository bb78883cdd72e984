"""A card wrapper that misbehaves on purpose, for tests of the layers above.

``remove_at``: the N-th APDU (1-based, APDUs only) and every later one raise
``ConnectionAbortedError("card removed")``: the in-memory transport reports
"card removed", the vpcd bridge closes its socket (= card pulled in pcscd).
``delay``: seconds slept before each answer (a slow card or reader).
``garbage_at``: the N-th APDU is answered with ``garbage`` instead of a
response (default: one byte, a truncated status word).
"""

from __future__ import annotations

import time

from .card import CardOS


class FaultyCard:
    def __init__(
        self,
        card: CardOS,
        *,
        remove_at: int | None = None,
        delay: float = 0.0,
        garbage_at: int | None = None,
        garbage: bytes = b"\x90",
    ) -> None:
        self.card = card
        self.remove_at = remove_at
        self.delay = delay
        self.garbage_at = garbage_at
        self.garbage = garbage
        self.count = 0  # APDUs received, the one that "removed" the card included

    @property
    def removed(self) -> bool:
        return self.remove_at is not None and self.count >= self.remove_at

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def power_on(self) -> bytes:
        return self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def reset(self) -> bytes:
        return self.card.reset()

    def execute(self, apdu: bytes) -> bytes:
        self.count += 1
        if self.removed:
            raise ConnectionAbortedError("card removed")
        if self.delay:
            time.sleep(self.delay)
        if self.count == self.garbage_at:
            # the card still processes the command: only its answer is lost
            self.card.execute(apdu)
            return self.garbage
        return self.card.execute(apdu)
