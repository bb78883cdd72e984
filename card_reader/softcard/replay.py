"""A software card that answers as a traced card did (``kiosk-sim card emulate --replay``).

Every command runs on the model card first (``SoftCard`` of the given profile), so its
state (selection, verified PIN, try counter) is what the commands made it. The answer
is then the trace's, when the trace has one for that command; else the model's:

- commands are matched on header, data (its length when redacted) and Le; the n-th
  time a command comes it gets the n-th traced answer to it, round again once they are
  used up; a new card session (power on, reset) starts from the first;
- an answer whose data was redacted is unknown: the model answers (data and status);
- **VERIFY (INS 20) is always the model's**: a trace can never make the card accept a
  PIN, or answer one, without its own PIN logic counting the try;
- a traced removal (``card_removed``) removes the card again; a traced answer shorter
  than a status word is given as it came;
- ``timing``: the answer waits until the traced duration has passed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

from ..trace import Exchange, Trace, command_fields, replay_key
from .card import CardOS

INS_VERIFY = 0x20


class ReplayCard:
    def __init__(
        self,
        card: CardOS,
        trace: Trace,
        *,
        timing: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.card = card
        self.trace = trace
        self.timing = timing
        self.sleep = sleep
        self._answers: dict[str, list[Exchange]] = defaultdict(list)
        for ex in trace.exchanges:
            self._answers[ex.key].append(ex)
        self._next: dict[str, int] = defaultdict(int)
        self.replayed = 0  # answers taken from the trace (tests and the log say how many)

    @property
    def atr(self) -> bytes:
        return self.trace.atr or self.card.atr

    def power_on(self) -> bytes:
        self.card.power_on()
        self._next.clear()
        return self.atr

    def power_off(self) -> None:
        self.card.power_off()

    def reset(self) -> bytes:
        self.card.reset()
        self._next.clear()
        return self.atr

    def _traced(self, apdu: bytes) -> Exchange | None:
        key = replay_key(command_fields(apdu, None))
        answers = self._answers.get(key)
        if not answers:
            return None
        i = self._next[key]
        self._next[key] = i + 1
        return answers[i % len(answers)]

    def execute(self, apdu: bytes) -> bytes:
        t0 = time.monotonic()
        model = self.card.execute(apdu)  # always: the model's state follows every command
        ex = self._traced(apdu)
        if ex is not None and self.timing:
            self.sleep(max(0.0, ex.dur - (time.monotonic() - t0)))
        if ex is None or (len(apdu) > 1 and apdu[1] == INS_VERIFY):
            return model
        if ex.error == "card_removed":
            raise ConnectionAbortedError("card removed (as traced)")
        if ex.raw is not None:
            self.replayed += 1
            return ex.raw
        if ex.sw is None or ex.resp is None:
            return model  # redacted data, or an error other than removal: the model knows
        self.replayed += 1
        return ex.resp + ex.sw.to_bytes(2, "big")
