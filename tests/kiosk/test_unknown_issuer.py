"""A card from an issuer the center does not trust (a real card at this simulator): the visit
ends on the error screen with words of its own, not "the card's data could not be verified"."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from card_reader import InMemoryTransport
from card_reader.softcard import CardState, DevCardIssuer, Profile, SoftCard
from kiosk import KioskRuntime, messages
from kiosk.center import CenterClient
from kiosk.flow import Flow
from kiosk.payment import SimulatedTerminal
from kiosk.printer import SimulatedPrinter
from vrs.demo import profile

from .conftest import System


def test_a_card_from_an_unknown_issuer_is_told_as_such(
    system: System, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    holder = system.people[1]
    other = DevCardIssuer.load_or_create(tmp_path / "card-issuer")
    card = SoftCard.personalized(
        Profile.from_dict(profile(holder)), other, CardState(system.card_key, 3)
    )
    cert, key = system.kiosk_ca.issue("kiosk-K0001", "K0001")
    center = CenterClient(system.center_url, (str(cert), str(key)), str(system.kiosk_ca.cert_path))
    flow = Flow(
        center,
        SimulatedPrinter(),
        "memory",
        connect=lambda _r: InMemoryTransport(card),
        terminal=SimulatedTerminal(),
    )
    request.addfinalizer(KioskRuntime(center, flow, None).start().stop)

    def until(*screens: str) -> str:
        deadline = time.monotonic() + 10
        while flow.screen not in screens and time.monotonic() < deadline:
            time.sleep(0.02)
        return flow.screen

    flow.card_event(True)
    assert until("menu") == "menu"
    flow.act("covid-certificate")
    assert until("pin") == "pin"
    flow.act("pin", holder.pin)
    assert until("error", "remove_card", "cancelled") == "error"
    state = flow.state()
    assert state.code == "unknown_issuer"
    assert state.message is not None
    assert state.message.model_dump() == messages.error_text("unknown_issuer")
    assert "issuer is not known" in state.message.en
