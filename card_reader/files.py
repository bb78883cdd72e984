"""Layouts of the 券面事項入力補助AP's files, as pure functions over bytes.

The kiosk reads these files and the issuance center checks them, so both use
this one parser. Values that hold personal data never appear in messages.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from . import mynumber, tlv
from .errors import ErrorCode, ProtocolError

AID = bytes.fromhex("D3921000310001010408")  # 券面事項入力補助AP
EF_MY_NUMBER, EF_BASIC_INFO, EF_INTEGRITY, EF_CVC, EF_APP_INFO, EF_CARD_KEY = (
    0x01,
    0x02,
    0x03,
    0x04,
    0x05,
    0x07,
)
EF_PIN = 0x11

TAG_MY_NUMBER = 0xFF10
TAG_BASIC_INFO = 0xFF20
TAG_OFFSETS, TAG_NAME, TAG_ADDRESS, TAG_BIRTH, TAG_SEX = 0xDF21, 0xDF22, 0xDF23, 0xDF24, 0xDF25
TAG_INTEGRITY = 0xFF30
TAG_DIGEST_NUMBER, TAG_DIGEST_INFO, TAG_INTEGRITY_SIG = 0xDF31, 0xDF32, 0xDF33
TAG_CARD_KEY = 0xFF50
TAG_CARD_PUBLIC, TAG_CARD_KEY_SIG = 0xDF51, 0xDF52

SEX = {"1": "male", "2": "female", "9": "not applicable", "0": "unknown"}

_UNUSABLE = (
    "this card holds characters that cannot be read here; please ask at the municipal window"
)


def _malformed(what: str) -> ProtocolError:
    return ProtocolError(ErrorCode.MALFORMED_DATA, what)


@dataclass(frozen=True)
class BasicInfo:
    """The 4 basic facts (基本4情報). ``repr`` hides them: they are personal data."""

    name: str = field(repr=False)
    address: str = field(repr=False)
    birth_date: date = field(repr=False)
    sex: str = field(repr=False)  # "1", "2", "9" or "0", as on the card


def parse_my_number(ef0001: bytes) -> str:
    t = tlv.parse_one(ef0001)
    if t.tag != TAG_MY_NUMBER or len(t.value) != 12:
        raise _malformed("EF 0001 does not hold a My Number")
    try:
        number = t.value.decode("ascii")
    except UnicodeDecodeError:
        raise _malformed("EF 0001 does not hold a My Number") from None
    if not mynumber.is_valid(number):
        raise ProtocolError(
            ErrorCode.INVALID_MY_NUMBER, "the card's My Number fails its check digit"
        )
    return number


def _basic_info_tlvs(ef0002: bytes) -> tuple[tlv.Tlv, dict[int, tlv.Tlv]]:
    outer = tlv.parse_one(ef0002)
    if outer.tag != TAG_BASIC_INFO:
        raise _malformed("EF 0002 does not hold the basic 4 facts")
    parts = tlv.children(outer.value)
    missing = {TAG_OFFSETS, TAG_NAME, TAG_ADDRESS, TAG_BIRTH, TAG_SEX} - parts.keys()
    if missing:
        raise _malformed(f"EF 0002 lacks {', '.join(f'{m:X}' for m in sorted(missing))}")
    return outer, parts


def parse_basic_info(ef0002: bytes) -> BasicInfo:
    """Accepts both outer length forms seen on real cards (``FF 20 LL``, ``FF 20 82 LL LL``)."""
    _outer, parts = _basic_info_tlvs(ef0002)
    # The TLVs are walked rather than the DF21 offsets followed: both header forms
    # then parse the same, and offsets a card generation computes differently cannot mislead.
    try:
        name = parts[TAG_NAME].value.decode("utf-8")
        address = parts[TAG_ADDRESS].value.decode("utf-8")
        birth = parts[TAG_BIRTH].value.decode("ascii")
        sex = parts[TAG_SEX].value.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(ErrorCode.UNSUPPORTED_CHARACTERS, _UNUSABLE) from None
    try:
        if len(birth) != 8 or not birth.isdigit():
            raise ValueError
        birth_date = date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        raise _malformed("EF 0002 birth date is not YYYYMMDD") from None
    if sex not in SEX:
        raise _malformed("EF 0002 sex code is not one of 1, 2, 9, 0")
    return BasicInfo(name, address, birth_date, sex)


def basic_info_digest_input(ef0002: bytes) -> bytes:
    """What DF32 hashes: the FF20 value from DF22 to its end (no DF21, no filler)."""
    outer, parts = _basic_info_tlvs(ef0002)
    return outer.value[parts[TAG_OFFSETS].end :]


@dataclass(frozen=True)
class IntegrityRecord:
    digest_my_number: tlv.Tlv
    digest_basic_info: tlv.Tlv
    signature: bytes

    @property
    def signed_bytes(self) -> bytes:
        return self.digest_my_number.raw + self.digest_basic_info.raw


def parse_integrity(ef0003: bytes) -> IntegrityRecord:
    outer = tlv.parse_one(ef0003)
    if outer.tag != TAG_INTEGRITY:
        raise _malformed("EF 0003 is not an integrity record")
    parts = tlv.children(outer.value)
    try:
        return IntegrityRecord(
            parts[TAG_DIGEST_NUMBER], parts[TAG_DIGEST_INFO], parts[TAG_INTEGRITY_SIG].value
        )
    except KeyError:
        raise _malformed("EF 0003 lacks a digest or its signature") from None


@dataclass(frozen=True)
class CardKeyRecord:
    public_key_tlv: tlv.Tlv  # DF51, signed as a whole
    signature: bytes


def parse_card_key(ef0007: bytes) -> CardKeyRecord:
    outer = tlv.parse_one(ef0007)
    if outer.tag != TAG_CARD_KEY:
        raise _malformed("EF 0007 is not the card's key record")
    parts = tlv.children(outer.value)
    try:
        return CardKeyRecord(parts[TAG_CARD_PUBLIC], parts[TAG_CARD_KEY_SIG].value)
    except KeyError:
        raise _malformed("EF 0007 lacks the key or its signature") from None


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
