"""``kiosk serve --trace`` without pcscd: an unwritable trace refused at once; a visit's
trace (in memory) holds nothing personal."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from card_reader import InMemoryTransport
from card_reader.trace import open_trace
from kiosk import KioskRuntime
from kiosk.center import CenterClient
from kiosk.cli import traced_connect
from kiosk.flow import Flow
from kiosk.payment import SimulatedTerminal
from kiosk.printer import SimulatedPrinter

from .conftest import System
from .test_trace import secret_forms, until

ROOT = Path(__file__).resolve().parents[2]


def test_kiosk_serve_refuses_an_unwritable_trace_before_starting(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable, "-m", "kiosk_sim.cli", "kiosk", "serve", "--home", str(tmp_path),
            "--port", "0", "--trace", str(tmp_path / "no-dir" / "t.jsonl"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot write the trace file ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "pki").exists()  # nothing made before the refusal


def test_a_visit_in_memory_is_traced_without_personal_data(
    system: System, request: pytest.FixtureRequest
) -> None:
    """The kiosk's flow with ``kiosk serve --trace``'s connect around an in-memory card
    (the same through pcscd: test_trace.py)."""
    holder = system.people[1]
    path = system.root / "kiosk" / "memory-trace.jsonl"
    writer = open_trace(argparse.Namespace(trace=path, home=system.root / "kiosk"))
    assert writer is not None
    cert, key = system.kiosk_ca.issue("kiosk-K0001", "K0001")
    center = CenterClient(system.center_url, (str(cert), str(key)), str(system.kiosk_ca.cert_path))
    card = system.card(holder)
    links = traced_connect(writer, lambda _r: InMemoryTransport(card))
    flow = Flow(center, SimulatedPrinter(), "memory", connect=links, terminal=SimulatedTerminal())
    request.addfinalizer(KioskRuntime(center, flow, None).start().stop)
    flow.card_event(True)
    assert until(flow, "menu") == "menu"
    flow.act("covid-certificate")
    assert until(flow, "pin") == "pin"
    flow.act("pin", holder.pin)
    assert until(flow, "remove_card") == "remove_card"
    flow.card_event(False)
    until(flow, "municipality")
    flow.act("cancel")
    writer.close()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 15 and lines[0]["trace"] == "kiosk-sim-apdu-trace"
    text = path.read_text()
    for secret in secret_forms(holder):
        assert secret not in text, secret
