"""``kiosk serve --trace``: a visit's APDUs through pcscd, redacted, and a replayed fault.

The kiosk runs as ``kiosk serve`` wires it (``CONNECT``: the traced PC/SC link), with the
card watcher, a card in pcscd's vpcd reader, mutual TLS to the center and VRS.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from card_reader import Transport
from card_reader.softcard import ReplayCard
from card_reader.trace import open_trace, read_trace
from kiosk.cli import traced_connect
from kiosk.flow import Flow
from vrs.demo import Resident

from ..card_reader.test_pcsc import READER, inserted, pcscd  # noqa: F401 - skips without pcscd
from ..card_reader.test_trace import TRACES
from .conftest import System, running_kiosk

pytestmark = [pytest.mark.pcsc, pytest.mark.usefixtures("nothing_personal_written")]


def until(flow: Flow, *screens: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while flow.screen not in screens:
        assert time.monotonic() < deadline, (flow.screen, screens)
        time.sleep(0.02)
    return flow.screen


def secret_forms(holder: Resident) -> Iterator[str]:
    """The resident's secrets as text, JSON escapes and the hex of their UTF-8 (the card's)."""
    for secret in (*holder.secrets(), holder.address, holder.birth.strftime("%Y%m%d")):
        yield secret
        yield json.dumps(secret)[1:-1]
        yield secret.encode().hex()
    yield holder.pin.encode().hex()


def kiosk_trace(system: System, path: Path) -> Callable[[str], Transport]:
    # as kiosk serve --trace does: one writer, a traced link per card
    writer = open_trace(argparse.Namespace(trace=path, home=system.root / "kiosk"))
    assert writer is not None
    return traced_connect(writer)


def visit(flow: Flow, pin: str) -> str:
    until(flow, "menu")
    flow.act("covid-certificate")
    if until(flow, "pin", "locked", "cancelled", "error") == "pin":
        flow.act("pin", pin)
        until(flow, "remove_card", "cancelled", "error")
    return flow.screen


def test_a_visit_is_traced_without_personal_data(system: System) -> None:
    holder = system.people[1]
    path = system.root / "kiosk" / "visit-trace.jsonl"
    with (
        running_kiosk(system, system.center_url, CONNECT=kiosk_trace(system, path)) as k,
        inserted(system.card(holder)),
    ):
        assert visit(k.flow, holder.pin) == "remove_card"
    # the card link is closed (and the trace flushed) on the kiosk's closer thread
    deadline = time.monotonic() + 5
    while len(path.read_text().splitlines()) < 15 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0]["reader"] == READER and lines[0]["protocol"] == "T=1"
    assert len(lines) == 15  # the header, then the kiosk's 14 APDUs
    text = path.read_text()
    for secret in secret_forms(holder):
        assert secret not in text, secret


def test_a_replayed_garbage_answer_stops_the_kiosks_visit(system: System) -> None:
    holder = system.people[1]
    card = ReplayCard(system.card(holder), read_trace(TRACES / "garbage-answer.jsonl"))
    with running_kiosk(system, system.center_url) as k, inserted(card):
        # the example trace's card has PIN 1234 at VERIFY; the resident's own PIN is what counts
        assert visit(k.flow, holder.pin) == "error"
    assert card.replayed >= 1
