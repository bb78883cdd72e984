"""Property tests: whatever bytes a card (or an attacker) hands over, only documented errors.

The TLV parser, the file parsers, verification and the client's handling of
card answers may refuse input, but only with a ``CardError`` that has a code
and a message: never another exception, never a hang. Each example counts as one
case of its security class (B01 parsers, B02 the client, B03 verification);
``HYPOTHESIS_PROFILE=campaign`` runs many more (tests/hypothesis_profiles.py).
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_reader import (
    CardError,
    CardFiles,
    InMemoryTransport,
    TextApplication,
    TrustStore,
    cvc,
    files,
    tlv,
    verify_card,
)
from tests.conftest import Cases
from tests.hypothesis_profiles import fuzz

FUZZ = fuzz(200)


def tlv_like() -> st.SearchStrategy[bytes]:
    """Bytes that often look like the card's TLVs: real tags and length forms, random values."""
    tag = st.sampled_from(
        [
            b"\xff\x10",
            b"\xff\x20",
            b"\xdf\x21",
            b"\xdf\x22",
            b"\xff\x30",
            b"\xdf\x33",
            b"\x7f\x21",
            b"\x5f\x4e",
            b"\x90",
            b"\x91",
            b"\xff",
            b"\x00",
        ]
    )
    length = st.one_of(
        st.integers(0, 0x7F).map(lambda n: bytes([n])),
        st.integers(0, 0xFF).map(lambda n: b"\x81" + bytes([n])),
        st.integers(0, 0x2FF).map(lambda n: b"\x82" + n.to_bytes(2, "big")),
        st.sampled_from([b"\x83", b"\x84\x00"]),
    )
    piece = st.tuples(tag, length, st.binary(max_size=64)).map(lambda t: b"".join(t))
    return st.one_of(st.binary(max_size=300), st.lists(piece, max_size=6).map(b"".join))


@pytest.mark.security("B01")
@FUZZ
@given(tlv_like())
def test_tlv_parser_raises_only_protocol_errors(cases: Cases, data: bytes) -> None:
    cases()
    for parse in (
        lambda: list(tlv.iter_tlvs(data)),
        lambda: tlv.parse_one(data),
        lambda: tlv.children(data),
    ):
        try:
            parse()
        except CardError as exc:
            assert exc.code and exc.message


@pytest.mark.security("B01")
@FUZZ
@given(tlv_like())
def test_file_parsers_raise_only_card_errors(cases: Cases, data: bytes) -> None:
    cases()
    for parse in (
        files.parse_my_number,
        files.parse_basic_info,
        files.parse_integrity,
        files.parse_card_key,
        cvc.parse,
        files.basic_info_digest_input,
    ):
        try:
            parse(data)
        except CardError as exc:
            assert exc.code and exc.message


@pytest.fixture(scope="module")
def genuine(request: pytest.FixtureRequest) -> tuple[CardFiles, TrustStore]:
    from card_reader.softcard import CardState, DevCardIssuer, Profile, SoftCard

    tmp = request.getfixturevalue("tmp_path_factory").mktemp("fuzz")
    issuer = DevCardIssuer.load_or_create(tmp)
    app = TextApplication(
        InMemoryTransport(SoftCard.personalized(Profile.demo(), issuer, CardState.new()))
    )
    app.select()
    app.verify_pin(Profile.demo().pin)
    return app.read_card_files(b"challenge"), issuer.trust_store()


@pytest.mark.security("B03")
@FUZZ
@given(
    field=st.sampled_from(["ef0001", "ef0002", "ef0003", "ef0004", "ef0007", "presence_signature"]),
    at=st.integers(0, 600),
    xor=st.integers(1, 255),
    cut=st.booleans(),
)
def test_any_change_to_genuine_card_data_is_refused_cleanly(
    cases: Cases, genuine: tuple[CardFiles, TrustStore], field: str, at: int, xor: int, cut: bool
) -> None:
    cases()
    card, trust = genuine
    data = bytearray(getattr(card, field))
    if cut:
        data = data[: at % (len(data) + 1)]
    else:
        data[at % len(data)] ^= xor
    changed = dataclasses.replace(card, **{field: bytes(data)})
    if changed == card:
        return
    try:
        verify_card(changed, trust, expected_challenge=b"challenge")
    except CardError as exc:
        assert exc.code and exc.message
    else:
        # only bytes outside the signed data may change unnoticed: EF 0002's DF21 offsets or filler
        assert field == "ef0002"
        assert files.basic_info_digest_input(changed.ef0002) == files.basic_info_digest_input(
            card.ef0002
        )


class RandomCard:
    """A 'card' that answers with whatever hypothesis draws."""

    atr = b"\x3b\x00"

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.i = 0

    def execute(self, apdu: bytes) -> bytes:
        self.i += 1
        return self.answers[(self.i - 1) % len(self.answers)] if self.answers else b""


@pytest.mark.security("B02")
@FUZZ
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.sampled_from(
                [
                    b"\x90\x00",
                    b"\x63\xc2",
                    b"\x69\x84",
                    b"\x61\x10",
                    b"\x6c\x11",
                    b"\x69\x82",
                    b"\x6a\x82",
                    b"\x6b\x00",
                ]
            ),
            st.binary(max_size=260).map(lambda b: b + b"\x90\x00"),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_the_client_survives_any_card_answers(cases: Cases, answers: list[bytes]) -> None:
    cases()
    app = TextApplication(InMemoryTransport(RandomCard(answers)))
    try:
        app.select()
        app.pin_tries_left()
        app.verify_pin("1234")
        app.read_my_number()
        app.read_basic_info()
        app.read_card_files(b"c")
    except CardError as exc:
        assert exc.code and exc.message
    assert app.apdu_count < 500  # bounded: no endless GET RESPONSE or re-send loop
