"""Reader names pcscd's vpcd cannot give: non-ASCII ones, and one that is not UTF-8.

pcscd takes reader names from its drivers (vpcd's is "Virtual PCD" in
/etc/reader.conf.d/vpcd, which a test must not change on a shared pcscd), so these
tests put a fake pyscard ``scard`` layer under ``card_reader.pcsc``, with the
software card behind it. The same code on the real path (pcscd + vpcd, two slots)
is tested in test_pcsc.py; this only varies the names.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from smartcard import scard as real_scard

from card_reader import cli, pcsc
from card_reader.errors import ErrorCode, TransportError
from card_reader.softcard import SoftCard
from serving.logs import setup_logging

from .conftest import CardFactory

# a Japanese dual-interface reader (one device, two slots), and a French one whose driver
# spells "é" decomposed (e + U+0301), as a person never types it
FELICA = "ソニー FeliCa ポート／パソリ 00"
OK: int = real_scard.SCARD_S_SUCCESS
CONTACT, CONTACTLESS = f"{FELICA} 00", f"{FELICA} 01"
FRENCH = "Lecteur de carte à puce Cafe\u0301 01 00"


class FakeScard:
    """pyscard's ``scard`` functions over named slots, each empty or with a software card."""

    def __init__(self, slots: dict[str, SoftCard | None]) -> None:
        self.slots = slots
        self.handles: dict[int, str] = {}
        self.bad_name = False  # SCardListReaders fails as pyscard does on a non-UTF-8 name

    def __getattr__(self, name: str) -> Any:
        return getattr(real_scard, name)  # the constants

    def SCardEstablishContext(self, scope: int) -> tuple[int, int]:
        return real_scard.SCARD_S_SUCCESS, 1

    def SCardReleaseContext(self, ctx: int) -> int:
        return OK

    def SCardListReaders(self, ctx: int, groups: list[str]) -> tuple[int, list[str]]:
        if self.bad_name:
            b"Lecteur \xe0 puce 00 00".decode()  # raises UnicodeDecodeError, as pyscard does
        return real_scard.SCARD_S_SUCCESS, list(self.slots)

    def SCardGetStatusChange(
        self, ctx: int, timeout: int, states: list[tuple[str, int]]
    ) -> tuple[int, list[tuple[str, int, list[int]]]]:
        out = []
        for name, _known in states:
            card = self.slots[name]
            state = real_scard.SCARD_STATE_PRESENT if card else real_scard.SCARD_STATE_EMPTY
            out.append((name, state, list(card.atr) if card else []))
        return real_scard.SCARD_S_SUCCESS, out

    def SCardConnect(self, ctx: int, name: str, mode: int, protocols: int) -> tuple[int, int, int]:
        card = self.slots[name]
        assert card is not None
        card.power_on()
        handle = len(self.handles) + 100
        self.handles[handle] = name
        return real_scard.SCARD_S_SUCCESS, handle, real_scard.SCARD_PROTOCOL_T1

    def SCardStatus(self, handle: int) -> tuple[int, str, int, int, list[int]]:
        card = self.slots[self.handles[handle]]
        assert card is not None
        name = self.handles[handle]
        return real_scard.SCARD_S_SUCCESS, name, 0, real_scard.SCARD_PROTOCOL_T1, list(card.atr)

    def SCardTransmit(self, handle: int, proto: int, apdu: list[int]) -> tuple[int, list[int]]:
        card = self.slots[self.handles[handle]]
        assert card is not None
        return real_scard.SCARD_S_SUCCESS, list(card.execute(bytes(apdu)))

    def SCardDisconnect(self, handle: int, disposition: int) -> int:
        return OK


@pytest.fixture
def fake(card: CardFactory, monkeypatch: pytest.MonkeyPatch) -> FakeScard:
    layer = FakeScard({CONTACT: card(), CONTACTLESS: card(), FRENCH: None})
    monkeypatch.setattr(pcsc, "scard", layer)
    return layer


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["card", *argv])
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_listing_keeps_the_names_and_groups_a_dual_readers_slots(
    fake: FakeScard, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "readers", "--json")
    assert code == 0
    assert FELICA in out  # JSON written as UTF-8 text, not \\u escapes
    readers = json.loads(out)["readers"]
    assert [(r["name"], r["device"], r["slot"]) for r in readers] == [
        (CONTACT, FELICA, 0),
        (CONTACTLESS, FELICA, 1),
        (FRENCH, "Lecteur de carte à puce Cafe\u0301 01", 0),
    ]
    code, out, _ = run_cli(capsys, "readers")
    lines = out.splitlines()
    assert lines[0].startswith(f"{CONTACT}: 3B E0")
    # the same card profile in both slots: said, since pcscd cannot tell one card from two
    assert lines[1].endswith("(same ATR as slot 0: one card seen twice, or two alike)")
    assert lines[2] == f"{FRENCH}: (no card)"


def test_reader_is_matched_whole_or_in_part_whatever_the_unicode_form(
    fake: FakeScard, card: CardFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.slots[FRENCH] = card()
    for wanted, found in (
        (CONTACTLESS, CONTACTLESS),  # the whole name: that slot, though both hold the card
        ("パソリ", CONTACT),  # a part naming both slots of one reader: the lowest slot
        ("CAFÉ", FRENCH),  # composed and upper case against the driver's decomposed é
    ):
        code, out, _ = run_cli(capsys, "probe", "--reader", wanted, "--json")
        assert code == 0 and json.loads(out)["reader"] == found, wanted


def test_a_part_naming_two_readers_is_refused(
    fake: FakeScard, card: CardFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.slots[FRENCH] = card()
    code, out, _ = run_cli(capsys, "probe", "--reader", " 0", "--json")
    assert code == 1
    answer = json.loads(out)
    assert answer["error"] == "no_reader" and "names several readers" in answer["message"]
    assert repr(FRENCH) in answer["message"] and repr(CONTACT) in answer["message"]


def test_a_name_that_is_not_utf8_is_a_clear_error(
    fake: FakeScard, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.bad_name = True
    code, _, err = run_cli(capsys, "readers")
    assert code == 1
    assert err == "error: a reader's name is not UTF-8: pyscard cannot list it\n"
    with pytest.raises(TransportError) as exc:
        pcsc.list_readers()
    assert exc.value.code is ErrorCode.TRANSPORT


def test_a_non_ascii_name_in_a_log_file(
    fake: FakeScard, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log files are UTF-8 (serving.logs): the reader's name is kept whole."""
    root = logging.getLogger()
    before = root.handlers[:], root.level
    log_file = tmp_path / "card.log"
    handler = setup_logging(log_file)
    try:
        assert run_cli(capsys, "probe", "--reader", CONTACTLESS)[0] == 0
    finally:
        root.removeHandler(handler)
        handler.close()
        root.handlers[:] = before[0]
        root.setLevel(before[1])
    assert f"card in {CONTACTLESS!r} (T=1)" in log_file.read_text(encoding="utf-8")
