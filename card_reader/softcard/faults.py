"""A card wrapper that misbehaves on purpose, for tests of the layers above.

``remove_at``: the N-th APDU (1-based, APDUs only) and every later one raise
``ConnectionAbortedError("card removed")``: the in-memory transport reports
"card removed", the vpcd bridge closes its socket (= card pulled in pcscd).
``delay``: seconds slept before each answer (a slow card or reader).
``garbage_at``: the N-th APDU is answered with ``garbage`` instead of a
response (default: one byte, a truncated status word).
``reset_at``: at the N-th APDU the card is reset (its session, the verified PIN
included, is gone) and the APDU is refused with ``ConnectionResetError``, as
pcscd refuses a handle whose card another program reset (``SCARD_W_RESET_CARD``,
nothing sent): the in-memory transport reports ``card_reset``. Through pcscd a
test resets the card for real instead, from a second PC/SC context.
``t0``: the card answers as a T=0 card (``t0.py``: ``61 xx`` + GET RESPONSE,
``6C xx``) and reports a T=0 ATR; ``atr`` reports that ATR instead of the card's.
"""

from __future__ import annotations

import time

from .card import CardOS
from .t0 import T0_ATR, T0Answers


class FaultyCard:
    def __init__(
        self,
        card: CardOS,
        *,
        remove_at: int | None = None,
        delay: float = 0.0,
        garbage_at: int | None = None,
        garbage: bytes = b"\x90",
        reset_at: int | None = None,
        t0: bool = False,
        atr: bytes | None = None,
    ) -> None:
        self.card = card
        self.remove_at = remove_at
        self.delay = delay
        self.garbage_at = garbage_at
        self.garbage = garbage
        self.reset_at = reset_at
        self._t0 = T0Answers(card.execute) if t0 else None
        self._atr = atr if atr is not None else T0_ATR if t0 else None
        self.count = 0  # APDUs received, the one that "removed" the card included

    @property
    def removed(self) -> bool:
        return self.remove_at is not None and self.count >= self.remove_at

    @property
    def atr(self) -> bytes:
        return self._atr if self._atr is not None else self.card.atr

    def power_on(self) -> bytes:
        self.card.power_on()
        return self.atr

    def power_off(self) -> None:
        if self._t0 is not None:
            self._t0.clear()
        self.card.power_off()

    def reset(self) -> bytes:
        if self._t0 is not None:
            self._t0.clear()
        self.card.reset()
        return self.atr

    def execute(self, apdu: bytes) -> bytes:
        self.count += 1
        if self.removed:
            raise ConnectionAbortedError("card removed")
        if self.count == self.reset_at:
            self.reset()
            raise ConnectionResetError("card reset")
        if self.delay:
            time.sleep(self.delay)
        execute = self._t0.execute if self._t0 is not None else self.card.execute
        if self.count == self.garbage_at:
            # the card still processes the command: only its answer is lost
            execute(apdu)
            return self.garbage
        return execute(apdu)
