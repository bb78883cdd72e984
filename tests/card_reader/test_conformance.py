"""The conformance probe in memory: the software card agrees with itself, quirks are named.

The same session through pcscd and the CLI is in test_conformance_pcsc.py.
"""

from __future__ import annotations

import json

import pytest

from card_reader.conformance import SCHEMA, Report, Verdict, dumps, run_conformance
from card_reader.errors import ErrorCode, PinError
from card_reader.softcard import QUIRKS, QuirkyCard, SoftCard
from card_reader.softcard.card import CardOS
from card_reader.transport import InMemoryTransport

from .conftest import CardFactory

PIN = "1234"
PIN_CHECKS = {
    "pin.verify",
    "pin.read_protected",
    "security.reselect",
    "security.switch",
    "pin.verify_no_pin_ef",
}
# what each quirk moves, with one PIN try allowed (reselect-drops-pin shows only after a PIN)
QUIRK_DIFFERS = {
    "select-fci": {"select.app.p2_00", "select.ef.p2_00"},
    "read-past-end-6282": {"read.le_past_end", "pin.read_protected"},
    "reselect-drops-pin": {"security.reselect"},
    "wrong-cla-6d00": {"status.cla_unknown"},
}


class Spy:
    """Passes APDUs to the card and counts the VERIFYs that carry data (those may spend a try)."""

    def __init__(self, card: CardOS) -> None:
        self.card = card
        self.verifies_with_data = 0

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def execute(self, apdu: bytes) -> bytes:
        if apdu[1] == 0x20 and len(apdu) > 5:
            self.verifies_with_data += 1
        return self.card.execute(apdu)


def probe(card: CardOS, pin_tries: int = 0, pin: str = PIN) -> tuple[Report, Spy, list[int]]:
    spy = Spy(card)
    asked: list[int] = []

    def ask(tries: int) -> str:
        asked.append(tries)
        return pin

    report = run_conformance(InMemoryTransport(spy), pin_tries=pin_tries, ask_pin=ask)
    return report, spy, asked


def verdicts(report: Report) -> dict[str, Verdict]:
    return {c.id: c.verdict for c in report.checks}


def test_the_software_card_agrees_and_no_try_is_spent(card: CardFactory) -> None:
    c = card()
    report, spy, asked = probe(c)
    v = verdicts(report)
    assert report.differing == []
    assert report.exit_code == 0
    assert spy.verifies_with_data == 0 and asked == []
    assert c.state.tries_left == 3
    assert report.pin_tries_left_before == report.pin_tries_left_after == 3
    # in memory there is no protocol; without a try the PIN checks are not tried
    not_tried = {i for i, x in v.items() if x is Verdict.NOT_TRIED}
    assert not_tried == PIN_CHECKS | {"protocol", "get_response"}
    for id in ("select.app.text", "select.app.jpki", "select.app.face", "select.app.juki"):
        assert v[id] is Verdict.AGREE
    assert len(report.checks) == len(v)  # ids are unique


def test_one_try_allowed_spends_exactly_one_and_the_pin_checks_agree(card: CardFactory) -> None:
    c = card()
    report, spy, asked = probe(c, pin_tries=1)
    assert asked == [3]
    assert spy.verifies_with_data == 1 and report.pin_tries_spent == 1
    assert report.differing == []
    v = verdicts(report)
    assert {i for i in PIN_CHECKS if v[i] is Verdict.AGREE} == PIN_CHECKS - {"pin.verify_no_pin_ef"}
    assert v["pin.verify_no_pin_ef"] is Verdict.NOT_TRIED
    assert c.state.tries_left == 3  # the right PIN puts the counter back


def test_a_wrong_pin_costs_one_try_and_the_model_follows(card: CardFactory) -> None:
    c = card()
    report, _, _ = probe(c, pin_tries=1, pin="0000")
    assert c.state.tries_left == 2
    assert report.pin_tries_left_after == 2 and report.pin_tries_spent == 1
    # the model was given a wrong PIN too: same state, so everything still agrees
    assert report.differing == []
    pin_check = next(x for x in report.checks if x.id == "pin.verify")
    assert "63C2" in pin_check.observed and "63C2" in pin_check.model


def test_two_tries_allowed_spend_two(card: CardFactory) -> None:
    c = card()
    report, spy, _ = probe(c, pin_tries=2)
    assert spy.verifies_with_data == 2 and report.pin_tries_spent == 2
    assert report.differing == []
    assert verdicts(report)["pin.verify_no_pin_ef"] is Verdict.AGREE


@pytest.mark.parametrize("tries", [1, 0])
def test_the_last_try_is_never_spent(card: CardFactory, tries: int) -> None:
    c = card(tries_left=tries)
    report, spy, asked = probe(c, pin_tries=3)
    assert spy.verifies_with_data == 0 and asked == []
    assert c.state.tries_left == tries
    assert report.pin_tries_left_before == tries and report.pin_tries_spent == 0
    assert report.differing == []  # the model has the same tries left (63C1 / 6984)
    pin = next(x for x in report.checks if x.id == "pin.verify")
    assert pin.verdict is Verdict.NOT_TRIED and "last one is never spent" in pin.observed


def test_two_tries_left_allow_only_one_even_when_more_are_allowed(card: CardFactory) -> None:
    c = card(tries_left=2)
    _, spy, _ = probe(c, pin_tries=3, pin="0000")
    assert spy.verifies_with_data == 1
    assert c.state.tries_left == 1


def test_no_well_formed_pin_means_no_pin_checks(card: CardFactory) -> None:
    c = card()

    def refuse(tries: int) -> str:
        raise PinError(ErrorCode.INVALID_PIN_FORMAT, "no well-formed PIN given; nothing was sent")

    spy = Spy(c)
    report = run_conformance(InMemoryTransport(spy), pin_tries=1, ask_pin=refuse)
    assert spy.verifies_with_data == 0
    assert {x.id for x in report.checks if x.verdict is Verdict.NOT_TRIED} >= PIN_CHECKS


@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_each_quirk_is_named_exactly(card: CardFactory, quirk: str) -> None:
    report, _, _ = probe(QuirkyCard(card(), [quirk]), pin_tries=1)
    assert set(report.differing) == QUIRK_DIFFERS[quirk]
    assert report.exit_code == 1


def test_quirks_combine(card: CardFactory) -> None:
    report, _, _ = probe(QuirkyCard(card(), ["select-fci", "wrong-cla-6d00"]))
    assert set(report.differing) == QUIRK_DIFFERS["select-fci"] | QUIRK_DIFFERS["wrong-cla-6d00"]


def test_another_atr_differs_only_there(card: CardFactory) -> None:
    class OtherAtr(Spy):
        atr = bytes.fromhex("3BC5FF8131FB4580 73C6010000".replace(" ", ""))

    report = run_conformance(InMemoryTransport(OtherAtr(card())))
    assert report.differing == ["atr", "atr.historical"]
    historical = next(x for x in report.checks if x.id == "atr.historical")
    assert (historical.model, historical.observed) == ("none", "80 73 C6 01 00")


def test_a_t0_link_gets_the_get_response_check(card: CardFactory) -> None:
    class T0(InMemoryTransport):
        @property
        def protocol(self) -> str | None:
            return "T=0"

    report = run_conformance(T0(card()))
    checks = {x.id: x for x in report.checks}
    assert checks["protocol"].verdict is Verdict.DIFFER  # the model is T=1
    gr = checks["get_response"]
    assert gr.verdict is Verdict.AGREE and gr.model == "GET RESPONSE → 6D00"
    assert gr.observed == "READ Le=00 → 9000 (256 B); GET RESPONSE → 6D00"


def test_json_schema_is_stable_and_holds_no_personal_data(card: CardFactory) -> None:
    c: SoftCard = card()
    report, _, _ = probe(c, pin_tries=2)
    doc = json.loads(dumps(report))
    assert doc["schema"] == SCHEMA
    assert set(doc) == {
        "schema",
        "reader",
        "atr",
        "protocol",
        "pin_tries_left_before",
        "pin_tries_left_after",
        "pin_tries_spent",
        "checks",
        "summary",
    }
    for check in doc["checks"]:
        assert set(check) == {"id", "title", "model", "observed", "verdict"}
        assert check["verdict"] in {"agree", "differ", "not_tried"}
    assert doc["summary"] == {"agree": 48, "differ": 0, "not_tried": 2, "total": 50}
    text = dumps(report)
    for secret in ("123456789018", "見本", PIN):
        assert secret not in text


def test_markdown_table(card: CardFactory) -> None:
    report, _, _ = probe(QuirkyCard(card(), ["wrong-cla-6d00"]))
    md = report.to_markdown()
    assert "| id | check | model (software card) | observed | verdict |" in md
    row = next(line for line in md.splitlines() if line.startswith("| status.cla_unknown |"))
    assert "6E00" in row and "6D00" in row and row.endswith("| differ |")
    assert md.splitlines()[-1] == "42 agree, 1 differ, 7 not tried"
