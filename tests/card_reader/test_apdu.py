"""T=0 housekeeping and status words, against a scripted transport."""

from __future__ import annotations

import pytest

from card_reader.apdu import ApduChannel, command
from card_reader.errors import ApduError, ErrorCode, ProtocolError
from card_reader.transport import Transport


class Scripted(Transport):
    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)
        self.sent: list[bytes] = []

    @property
    def atr(self) -> bytes:
        return b"\x3b\x00"

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        return self.answers.pop(0)

    def close(self) -> None:
        pass


def test_61xx_is_collected_with_get_response() -> None:
    t = Scripted([bytes.fromhex("6110"), b"A" * 16 + bytes.fromhex("6104"), b"B" * 4 + b"\x90\x00"])
    resp = ApduChannel(t).send(command(0x80, 0x2A, 0x00, 0x00, b"x" * 51, le=256))
    assert resp.ok and resp.data == b"A" * 16 + b"B" * 4
    assert t.sent[1] == bytes.fromhex("00C0000010")
    assert t.sent[2] == bytes.fromhex("00C0000004")


def test_6cxx_resends_with_the_right_le() -> None:
    t = Scripted([bytes.fromhex("6C11"), b"N" * 17 + b"\x90\x00"])
    channel = ApduChannel(t)
    resp = channel.send(bytes.fromhex("00B0810000"))
    assert resp.data == b"N" * 17
    assert t.sent[1] == bytes.fromhex("00B0810011")
    assert channel.count == 2


def test_response_shorter_than_a_status_word_is_refused() -> None:
    with pytest.raises(ProtocolError) as err:
        ApduChannel(Scripted([b"\x90"])).send(bytes.fromhex("00A4040C"))
    assert err.value.code is ErrorCode.BAD_RESPONSE


def test_endless_61xx_is_bounded() -> None:
    t = Scripted([bytes.fromhex("6101")] + [b"x\x61\x01"] * 100)
    with pytest.raises(ProtocolError, match="never finished"):
        ApduChannel(t).send(bytes.fromhex("00B0000000"))


def test_check_raises_with_the_status_word() -> None:
    resp = ApduChannel(Scripted([bytes.fromhex("6A82")])).send(bytes.fromhex("00A4020C020001"))
    with pytest.raises(ApduError) as err:
        resp.check()
    assert err.value.sw == 0x6A82 and err.value.code is ErrorCode.STATUS


def test_command_encoding() -> None:
    assert command(0, 0xB0, 0x81, 0, le=256) == bytes.fromhex("00B0810000")
    assert command(0, 0x20, 0, 0x91) == bytes.fromhex("00200091")
    assert command(0, 0x20, 0, 0x91, b"1234") == bytes.fromhex("002000910431323334")
    with pytest.raises(ValueError):
        command(0, 0xB0, 0, 0, le=257)


def test_6cxx_to_a_get_response_resends_it_with_the_right_le() -> None:
    """A T=0 card with a smaller buffer than it announced corrects GET RESPONSE's Le too."""
    t = Scripted([bytes.fromhex("6120"), bytes.fromhex("6C10"), b"A" * 16 + bytes.fromhex("9000")])
    channel = ApduChannel(t)
    resp = channel.send(command(0x80, 0x2A, 0x00, 0x00, b"x" * 51, le=256))
    assert resp.ok and resp.data == b"A" * 16
    assert t.sent[1:] == [bytes.fromhex("00C0000020"), bytes.fromhex("00C0000010")]
    assert channel.count == 3
