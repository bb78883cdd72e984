"""The software My Number Card, driven with raw APDUs from the reference alone."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from card_reader import cvc, tlv
from card_reader.errors import ErrorCode, TransportError
from card_reader.softcard import (
    CardState,
    DevCardIssuer,
    FaultyCard,
    Profile,
    ProfileError,
    SoftCard,
)
from card_reader.softcard.issuer import root_key_id
from card_reader.transport import InMemoryTransport
from card_reader.trust import TrustStore

from .conftest import CardFactory

TEXT_AP = "D3921000310001010408"
JPKI_AP = "D392F000260100000001"
FACE_AP = "D3921000310001010402"
JUKI_AP = "D3921000310001010401"
SELECT_TEXT_AP = "00A4040C0A" + TEXT_AP
DIGEST_INFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
VERIFY_1234 = "002000910431323334"
VERIFY_9999 = "002000910439393939"
TRIES_QUERY = "00200091"  # no data: how many tries are left


def tx(card: SoftCard, apdu: str | bytes) -> tuple[bytes, int]:
    raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
    resp = card.execute(raw)
    assert len(resp) >= 2
    return resp[:-2], int.from_bytes(resp[-2:], "big")


def sw(card: SoftCard, apdu: str | bytes) -> int:
    return tx(card, apdu)[1]


def ok(card: SoftCard, apdu: str | bytes) -> bytes:
    data, status = tx(card, apdu)
    assert status == 0x9000, f"{apdu!r} answered {status:04X}"
    return data


def read_ef(card: SoftCard, fid: int, le: str = "00") -> bytes:
    ok(card, f"00A4020C02{fid:04X}")
    return ok(card, "00B00000" + le)


def read_whole(card: SoftCard, fid: int) -> bytes:
    """The whole EF, in short-APDU chunks of at most 256 bytes."""
    ok(card, f"00A4020C02{fid:04X}")
    out = b""
    while True:
        data, status = tx(card, f"00B0{len(out):04X}00")
        if status == 0x6B00:
            return out
        assert status == 0x9000
        out += data


@pytest.fixture
def verified(card: CardFactory) -> SoftCard:
    c = card()
    ok(c, SELECT_TEXT_AP)
    ok(c, VERIFY_1234)
    return c


# --- SELECT ------------------------------------------------------------------


def test_atr_is_the_contact_atr_openscs_jpki_driver_matches(card: CardFactory) -> None:
    assert card().atr == bytes.fromhex("3BE000FF8131FE4514")


@pytest.mark.parametrize("aid", [TEXT_AP, JPKI_AP, FACE_AP, JUKI_AP])
def test_the_four_applications_are_selectable(card: CardFactory, aid: str) -> None:
    assert sw(card(), "00A4040C0A" + aid) == 0x9000


@pytest.mark.parametrize(
    ("apdu", "status"),
    [
        ("00A4040C0AD3921000310001010409", 0x6A82),  # unknown AID
        ("00A4040C05D392100031", 0x6A82),  # no partial AID match
        ("00A4040C", 0x6700),  # no AID
        ("00A4040C11" + "00" * 17, 0x6700),  # longer than any AID
        ("00A4040C0BD3921000310001010408", 0x6700),  # Lc says 11, 10 follow
        ("00A40400" + "0A" + TEXT_AP, 0x6A86),  # P2 00 (FCI) is not offered
        ("00A4000C020001", 0x6A86),  # P1 00
        ("00A4080C020001", 0x6A86),  # select by path
    ],
)
def test_select_errors(card: CardFactory, apdu: str, status: int) -> None:
    assert sw(card(), apdu) == status


def test_select_ef(card: CardFactory) -> None:
    c = card()
    assert sw(c, "00A4020C020004") == 0x6A82  # no application selected yet
    ok(c, SELECT_TEXT_AP)
    for fid in (1, 2, 3, 4, 5, 7, 0x11, 0x13):
        assert sw(c, f"00A4020C02{fid:04X}") == 0x9000
    assert sw(c, "00A4020C020006") == 0x6A82
    assert sw(c, "00A4020C0100") == 0x6700
    assert sw(c, "00A4020C03000400") == 0x6700


def test_other_applications_have_no_text_ap_files(card: CardFactory) -> None:
    c = card()
    for aid in (JPKI_AP, FACE_AP, JUKI_AP):
        ok(c, "00A4040C0A" + aid)
        assert sw(c, "00A4020C020001") == 0x6A82
        assert sw(c, "00B0810000") == 0x6A82
        assert sw(c, TRIES_QUERY) == 0x6A88  # no PIN 0011 here


def test_jpki_ap_token_info(card: CardFactory) -> None:
    c = card()
    ok(c, "00A4040C0A" + JPKI_AP)
    assert read_ef(c, 0x0006).rstrip(b" ") == b"JPKIAPICCTOKEN2"


def test_failed_select_keeps_the_selection_and_the_pin(verified: SoftCard) -> None:
    assert sw(verified, "00A4040C0AD3921000310001010409") == 0x6A82
    assert len(ok(verified, "00B0810000")) == 17


# --- PIN ---------------------------------------------------------------------


def test_tries_query_spends_nothing(card: CardFactory) -> None:
    c = card()
    ok(c, SELECT_TEXT_AP)
    for _ in range(5):
        assert sw(c, TRIES_QUERY) == 0x63C3
    assert sw(c, VERIFY_1234) == 0x9000
    assert sw(c, TRIES_QUERY) == 0x63C3  # the query always answers 63 Cx


def test_verify_by_current_ef_needs_the_pin_ef(card: CardFactory) -> None:
    c = card()
    ok(c, SELECT_TEXT_AP)
    assert sw(c, "0020008004" + "31323334") == 0x6A88  # no current EF
    ok(c, "00A4020C020004")
    assert sw(c, "0020008004" + "31323334") == 0x6A88  # current EF is not a PIN
    ok(c, "00A4020C020011")
    assert sw(c, "00200080") == 0x63C3
    assert sw(c, "0020008004" + "31323334") == 0x9000


@pytest.mark.parametrize(
    ("apdu", "status"),
    [
        ("00200191", 0x6A86),  # P1 must be 00
        ("00200011", 0x6A86),  # P2 neither 80 nor 80|SFI
        ("0020009F", 0x6A86),
        ("00200084", 0x6A88),  # SFI 04 is no PIN
        ("00200093", 0x6A88),  # nor is the key 0013
    ],
)
def test_verify_reference_errors(card: CardFactory, apdu: str, status: int) -> None:
    c = card()
    ok(c, SELECT_TEXT_AP)
    assert sw(c, apdu) == status
    assert sw(c, TRIES_QUERY) == 0x63C3


def test_wrong_then_right_pin_resets_the_counter(card: CardFactory) -> None:
    c = card()
    ok(c, SELECT_TEXT_AP)
    assert sw(c, VERIFY_9999) == 0x63C2
    assert sw(c, VERIFY_9999) == 0x63C1
    assert sw(c, VERIFY_1234) == 0x9000
    assert sw(c, TRIES_QUERY) == 0x63C3


@pytest.mark.parametrize("data", ["313233", "3132333435", "31", "3132333400"])
def test_malformed_pin_costs_a_try(card: CardFactory, data: str) -> None:
    c = card()
    ok(c, SELECT_TEXT_AP)
    assert sw(c, f"00200091{len(data) // 2:02X}{data}") == 0x63C2
    assert sw(c, TRIES_QUERY) == 0x63C2


def test_wrong_pin_drops_an_earlier_verification(verified: SoftCard) -> None:
    assert sw(verified, VERIFY_9999) == 0x63C2
    assert sw(verified, "00B0810000") == 0x6982


@pytest.mark.measure("M30")
def test_three_wrong_pins_lock_even_the_right_one(card: CardFactory) -> None:
    c = card()
    ok(c, SELECT_TEXT_AP)
    assert [sw(c, VERIFY_9999) for _ in range(3)] == [0x63C2, 0x63C1, 0x63C0]
    assert sw(c, VERIFY_1234) == 0x6984
    assert sw(c, TRIES_QUERY) == 0x6984
    assert sw(c, VERIFY_9999) == 0x6984
    assert sw(c, "00200091" + "03313233") == 0x6984
    assert sw(c, "00B0810000") == 0x6982  # and nothing protected can be read


@pytest.mark.measure("M30")
def test_a_locked_pin_stays_locked_across_a_restart(card: CardFactory, tmp_path: Path) -> None:
    state = tmp_path / "cards" / "state.json"
    c = card(state_path=state)
    ok(c, SELECT_TEXT_AP)
    for _ in range(3):
        sw(c, VERIFY_9999)
    again = card(state_path=state)  # a new process: only the state file carries over
    ok(again, SELECT_TEXT_AP)
    assert sw(again, TRIES_QUERY) == 0x6984
    assert sw(again, VERIFY_1234) == 0x6984


def test_every_spent_try_is_persisted_at_once(card: CardFactory, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    c = card(state_path=state)
    ok(c, SELECT_TEXT_AP)
    sw(c, VERIFY_9999)
    assert json.loads(state.read_text())["pin_tries_left"] == 2
    restarted = card(state_path=state)
    ok(restarted, SELECT_TEXT_AP)
    assert sw(restarted, TRIES_QUERY) == 0x63C2
    ok(restarted, VERIFY_1234)
    assert json.loads(state.read_text())["pin_tries_left"] == 3


def test_state_file_is_private_and_keeps_the_card_key(card: CardFactory, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = card(state_path=state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    ok(first, SELECT_TEXT_AP)
    ok(first, VERIFY_1234)
    ef7 = read_ef(first, 7)
    second = card(state_path=state)
    ok(second, SELECT_TEXT_AP)
    ok(second, VERIFY_1234)
    assert read_ef(second, 7) == ef7  # the same card key 0013 after a restart
    assert not list(tmp_path.glob(".state.json.*"))  # no temp files left behind


# --- security status -----------------------------------------------------------


@pytest.mark.measure("M01")
@pytest.mark.parametrize("fid", [1, 2, 3, 7])
def test_protected_files_need_the_pin(card: CardFactory, fid: int) -> None:
    c = card()
    ok(c, SELECT_TEXT_AP)
    assert sw(c, f"00B0{0x80 | fid:02X}0000") == 0x6982
    ok(c, f"00A4020C02{fid:04X}")
    assert sw(c, "00B0000000") == 0x6982
    assert sw(c, "00B0000101") == 0x6982
    ok(c, VERIFY_1234)
    assert sw(c, "00B0000000") == 0x9000


@pytest.mark.measure("M01")
def test_a_wrong_pin_opens_nothing(card: CardFactory) -> None:
    c = card()
    ok(c, SELECT_TEXT_AP)
    assert sw(c, VERIFY_9999) == 0x63C2
    for fid in (1, 2, 3, 7):
        assert sw(c, f"00B0{0x80 | fid:02X}0000") == 0x6982


def test_free_files_need_no_pin(card: CardFactory) -> None:
    c = card()
    ok(c, SELECT_TEXT_AP)
    assert len(read_whole(c, 4)) == 568
    assert read_ef(c, 5) == bytes.fromhex("FF4005DF41020001")  # our application info


def test_selecting_another_application_clears_the_pin(verified: SoftCard) -> None:
    ok(verified, "00A4040C0A" + JPKI_AP)
    ok(verified, SELECT_TEXT_AP)
    assert sw(verified, "00B0810000") == 0x6982


def test_reselecting_the_same_application_keeps_the_pin(verified: SoftCard) -> None:
    ok(verified, SELECT_TEXT_AP)
    ok(verified, "00A4020C020001")
    assert len(ok(verified, "00B0000000")) == 17


@pytest.mark.parametrize("how", ["reset", "power"])
def test_reset_and_power_cycle_clear_the_session(verified: SoftCard, how: str) -> None:
    if how == "reset":
        assert verified.reset() == verified.atr
    else:
        verified.power_off()
        with pytest.raises(RuntimeError):
            verified.execute(bytes.fromhex(SELECT_TEXT_AP))
        verified.power_on()
    assert sw(verified, "00B0810000") == 0x6A82  # no application selected
    ok(verified, SELECT_TEXT_AP)
    assert sw(verified, "00B0810000") == 0x6982


# --- READ BINARY ---------------------------------------------------------------


def test_read_my_number(verified: SoftCard, profile: Profile) -> None:
    ef1 = read_ef(verified, 1)
    assert ef1 == b"\xff\x10\x0c" + profile.my_number.encode() + b"\xff\xff"
    assert len(ef1) == 17


@pytest.mark.parametrize(("variant", "header"), [("short", "FF2062"), ("long", "FF20820062")])
def test_basic_info_layouts(card: CardFactory, profile: Profile, variant: str, header: str) -> None:
    c = card(variant=variant)
    ok(c, SELECT_TEXT_AP)
    ok(c, VERIFY_1234)
    ef2 = read_whole(c, 2)
    assert len(ef2) == 512
    assert ef2.hex().upper().startswith(header)
    outer = tlv.parse_one(ef2)
    assert set(ef2[outer.end :]) == {0xFF}  # filler to the end of the file
    offsets_tlv = tlv.parse_one(ef2, len(header) // 2)
    assert offsets_tlv.tag == 0xDF21 and len(offsets_tlv.value) == 8
    values = []
    for i, tag in enumerate((0xDF22, 0xDF23, 0xDF24, 0xDF25)):
        at = int.from_bytes(offsets_tlv.value[2 * i : 2 * i + 2], "big")
        part = tlv.parse_one(ef2, at)
        assert part.tag == tag
        values.append(part.value)
    assert values == [
        profile.name.encode(),
        profile.address.encode(),
        profile.birth_date.encode(),
        profile.sex.encode(),
    ]
    assert "\u3000" in profile.name and "２" in profile.address


def test_short_variant_switches_to_81_when_the_value_grows(card: CardFactory) -> None:
    long_address = "愛媛県新居浜市見本町一丁目２番３号" + "見本" * 10
    c = card(dataclasses.replace(Profile.demo(), address=long_address))
    ok(c, SELECT_TEXT_AP)
    ok(c, VERIFY_1234)
    ef2 = read_whole(c, 2)
    assert ef2[:3] == b"\xff\x20\x81"
    offsets = tlv.parse_one(ef2, 4)
    assert offsets.tag == 0xDF21
    assert tlv.parse_one(ef2, int.from_bytes(offsets.value[2:4], "big")).value.decode() == (
        long_address
    )


def test_integrity_record(verified: SoftCard, issuer: DevCardIssuer) -> None:
    ef1, ef2, ef3 = read_ef(verified, 1), read_whole(verified, 2), read_whole(verified, 3)
    assert len(ef3) == 336 and ef3[:5] == bytes.fromhex("FF3082014B")
    parts = tlv.children(tlv.parse_one(ef3).value)
    assert parts[0xDF31].raw[:3] == b"\xdf\x31\x20"
    assert parts[0xDF31].value == hashlib.sha256(ef1).digest()
    outer = tlv.parse_one(ef2)
    df21 = tlv.parse_one(outer.value)
    assert parts[0xDF32].value == hashlib.sha256(outer.value[df21.end :]).digest()
    assert parts[0xDF33].raw[:5] == bytes.fromhex("DF33820100")
    signer = cvc.parse(read_whole(verified, 4)).public_key
    signer.verify(
        parts[0xDF33].value,
        parts[0xDF31].raw + parts[0xDF32].raw,
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    assert signer.public_numbers() == issuer.signer_key.public_key().public_numbers()


def test_certificate_chains_to_the_trust_store_only(
    verified: SoftCard, issuer: DevCardIssuer
) -> None:
    ef4 = read_whole(verified, 4)
    assert len(ef4) == 568 and ef4[:5] == bytes.fromhex("7F21820233")
    cert = cvc.parse(ef4)
    assert len(cert.body) == 297 and cert.body[32:37] == bytes.fromhex("9003010001")
    assert issuer.directory is not None
    store = TrustStore.load(issuer.directory / "trust-store.json")
    assert store.key_ids() == [cert.certifier_key_id]
    assert cert.certifier_key_id.rstrip(b"\x00").decode().startswith("6000")
    assert len(cert.certifier_key_id.rstrip(b"\x00")) == 7
    root = store.get(cert.certifier_key_id)
    assert root is not None
    root.verify(cert.signature, cert.body, padding.PKCS1v15(), hashes.SHA256())
    assert cert.subject_key_id == issuer.subject_key_id


def test_card_key_record_and_presence_signature(verified: SoftCard) -> None:
    ef7 = read_whole(verified, 7)
    assert ef7[:2] == b"\xff\x50" and ef7[2] == 0x82
    parts = tlv.children(tlv.parse_one(ef7).value)
    assert parts[0xDF51].raw[:5] == bytes.fromhex("DF51820109")
    assert parts[0xDF52].raw[:5] == bytes.fromhex("DF52820100")
    signer = cvc.parse(read_whole(verified, 4)).public_key
    # signed with EF 0003's DF31 and DF32: the card key belongs to this holder's data
    digests = tlv.children(tlv.parse_one(read_whole(verified, 3)).value)
    signed = parts[0xDF51].raw + digests[0xDF31].raw + digests[0xDF32].raw
    signer.verify(parts[0xDF52].value, signed, padding.PKCS1v15(), hashes.SHA256())
    card_key = cvc.parse_rsa_public(parts[0xDF51].value)

    challenge = b"fresh challenge from the center"
    digest_info = DIGEST_INFO_PREFIX + hashlib.sha256(challenge).digest()
    signature = ok(verified, bytes.fromhex("802A000033") + digest_info + b"\x00")
    assert len(signature) == 256
    card_key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())


def test_presence_signature_needs_no_pin_but_the_text_ap(card: CardFactory) -> None:
    c = card()
    apdu = bytes.fromhex("802A000033") + DIGEST_INFO_PREFIX + bytes(32) + b"\x00"
    assert sw(c, apdu) == 0x6A82  # nothing selected
    ok(c, "00A4040C0A" + JPKI_AP)
    assert sw(c, apdu) == 0x6A82  # key 0013 is not in the JPKI-AP
    ok(c, SELECT_TEXT_AP)
    assert len(ok(c, apdu)) == 256
    assert len(ok(c, apdu[:-1])) == 256  # Le absent: still answered (T=1)
    assert sw(c, apdu[:-1] + b"\x80") == 0x6C00  # Le too small: "re-send with 00"
    assert sw(c, bytes.fromhex("802A000032") + bytes(50) + b"\x00") == 0x6700
    assert sw(c, bytes.fromhex("802A000034") + bytes(52) + b"\x00") == 0x6700
    assert sw(c, bytes.fromhex("802A008033") + bytes(51) + b"\x00") == 0x6A86


def test_signing_pads_whatever_digest_info_it_gets(
    card: CardFactory, card_key: rsa.RSAPrivateKey
) -> None:
    c = card()
    ok(c, SELECT_TEXT_AP)
    block = bytes(range(51))
    signature = ok(c, bytes.fromhex("802A000033") + block + b"\x00")
    pub = card_key.public_key().public_numbers()
    recovered = pow(int.from_bytes(signature, "big"), pub.e, pub.n).to_bytes(256, "big")
    assert recovered == b"\x00\x01" + b"\xff" * 202 + b"\x00" + block


def test_sfi_read_makes_the_ef_current(verified: SoftCard) -> None:
    head = ok(verified, "00B0840004")  # EF 0004 by SFI, 4 bytes
    assert head == bytes.fromhex("7F218202")
    rest = ok(verified, "00B0000400")  # continue in the current EF
    assert rest[:1] == b"\x33" and len(rest) == 256
    assert ok(verified, "00B0821000") == read_whole(verified, 2)[0x10 : 0x10 + 256]


def test_le_larger_than_the_rest_returns_the_rest(verified: SoftCard) -> None:
    assert len(ok(verified, "00B0810000")) == 17
    assert ok(verified, "00B0000FFF") == b"\xff\xff"
    assert ok(verified, "00B0001001") == b"\xff"
    assert len(read_ef(verified, 4, "00")) == 256  # Le 00 is 256
    assert len(ok(verified, "00B0020000")) == 568 - 512


def test_offset_at_or_past_the_end(verified: SoftCard) -> None:
    ok(verified, "00A4020C020001")
    assert sw(verified, "00B0001100") == 0x6B00
    assert sw(verified, "00B07FFF01") == 0x6B00
    assert sw(verified, "00B0811100") == 0x6B00  # SFI with P2 offset 17


def test_extended_le_reads_a_whole_file(verified: SoftCard) -> None:
    ok(verified, "00A4020C020004")
    assert len(ok(verified, "00B00000000000")) == 568
    assert len(ok(verified, "00B0000000FFFF")) == 568


@pytest.mark.parametrize(
    ("apdu", "status"),
    [
        ("00B00000", 0x6700),  # no Le
        ("00B000000100", 0x6700),  # data in READ BINARY
        ("00B0A10000", 0x6A86),  # SFI with stray P1 bits
        ("00B0800000", 0x6A86),  # SFI 0
        ("00B0860000", 0x6A82),  # no EF 0006 here
        ("00B0910000", 0x6981),  # the PIN is not a binary file
        ("00B0930000", 0x6981),  # nor is the key
    ],
)
def test_read_binary_errors(verified: SoftCard, apdu: str, status: int) -> None:
    assert sw(verified, apdu) == status


def test_read_binary_without_a_current_ef(card: CardFactory) -> None:
    c = card()
    assert sw(c, "00B0000000") == 0x6986
    ok(c, SELECT_TEXT_AP)
    assert sw(c, "00B0000000") == 0x6986


# --- class, instruction, malformed -------------------------------------------------


@pytest.mark.parametrize(
    ("apdu", "status"),
    [
        ("00CA000000", 0x6D00),  # GET DATA: not offered
        ("00C0000000", 0x6D00),  # GET RESPONSE: never needed, answers are whole
        ("0084000008", 0x6D00),
        ("80B0810000", 0x6E00),  # READ BINARY is CLA 00
        ("002A000033" + "00" * 52, 0x6E00),  # the signature is CLA 80
        ("A0A4040C0A" + TEXT_AP, 0x6E00),
        ("FFA4040C0A" + TEXT_AP, 0x6E00),
        ("0CA4040C0A" + TEXT_AP, 0x6E00),  # secure messaging
        ("10A4040C0A" + TEXT_AP, 0x6E00),  # command chaining
        ("01A4040C0A" + TEXT_AP, 0x6881),
        ("02A4040C0A" + TEXT_AP, 0x6881),
        ("03B0810000", 0x6881),
        ("812A000033" + "00" * 52, 0x6881),
        ("40A4040C0A" + TEXT_AP, 0x6881),  # further interindustry: channels 4-19
        ("00A4", 0x6700),
        ("", 0x6700),
        ("00A4040C0A" + TEXT_AP[:-2], 0x6700),  # one byte short
    ],
)
def test_class_instruction_and_length(card: CardFactory, apdu: str, status: int) -> None:
    assert sw(card(), apdu) == status


# --- profile, state and issuer ---------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("my_number", "123456789012", "check digit"),
        ("my_number", "12345678901", "12 ASCII digits"),
        ("my_number", "１２３４５６７８９０１８", "12 ASCII digits"),
        ("birth_date", "19800231", "real date"),
        ("birth_date", "1980-4-1", "YYYYMMDD"),
        ("sex", "3", "sex"),
        ("pin", "12345", "4 ASCII digits"),
        ("pin", "12a4", "4 ASCII digits"),
        ("variant", "medium", "variant"),
        ("name", " ", "empty"),
        ("address", "あ" * 200, "EF 0002 holds"),
        ("name", 5, "string"),
    ],
)
def test_profile_validation(field: str, value: object, message: str) -> None:
    data = {**Profile.demo().__dict__, field: value}
    with pytest.raises(ProfileError, match=message) as info:
        Profile(**data)
    if field in ("my_number", "pin"):
        assert str(value) not in str(info.value)  # errors never echo personal data


def test_profile_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "holder.json"
    demo = Profile.demo("long")
    demo.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Profile.load(path) == demo
    assert "見本" in path.read_text(encoding="utf-8")  # readable for the tester who edits it
    path.write_text("{")
    with pytest.raises(ProfileError, match="not JSON"):
        Profile.load(path)
    path.write_text(json.dumps({**demo.__dict__, "nickname": "x"}))
    with pytest.raises(ProfileError, match="unknown profile fields: nickname"):
        Profile.load(path)
    path.write_text(json.dumps({"my_number": demo.my_number}))
    with pytest.raises(ProfileError, match="needs"):
        Profile.load(path)


def test_demo_holder_is_a_synthetic_niihama_resident() -> None:
    demo = Profile.demo()
    assert demo.address.startswith("愛媛県新居浜市")
    assert "見本" in demo.name and demo.variant == "short"


def test_broken_state_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"pin_tries_left": 3}')
    with pytest.raises(ProfileError, match="not a software-card state file"):
        CardState.load(path)


def test_from_files_uses_the_demo_holder_and_creates_the_state(
    issuer: DevCardIssuer, tmp_path: Path
) -> None:
    state = tmp_path / "cards" / "demo-state.json"
    c = SoftCard.from_files(None, state, issuer)
    assert state.exists()
    ok(c, SELECT_TEXT_AP)
    ok(c, VERIFY_1234)
    assert read_ef(c, 1)[3:15] == Profile.demo().my_number.encode()


def test_issuer_is_created_once_and_kept_private(issuer: DevCardIssuer) -> None:
    directory = issuer.directory
    assert directory is not None
    for name in ("root-ca.key.pem", "document-signer.key.pem"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    again = DevCardIssuer.load_or_create(directory)
    assert again.certifier_key_id == issuer.certifier_key_id
    assert again.certificate() == issuer.certificate()
    store = json.loads((directory / "trust-store.json").read_text())
    assert len(store["card_issuer_keys"]) == 1
    assert "PRIVATE" not in (directory / "trust-store.json").read_text()
    pem = store["card_issuer_keys"][0]["public_key_pem"].encode()
    root = serialization.load_pem_public_key(pem)
    assert isinstance(root, rsa.RSAPublicKey)
    assert root_key_id(root) == issuer.certifier_key_id


# --- faults ----------------------------------------------------------------------


def test_removal_at_the_nth_apdu(card: CardFactory) -> None:
    faulty = FaultyCard(card(), remove_at=2)
    assert faulty.execute(bytes.fromhex(SELECT_TEXT_AP))[-2:] == b"\x90\x00"
    for _ in range(2):
        with pytest.raises(ConnectionAbortedError, match="card removed"):
            faulty.execute(bytes.fromhex(TRIES_QUERY))
    transport = InMemoryTransport(FaultyCard(card(), remove_at=1))
    with pytest.raises(TransportError) as info:
        transport.transmit(bytes.fromhex(SELECT_TEXT_AP))
    assert info.value.code is ErrorCode.CARD_REMOVED


def test_garbage_and_delay(card: CardFactory) -> None:
    faulty = FaultyCard(card(), garbage_at=2, delay=0.02)
    assert faulty.execute(bytes.fromhex(SELECT_TEXT_AP)) == b"\x90\x00"
    assert faulty.execute(bytes.fromhex(TRIES_QUERY)) == b"\x90"  # a truncated SW
    start = time.monotonic()
    assert faulty.execute(bytes.fromhex(TRIES_QUERY)) == b"\x63\xc3"
    assert time.monotonic() - start >= 0.02
    assert faulty.atr == faulty.card.atr


def test_fast_and_raw_signing_give_the_same_signature(card: CardFactory) -> None:
    """The SHA-256 fast path (OpenSSL) must sign exactly what the card's raw RSA would."""
    import hashlib

    from card_reader.softcard.card import SHA256_DIGEST_INFO_PREFIX, _rsa_sign_raw

    c = card()
    digest_info = SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(b"challenge").digest()
    assert c.execute(bytes.fromhex("00A4040C0AD3921000310001010408")) == b"\x90\x00"
    fast = c.execute(bytes.fromhex("802A000033") + digest_info + b"\x00")
    block = b"\x00\x01" + b"\xff" * (256 - 3 - len(digest_info)) + b"\x00" + digest_info
    assert fast[-2:] == b"\x90\x00"
    assert fast[:-2] == _rsa_sign_raw(c._key, block)
