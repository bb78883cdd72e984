"""The software card's answers as a T=0 card gives them (ISO 7816-3 and -4).

Under T=0 a card hands out response data only when asked: it answers ``61 xx``
("xx bytes waiting") and gives them to GET RESPONSE ``00 C0 00 00 xx``; a
command whose Le is not the length the card has is answered ``6C xx`` ("send it
again with Le = xx"). vpcd passes APDUs through as they are, so pcscd and the
client above see these status words exactly as from a real T=0 card.
``FaultyCard(t0=True)`` puts this in front of the software card.
"""

from __future__ import annotations

from collections.abc import Callable

# TS 3B, T0 = 00: no interface bytes, so T=0 (the default protocol) at the default rate
T0_ATR = bytes.fromhex("3B00")
INS_GET_RESPONSE = 0xC0
INS_READ_BINARY = 0xB0
SW_OK = b"\x90\x00"
SW_NO_DATA = b"\x6a\x82"  # GET RESPONSE with nothing waiting: "no such data"


class T0Answers:
    """Turns a card's whole answers into T=0 ones: ``61 xx`` + GET RESPONSE, ``6C xx``.

    ``chunk``: at most this many bytes per GET RESPONSE answer (a card with a small
    buffer), so a long answer takes several ``61 xx`` rounds.
    """

    def __init__(self, execute: Callable[[bytes], bytes], chunk: int = 256) -> None:
        self._execute = execute
        self.chunk = chunk
        self._waiting: bytes | None = None  # data announced by 61 xx
        self._sw = SW_OK  # the status word that comes after the waiting data

    def clear(self) -> None:
        """Reset or power-off: nothing waits any more."""
        self._waiting = None

    def execute(self, apdu: bytes) -> bytes:
        if len(apdu) >= 4 and apdu[0] == 0x00 and apdu[1] == INS_GET_RESPONSE:
            return self._get_response(apdu)
        self._waiting = None  # any other command drops an answer not fetched
        le = (apdu[4] or 256) if len(apdu) == 5 else None  # case 2: Le only
        if le is not None and apdu[1] == INS_READ_BINARY:
            answer = self._execute(apdu)
            data, sw = answer[:-2], answer[-2:]
            if sw == SW_OK and data and len(data) != le:
                # the file had fewer (or more) bytes than asked: the right Le, nothing else
                return bytes([0x6C, len(data) & 0xFF])
            return answer
        answer = self._execute(apdu)
        data, sw = answer[:-2], answer[-2:]
        if not data:
            return answer
        self._waiting, self._sw = data, sw
        return bytes([0x61, min(len(data), self.chunk) & 0xFF])

    def _get_response(self, apdu: bytes) -> bytes:
        waiting = self._waiting
        if waiting is None:
            return SW_NO_DATA
        offer = min(len(waiting), self.chunk)
        le = (apdu[4] or 256) if len(apdu) == 5 else None
        if le != offer:
            return bytes([0x6C, offer & 0xFF])
        out, self._waiting = waiting[:offer], waiting[offer:]
        if self._waiting:
            return out + bytes([0x61, min(len(self._waiting), self.chunk) & 0xFF])
        self._waiting = None
        return out + self._sw
