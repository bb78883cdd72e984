"""The kiosk's payment terminal: the amount is held when the resident pays, taken only once
every page is printed, and released otherwise.

``SimulatedTerminal`` keeps what a real terminal's journal would: amounts and references,
never who paid (no card number, no name), so its records may be read by a clerk and a test.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Literal, Protocol

Kind = Literal["authorisation", "capture", "void"]


class PaymentTerminal(Protocol):
    def authorise(self, amount: int) -> str:
        """Holds ``amount`` yen of the resident's money; returns its reference. May take as
        long as the resident does: the kiosk calls it off its lock."""
        ...

    def capture(self, ref: str) -> None:
        """Takes the held amount. Returns at once (a real terminal queues the message)."""
        ...

    def void(self, ref: str) -> None:
        """Releases the held amount. Returns at once, as ``capture``."""
        ...


@dataclass(frozen=True)
class Record:
    kind: Kind
    ref: str
    amount: int


class SimulatedTerminal:
    """Always authorises; refuses to settle a reference twice (a kiosk bug, not a payment)."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def authorise(self, amount: int) -> str:
        if amount <= 0:
            raise ValueError("an authorisation is for a positive amount")
        ref = secrets.token_hex(4)
        with self._lock:
            self._held[ref] = amount
            self.records.append(Record("authorisation", ref, amount))
        return ref

    def capture(self, ref: str) -> None:
        self._settle("capture", ref)

    def void(self, ref: str) -> None:
        self._settle("void", ref)

    def _settle(self, kind: Kind, ref: str) -> None:
        with self._lock:
            if ref not in self._held:
                raise ValueError(f"{kind}: no open authorisation {ref}")
            self.records.append(Record(kind, ref, self._held.pop(ref)))

    def captured(self) -> int:
        """Yen taken from residents so far."""
        with self._lock:
            return sum(r.amount for r in self.records if r.kind == "capture")

    def held(self) -> dict[str, int]:
        """Authorisations neither captured nor voided: money a resident cannot use meanwhile."""
        with self._lock:
            return dict(self._held)
