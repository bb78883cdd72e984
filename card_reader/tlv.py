"""BER-style TLVs as the My Number Card writes them.

The card uses non-minimal tags (``FF10``, ``DF21``) that strict DER parsers
reject, so this is a small parser of its own: a tag is two bytes when the low
five bits of the first byte are all ones, a length is one byte, ``81 xx`` or
``82 xx xx``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .errors import ErrorCode, ProtocolError


@dataclass(frozen=True)
class Tlv:
    tag: int
    value: bytes
    raw: bytes  # header and value exactly as they were in the buffer
    offset: int  # where the TLV starts in the buffer it was parsed from

    @property
    def end(self) -> int:
        return self.offset + len(self.raw)


def _tag_len(tag: int) -> int:
    return 2 if tag > 0xFF else 1


def parse_header(buf: bytes, pos: int = 0) -> tuple[int, int, int]:
    """Return ``(tag, length, header_len)`` of the TLV at ``pos``."""
    try:
        first = buf[pos]
        if first & 0x1F == 0x1F:
            tag = (first << 8) | buf[pos + 1]
            p = pos + 2
        else:
            tag = first
            p = pos + 1
        lb = buf[p]
        if lb < 0x80:
            length, p = lb, p + 1
        elif lb == 0x81:
            length, p = buf[p + 1], p + 2
        elif lb == 0x82:
            length, p = (buf[p + 1] << 8) | buf[p + 2], p + 3
        else:
            raise ProtocolError(ErrorCode.MALFORMED_DATA, f"unsupported TLV length byte {lb:02X}")
    except IndexError:
        raise ProtocolError(ErrorCode.MALFORMED_DATA, "truncated TLV header") from None
    return tag, length, p - pos


def parse_one(buf: bytes, pos: int = 0) -> Tlv:
    tag, length, hlen = parse_header(buf, pos)
    start = pos + hlen
    if start + length > len(buf):
        raise ProtocolError(
            ErrorCode.MALFORMED_DATA,
            f"TLV {tag:X} announces {length} bytes but only {len(buf) - start} follow",
        )
    return Tlv(tag, bytes(buf[start : start + length]), bytes(buf[pos : start + length]), pos)


def iter_tlvs(buf: bytes, pos: int = 0, end: int | None = None) -> Iterator[Tlv]:
    """The TLVs one after the other from ``pos``; stops at filler (00/FF) or ``end``."""
    end = len(buf) if end is None else end
    while pos < end and not _is_filler(buf, pos, end):
        tlv = parse_one(buf[:end], pos)
        yield tlv
        pos = tlv.end


def _is_filler(buf: bytes, pos: int, end: int) -> bool:
    # FF starts real tags too (FF10, FF20); only FF FF, a lone FF or 00 is filler.
    if buf[pos] == 0x00:
        return True
    return buf[pos] == 0xFF and (pos + 1 >= end or buf[pos + 1] == 0xFF)


def children(value: bytes) -> dict[int, Tlv]:
    """The TLVs inside a constructed value, by tag (the card never repeats a tag)."""
    return {t.tag: t for t in iter_tlvs(value)}


def encode_length(n: int, long_form: bool = False) -> bytes:
    if n < 0x80 and not long_form:
        return bytes([n])
    if n <= 0xFF and not long_form:
        return bytes([0x81, n])
    if n <= 0xFFFF:
        return bytes([0x82, n >> 8, n & 0xFF])
    raise ValueError("TLV value too long")


def encode(tag: int, value: bytes, long_form: bool = False) -> bytes:
    """Encode one TLV; ``long_form`` forces the three-byte ``82 xx xx`` length."""
    tag_bytes = tag.to_bytes(_tag_len(tag), "big")
    return tag_bytes + encode_length(len(value), long_form) + value
