"""APDU exchange on top of a transport: status words and T=0 housekeeping.

``61xx`` is answered with GET RESPONSE and ``6Cxx`` with the same command
re-sent with ``Le = xx``, so the layers above see one answer per command
whatever the reader's protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ApduError, ErrorCode, ProtocolError
from .transport import Transport

SW_OK = 0x9000
MAX_CHAINED = 64  # bound on 61xx rounds: a card that keeps saying "more" is broken


@dataclass(frozen=True)
class Response:
    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK

    def check(self, *allowed: int) -> Response:
        if self.sw != SW_OK and self.sw not in allowed:
            raise ApduError(self.sw)
        return self


def command(
    cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None
) -> bytes:
    """A short APDU; ``le`` 256 is written as 00."""
    if len(data) > 255:
        raise ValueError("short APDUs carry at most 255 bytes")
    out = bytes([cla, ins, p1, p2])
    if data:
        out += bytes([len(data)]) + data
    if le is not None:
        if not 0 < le <= 256:
            raise ValueError("Le must be 1..256")
        out += bytes([le & 0xFF])
    return out


class ApduChannel:
    """Exchanges APDUs and hides the T=0 status words."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.count = 0  # command APDUs sent, GET RESPONSE and re-sends included

    def _raw(self, apdu: bytes) -> Response:
        self.count += 1
        resp = self.transport.transmit(apdu)
        if len(resp) < 2:
            raise ProtocolError(ErrorCode.BAD_RESPONSE, f"card answered {len(resp)} byte(s)")
        return Response(resp[:-2], (resp[-2] << 8) | resp[-1])

    def send(self, apdu: bytes) -> Response:
        resp = self._sized(apdu)
        data = resp.data
        rounds = 0
        while resp.sw1 == 0x61:
            rounds += 1
            if rounds > MAX_CHAINED:
                raise ProtocolError(ErrorCode.BAD_RESPONSE, "card never finished its answer")
            resp = self._sized(command(0x00, 0xC0, 0x00, 0x00, le=(resp.sw & 0xFF) or 256))
            data += resp.data
        return Response(data, resp.sw)

    def _sized(self, apdu: bytes) -> Response:
        """One command; on ``6C xx`` (T=0: wrong Le, the card tells the right one) once more
        with ``Le = xx``. A GET RESPONSE can get ``6C xx`` as well."""
        resp = self._raw(apdu)
        if resp.sw1 == 0x6C:
            le = bytes([resp.sw & 0xFF])
            resp = self._raw(apdu[:-1] + le if _has_le(apdu) else apdu + le)
        return resp


def _has_le(apdu: bytes) -> bool:
    # short APDU cases: 4 bytes = case 1; 5 = case 2 (Le); 5+Lc = case 3; 6+Lc = case 4
    if len(apdu) == 5:
        return True
    return len(apdu) > 5 and len(apdu) == 6 + apdu[4]
