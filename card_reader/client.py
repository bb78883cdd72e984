"""Client of the 券面事項入力補助AP (card-info input support application).

Works the same over any transport, a USB reader with a real card or the
software card: nothing here knows which it talks to. PIN handling is careful
because the holder has 3 tries in a lifetime between visits to the municipal
window: a malformed PIN is refused before anything is sent, and the tries
left can be asked without spending one.

A card that another program reset (``card_reset`` from the transport) has lost
its session: the selected application and a verified PIN. Before the PIN, what
spends nothing (SELECT, the tries-left query) reconnects, selects again and goes
on, so the resident never notices. VERIFY and everything after it do not: the
error goes up and the caller ends the visit. The PIN is never sent again on its
own (the resident typed it once: a wrong one would cost two tries), and a
verified PIN is never assumed to have survived: a file that asks for the PIN
again after VERIFY succeeded is reported as ``card_reset``, not as a wrong PIN.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from . import files, tlv
from .apdu import ApduChannel, Response, command
from .errors import (
    ApduError,
    ErrorCode,
    PinError,
    ProtocolError,
    TransportError,
    tries_left_text,
)
from .transport import Transport

MAX_PIN_TRIES = 3
CHUNK = 256  # short APDUs: readers without extended length get at most 256 bytes
# DigestInfo prefix for SHA-256 (RFC 8017, 9.2 note 1)
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")

SW_SECURITY = 0x6982
SW_BLOCKED = 0x6984
SW_NOT_FOUND = 0x6A82


def pin_is_well_formed(pin: object) -> bool:
    return isinstance(pin, str) and len(pin) == 4 and pin.isascii() and pin.isdigit()


@dataclass(frozen=True)
class CardFiles:
    """The raw files a verifier needs, plus the card-presence signature."""

    ef0001: bytes = field(repr=False)
    ef0002: bytes = field(repr=False)
    ef0003: bytes = field(repr=False)
    ef0004: bytes = field(repr=False)
    ef0007: bytes = field(repr=False)
    challenge: bytes | None = field(default=None, repr=False)
    presence_signature: bytes | None = field(default=None, repr=False)


class TextApplication:
    """券面事項入力補助AP over an APDU channel."""

    def __init__(self, transport: Transport) -> None:
        self.channel = ApduChannel(transport)
        self.pin_verified = False  # VERIFY succeeded in this card session (a reset ends it)
        self.pin_lost = False  # a reset took a verified PIN away: the card asks for it again

    @property
    def apdu_count(self) -> int:
        return self.channel.count

    def _send(self, apdu: bytes) -> Response:
        try:
            return self.channel.send(apdu)
        except TransportError as exc:
            if exc.code is ErrorCode.CARD_RESET:
                self.pin_lost = self.pin_lost or self.pin_verified
                self.pin_verified = False
            raise

    def _send_before_pin(self, apdu: bytes) -> Response:
        """A command that spends nothing, before the PIN: a reset card is taken up again."""
        try:
            return self._send(apdu)
        except TransportError as exc:
            if exc.code is not ErrorCode.CARD_RESET:
                raise
        self.channel.transport.reconnect()
        if apdu[1] != 0xA4:  # the reset dropped the application: select it again first
            self._select()
        return self._send(apdu)

    def select(self) -> None:
        self._select(self._send_before_pin)

    def _select(self, send: Callable[[bytes], Response] | None = None) -> None:
        resp = (send or self._send)(command(0x00, 0xA4, 0x04, 0x0C, files.AID))
        if resp.sw == SW_NOT_FOUND:
            raise ProtocolError(
                ErrorCode.NOT_MYNUMBER_CARD,
                "this card is not a My Number Card (no card-info input support application)",
            )
        resp.check()

    def pin_tries_left(self) -> int:
        """Asks the card how many PIN tries are left; spends none."""
        resp = self._send_before_pin(command(0x00, 0x20, 0x00, 0x80 | files.EF_PIN))
        if resp.sw1 == 0x63 and resp.sw & 0xF0 == 0xC0:
            return resp.sw & 0x0F
        if resp.sw in (SW_BLOCKED, 0x6983):
            return 0
        if resp.ok:  # already verified in this session: the counter is full
            return MAX_PIN_TRIES
        raise ApduError(resp.sw, f"card answered {resp.sw:04X} to the tries-left query")

    def verify_pin(self, pin: str) -> None:
        """Verifies the PIN; raises PinError with the tries left when it is wrong."""
        if not pin_is_well_formed(pin):
            raise PinError(
                ErrorCode.INVALID_PIN_FORMAT, "the PIN is exactly 4 digits; nothing was sent"
            )
        resp = self._send(command(0x00, 0x20, 0x00, 0x80 | files.EF_PIN, pin.encode("ascii")))
        if resp.ok:
            self.pin_verified, self.pin_lost = True, False
            return
        if resp.sw1 == 0x63 and resp.sw & 0xF0 == 0xC0:
            left = resp.sw & 0x0F
            if left == 0:
                raise PinError(
                    ErrorCode.PIN_BLOCKED,
                    "wrong PIN; that was the last try and the PIN is now locked",
                    0,
                )
            raise PinError(ErrorCode.WRONG_PIN, f"wrong PIN; {tries_left_text(left)}", left)
        if resp.sw in (SW_BLOCKED, 0x6983):
            raise PinError(
                ErrorCode.PIN_BLOCKED,
                "the PIN is locked; it can be reset only at the municipal window",
                0,
            )
        raise ApduError(resp.sw, f"card answered {resp.sw:04X} to VERIFY")

    def _read_chunk(self, p1: int, p2: int, le: int) -> bytes:
        resp = self._send(command(0x00, 0xB0, p1, p2, le=le))
        if resp.sw == SW_SECURITY and (self.pin_verified or self.pin_lost):
            # the PIN was verified, and the card forgot it: it was reset (maybe unseen by
            # the reader), never a reason to ask the resident for the PIN as if it were wrong
            self.pin_verified, self.pin_lost = False, True
            raise TransportError(ErrorCode.CARD_RESET, "the card was reset and lost its PIN status")
        if resp.sw == SW_SECURITY:
            raise PinError(ErrorCode.PIN_REQUIRED, "this file can be read only after the PIN")
        if resp.sw == SW_NOT_FOUND:
            raise ApduError(resp.sw, "the card has no such file")
        return resp.check().data

    def read_file(self, sfi: int) -> bytes:
        """Reads an EF by its short file identifier, in chunks the TLV header asks for.

        The first READ BINARY names the EF by SFI (which also makes it the current
        EF, ISO 7816-4), later ones continue from an offset in the current EF.
        """
        data = self._read_chunk(0x80 | sfi, 0x00, CHUNK)
        if len(data) < CHUNK:
            return data  # the card gave everything up to the end of the file
        _tag, length, hlen = tlv.parse_header(data)
        total = hlen + length
        while len(data) < total:
            offset = len(data)
            if offset > 0x7FFF:
                raise ProtocolError(
                    ErrorCode.MALFORMED_DATA, "file larger than READ BINARY reaches"
                )
            chunk = self._read_chunk(offset >> 8, offset & 0xFF, min(total - offset, CHUNK))
            if not chunk:
                raise ProtocolError(ErrorCode.BAD_RESPONSE, "card returned no data mid-file")
            data += chunk
        return data

    def read_my_number(self) -> str:
        return files.parse_my_number(self.read_file(files.EF_MY_NUMBER))

    def read_basic_info(self) -> files.BasicInfo:
        return files.parse_basic_info(self.read_file(files.EF_BASIC_INFO))

    def sign_challenge(self, challenge: bytes) -> bytes:
        """Card presence: the card signs SHA-256(challenge) with its own key (no PIN)."""
        digest_info = SHA256_DIGEST_INFO + hashlib.sha256(challenge).digest()
        resp = self._send(command(0x80, 0x2A, 0x00, 0x00, digest_info, le=256))
        return resp.check().data

    def read_card_files(self, challenge: bytes | None = None) -> CardFiles:
        """Everything a verifier needs; the PIN must be verified first."""
        return CardFiles(
            ef0001=self.read_file(files.EF_MY_NUMBER),
            ef0002=self.read_file(files.EF_BASIC_INFO),
            ef0003=self.read_file(files.EF_INTEGRITY),
            ef0004=self.read_file(files.EF_CVC),
            ef0007=self.read_file(files.EF_CARD_KEY),
            challenge=challenge,
            presence_signature=self.sign_challenge(challenge) if challenge is not None else None,
        )
