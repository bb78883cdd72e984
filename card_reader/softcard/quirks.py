"""Named quirks: the software card answering as some other card might, on purpose.

``QuirkyCard(card, ["select-fci", …])`` wraps a card OS and changes only what
the named quirks say; everything else is the software card's own answer. They
exist so that ``kiosk-sim card conformance`` can be run against a card that
differs (``kiosk-sim card emulate --quirks NAME[,NAME]``), and each one moves
exactly the checks its description names. The list is in README.md of this package.
"""

from __future__ import annotations

from collections.abc import Iterable

from .card import CARD_FACE_AID, JUKI_AID, CardOS, SwError, parse_apdu

QUIRKS: dict[str, str] = {
    "select-fci": "SELECT with P2 = 00 answers an FCI (6F 84 <AID or FID>) and 90 00, not 6A 86",
    "read-past-end-6282": "READ BINARY with Le past the end answers the rest with 62 82, not 90 00",
    "reselect-drops-pin": "selecting the application already selected clears the verified PIN",
    "wrong-cla-6d00": "an unknown CLA answers 6D 00 (as an unknown INS), not 6E 00",
}

SW_OK = b"\x90\x00"


class QuirkError(ValueError):
    """An unknown quirk name; the message lists the known ones."""


def parse_quirks(text: str) -> tuple[str, ...]:
    """``"a,b"`` -> ``("a", "b")``; unknown names are refused with the list of known ones."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in QUIRKS]
    if unknown or not names:
        raise QuirkError(
            f"unknown quirk {', '.join(unknown) or '(none given)'}; known: {', '.join(QUIRKS)}"
        )
    return names


class QuirkyCard:
    """A card OS with some of ``QUIRKS`` switched on."""

    def __init__(self, card: CardOS, quirks: Iterable[str]) -> None:
        self.card = card
        self.quirks = frozenset(quirks)
        if unknown := self.quirks - QUIRKS.keys():
            raise QuirkError(f"unknown quirk {', '.join(sorted(unknown))}")
        self._selected: bytes | None = None  # the AID last selected, for reselect-drops-pin

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def power_on(self) -> bytes:
        self._selected = None
        return self.card.power_on()

    def power_off(self) -> None:
        self._selected = None
        self.card.power_off()

    def reset(self) -> bytes:
        self._selected = None
        return self.card.reset()

    def execute(self, apdu: bytes) -> bytes:
        apdu = bytes(apdu)
        if len(apdu) < 4:
            return self.card.execute(apdu)
        cla, ins, p1, p2 = apdu[:4]
        if cla == 0x00 and ins == 0xA4:
            return self._select(apdu, p1, p2)
        answer = self.card.execute(apdu)
        if "wrong-cla-6d00" in self.quirks and answer == b"\x6e\x00" and cla not in (0x00, 0x80):
            return b"\x6d\x00"
        if "read-past-end-6282" in self.quirks and cla == 0x00 and ins == 0xB0:
            return self._read_past_end(apdu, answer)
        return answer

    def _select(self, apdu: bytes, p1: int, p2: int) -> bytes:
        try:
            data = parse_apdu(apdu).data
        except SwError as exc:
            return exc.sw.to_bytes(2, "big")
        fci = "select-fci" in self.quirks and p2 == 0x00
        if fci:  # asked as the software card's only form, P2 = 0C, without Le
            apdu = bytes([0x00, 0xA4, p1, 0x0C, len(data)]) + data
        if "reselect-drops-pin" in self.quirks and p1 == 0x04 and data == self._selected:
            # the software card keeps the PIN on a re-select: pass through another
            # application first, which starts a fresh session
            other = CARD_FACE_AID if data == JUKI_AID else JUKI_AID
            self.card.execute(bytes([0x00, 0xA4, 0x04, 0x0C, len(other)]) + other)
        answer = self.card.execute(apdu)
        if answer != SW_OK:
            return answer
        if p1 == 0x04:
            self._selected = data
        if fci:
            name = bytes([0x84 if p1 == 0x04 else 0x83, len(data)]) + data
            return bytes([0x6F, len(name)]) + name + SW_OK
        return answer

    def _read_past_end(self, apdu: bytes, answer: bytes) -> bytes:
        try:
            le = parse_apdu(apdu).le
        except SwError:
            return answer
        if answer[-2:] == SW_OK and le is not None and len(answer) - 2 < le:
            return answer[:-2] + b"\x62\x82"
        return answer


__all__ = ["QUIRKS", "QuirkError", "QuirkyCard", "parse_quirks"]
