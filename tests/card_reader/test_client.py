"""The 券面事項入力補助AP client against the software card, in memory."""

from __future__ import annotations

from datetime import date

import pytest

from card_reader import InMemoryTransport, TextApplication
from card_reader.errors import ErrorCode, PinError, ProtocolError, TransportError
from card_reader.softcard import FaultyCard, Profile

from .conftest import CardFactory


def app_for(card: object) -> TextApplication:
    app = TextApplication(InMemoryTransport(card))  # type: ignore[arg-type]
    app.select()
    return app


@pytest.mark.parametrize("variant", ["short", "long"])
def test_reads_the_four_facts_of_both_card_variants(card: CardFactory, variant: str) -> None:
    holder = Profile.demo()
    app = app_for(card(variant=variant))
    app.verify_pin(holder.pin)
    info = app.read_basic_info()
    assert info.name == holder.name
    assert info.address == holder.address
    assert info.birth_date == date(
        int(holder.birth_date[:4]), int(holder.birth_date[4:6]), int(holder.birth_date[6:])
    )
    assert info.sex == holder.sex
    assert app.read_my_number() == holder.my_number


def test_a_long_address_spans_several_chunks(card: CardFactory) -> None:
    holder = Profile(
        **{**Profile.demo().__dict__, "address": "愛媛県新居浜市" + "見本町一丁目" * 12}
    )
    app = app_for(card(holder, variant="long"))
    app.verify_pin(holder.pin)
    assert app.read_basic_info().address == holder.address


def test_tries_query_spends_no_try(card: CardFactory) -> None:
    app = app_for(card())
    assert [app.pin_tries_left() for _ in range(5)] == [3] * 5


@pytest.mark.parametrize("bad", ["123", "12345", "12a4", "１２３４", " 1234", "", None, 1234])
def test_malformed_pin_is_refused_before_anything_is_sent(card: CardFactory, bad: object) -> None:
    app = app_for(card())
    sent = app.apdu_count
    with pytest.raises(PinError) as err:
        app.verify_pin(bad)  # type: ignore[arg-type]
    assert err.value.code is ErrorCode.INVALID_PIN_FORMAT
    assert app.apdu_count == sent
    assert app.pin_tries_left() == 3


@pytest.mark.measure("M30")
def test_wrong_pins_count_down_then_lock(card: CardFactory) -> None:
    app = app_for(card())
    for left in (2, 1):
        with pytest.raises(PinError) as err:
            app.verify_pin("0000")
        assert (err.value.code, err.value.tries_left) == (ErrorCode.WRONG_PIN, left)
        assert err.value.message == {2: "wrong PIN; 2 tries left", 1: "wrong PIN; 1 try left"}[left]
    with pytest.raises(PinError) as err:
        app.verify_pin("0000")
    assert (err.value.code, err.value.tries_left) == (ErrorCode.PIN_BLOCKED, 0)
    with pytest.raises(PinError) as err:
        app.verify_pin(Profile.demo().pin)
    assert err.value.code is ErrorCode.PIN_BLOCKED
    assert "municipal window" in err.value.message
    assert app.pin_tries_left() == 0


def test_right_pin_resets_the_counter(card: CardFactory) -> None:
    app = app_for(card())
    with pytest.raises(PinError):
        app.verify_pin("0000")
    app.verify_pin(Profile.demo().pin)
    assert app.pin_tries_left() == 3


@pytest.mark.measure("M01")
@pytest.mark.parametrize("read", ["read_my_number", "read_basic_info"])
def test_my_number_and_facts_need_the_pin(card: CardFactory, read: str) -> None:
    app = app_for(card())
    with pytest.raises(PinError) as err:
        getattr(app, read)()
    assert err.value.code is ErrorCode.PIN_REQUIRED


def test_read_card_files_gives_every_file_whole(card: CardFactory) -> None:
    app = app_for(card())
    app.verify_pin(Profile.demo().pin)
    files = app.read_card_files(b"challenge")
    assert len(files.ef0001) == 17
    assert len(files.ef0003) == 336
    assert len(files.ef0004) == 568
    assert files.presence_signature is not None and len(files.presence_signature) == 256
    # the personal data never shows in a repr that might be logged
    assert Profile.demo().my_number not in repr(files) and "見本" not in repr(files)


def test_not_a_mynumber_card() -> None:
    class OtherCard:
        atr = bytes.fromhex("3B00")

        def execute(self, apdu: bytes) -> bytes:
            return bytes.fromhex("6A82")

    with pytest.raises(ProtocolError) as err:
        TextApplication(InMemoryTransport(OtherCard())).select()
    assert err.value.code is ErrorCode.NOT_MYNUMBER_CARD


def test_card_removed_mid_read(card: CardFactory) -> None:
    app = app_for(FaultyCard(card(), remove_at=4))
    app.verify_pin(Profile.demo().pin)  # APDUs 2 and 3
    with pytest.raises(TransportError) as err:
        app.read_card_files()
    assert err.value.code is ErrorCode.CARD_REMOVED


def test_garbage_answer_is_a_clear_protocol_error(card: CardFactory) -> None:
    app = app_for(FaultyCard(card(), garbage_at=2))
    with pytest.raises(ProtocolError) as err:
        app.pin_tries_left()
    assert err.value.code is ErrorCode.BAD_RESPONSE


# --- T=0 answers (softcard/t0.py) and a card reset by another program (FaultyCard(reset_at=))


def test_a_t0_card_is_read_whole_with_get_response_and_6cxx(card: CardFactory) -> None:
    holder = Profile.demo()
    plain = app_for(card())
    plain.verify_pin(holder.pin)
    t0 = FaultyCard(card(), t0=True)
    assert t0.atr == bytes.fromhex("3B00")
    app = app_for(t0)
    app.verify_pin(holder.pin)
    challenge = b"c" * 32
    got, want = app.read_card_files(challenge), plain.read_card_files(challenge)
    assert got == want  # the RSA signatures are deterministic (PKCS#1 v1.5)
    # EF 0001 (17 bytes, asked for 256): 6C 11 and again; the signature: 61 00 + GET RESPONSE
    # (the other files are read in chunks the TLV header sizes exactly: no 6C)
    assert app.apdu_count == plain.apdu_count + 2


def test_a_reset_before_the_pin_is_taken_up_again(card: CardFactory) -> None:
    faulty = FaultyCard(card(), reset_at=2)  # SELECT, then the tries-left query meets the reset
    app = app_for(faulty)
    assert app.pin_tries_left() == 3
    assert faulty.count == 4  # the refused query, SELECT again, the query again
    app.verify_pin(Profile.demo().pin)
    assert app.read_my_number() == Profile.demo().my_number


@pytest.mark.parametrize("at", [3, 4, 9], ids=["verify", "first-read", "last-read"])
def test_a_reset_from_the_pin_on_ends_the_read_and_spends_no_try(
    card: CardFactory, at: int
) -> None:
    soft = card()
    app = app_for(FaultyCard(soft, reset_at=at))
    assert app.pin_tries_left() == 3
    with pytest.raises(TransportError) as err:
        app.verify_pin(Profile.demo().pin)
        app.read_card_files(b"c" * 32)
    assert err.value.code is ErrorCode.CARD_RESET
    assert not app.pin_verified
    # the PIN was not sent again on its own, and the try it took (if any) was the right PIN
    assert app_for(soft).pin_tries_left() == 3


def test_a_pin_the_card_forgot_is_never_taken_for_a_wrong_one(card: CardFactory) -> None:
    """Another program sharing the card selected another application and came back: the
    card forgot the PIN without any reset the reader could report."""
    soft = card()
    app = app_for(soft)
    app.verify_pin(Profile.demo().pin)
    other = TextApplication(InMemoryTransport(soft))
    other.channel.send(bytes.fromhex("00A4040C0AD392F000260100000001"))  # the JPKI-AP
    other.select()
    with pytest.raises(TransportError) as err:
        app.read_my_number()
    assert err.value.code is ErrorCode.CARD_RESET
