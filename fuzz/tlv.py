"""atheris target B01: the TLV parser and the card file parsers on any bytes (only CardError)."""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["card_reader"]):
    from card_reader import CardError, cvc, files, tlv

import _harness

MAX_LEN = 2048  # the largest card file (EF 0004) is under 600 bytes
PARSERS = (
    lambda d: list(tlv.iter_tlvs(d)),
    tlv.parse_one,
    tlv.children,
    files.parse_my_number,
    files.parse_basic_info,
    files.basic_info_digest_input,
    files.parse_integrity,
    files.parse_card_key,
    cvc.parse,
)


def test_one_input(data: bytes) -> None:
    for parse in PARSERS:
        try:
            parse(data)
        except CardError as exc:
            assert exc.code and exc.message


def seeds() -> list[bytes]:
    card = _harness.genuine_card().files
    return [card.ef0001, card.ef0002, card.ef0003, card.ef0004, card.ef0007]


if __name__ == "__main__":
    _harness.main(test_one_input, seeds, MAX_LEN)
