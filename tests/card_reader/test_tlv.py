from __future__ import annotations

import pytest

from card_reader import tlv
from card_reader.errors import ErrorCode, ProtocolError


def test_two_byte_tags_and_all_length_forms() -> None:
    buf = (
        bytes.fromhex("FF10 03 313233")
        + bytes.fromhex("DF22 81 80")
        + b"a" * 0x80
        + bytes.fromhex("7F21 82 0002 ABCD")
    )
    got = list(tlv.iter_tlvs(buf))
    assert [t.tag for t in got] == [0xFF10, 0xDF22, 0x7F21]
    assert got[0].value == b"123"
    assert got[1].value == b"a" * 0x80
    assert got[2].value == b"\xab\xcd"
    # raw keeps the header exactly as the card wrote it, long form included
    assert got[2].raw == bytes.fromhex("7F21 82 0002 ABCD")


def test_filler_ends_the_walk_but_ff_tags_do_not() -> None:
    ef0001 = bytes.fromhex("FF10 0C") + b"123456789018" + b"\xff\xff"
    assert [t.tag for t in tlv.iter_tlvs(ef0001)] == [0xFF10]
    assert [t.tag for t in tlv.iter_tlvs(bytes.fromhex("DF2501 31 0000"))] == [0xDF25]


def test_truncated_value_is_a_clear_error() -> None:
    with pytest.raises(ProtocolError) as err:
        tlv.parse_one(bytes.fromhex("FF20 82 0100") + b"x" * 10)
    assert err.value.code is ErrorCode.MALFORMED_DATA
    assert "announces 256 bytes" in err.value.message


@pytest.mark.parametrize("buf", [b"", b"\xdf", b"\xdf\x22", b"\xdf\x22\x82\x01", b"\x30\x84"])
def test_truncated_or_unsupported_header(buf: bytes) -> None:
    with pytest.raises(ProtocolError):
        tlv.parse_one(buf)


@pytest.mark.parametrize(
    "n,long_form", [(0, False), (0x7F, False), (0x80, False), (300, True), (5, True)]
)
def test_encode_parses_back(n: int, long_form: bool) -> None:
    raw = tlv.encode(0xDF33, bytes(n), long_form=long_form)
    t = tlv.parse_one(raw)
    assert (t.tag, t.value, t.raw) == (0xDF33, bytes(n), raw)
    if long_form:
        assert raw[2] == 0x82
