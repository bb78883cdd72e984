"""`kiosk-sim card conformance` as a process, through pcscd + vpcd, against the software card.

The card sits in the test slot ("Virtual PCD 00 01", see test_pcsc.py); the probe
is the real command line, with the PIN on its standard input as `card read` takes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from card_reader.pcsc import wait_for_card_state
from card_reader.softcard import CardState, QuirkyCard

from .conftest import CardFactory
from .test_conformance import PIN, PIN_CHECKS, QUIRK_DIFFERS
from .test_pcsc import READER, ROOT, inserted, pcscd  # noqa: F401  (pcscd: autouse)

pytestmark = pytest.mark.pcsc


def conformance(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk_sim.cli", "card", "conformance", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def probe_json(*args: str, stdin: str = "") -> tuple[int, dict[str, Any]]:
    out = conformance("--reader", READER, "--json", *args, stdin=stdin)
    assert out.stdout, out.stderr
    return out.returncode, json.loads(out.stdout)


def differing(doc: dict[str, Any]) -> set[str]:
    return {c["id"] for c in doc["checks"] if c["verdict"] == "differ"}


def test_the_software_card_agrees_through_pcscd_and_no_try_is_spent(
    card: CardFactory, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    with inserted(card(state_path=state)):
        code, doc = probe_json()
    assert code == 0, doc
    assert differing(doc) == set()
    assert doc["reader"] == READER and doc["protocol"] == "T=1"
    assert doc["atr"] == "3B E0 00 FF 81 31 FE 45 14"
    verdicts = {c["id"]: c["verdict"] for c in doc["checks"]}
    assert verdicts["protocol"] == "agree"
    assert verdicts["get_response"] == "not_tried"
    gr = next(c for c in doc["checks"] if c["id"] == "get_response")
    assert "not applicable" in gr["observed"]
    assert {i for i, v in verdicts.items() if v == "not_tried"} == PIN_CHECKS | {"get_response"}
    assert doc["pin_tries_spent"] == 0
    assert CardState.load(state).tries_left == 3


def test_markdown_on_a_terminal(card: CardFactory) -> None:
    with inserted(card()):
        out = conformance("--reader", READER)
    assert out.returncode == 0, out.stderr
    assert "| id | check | model (software card) | observed | verdict |" in out.stdout
    assert out.stdout.rstrip().endswith("44 agree, 0 differ, 6 not tried")


def test_one_try_spends_exactly_one(card: CardFactory, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with inserted(card(state_path=state)):
        code, doc = probe_json("--pin-tries", "1", stdin="0000\n")  # a wrong PIN: it shows
    assert CardState.load(state).tries_left == 2
    assert code == 0, differing(doc)
    assert (doc["pin_tries_left_before"], doc["pin_tries_left_after"]) == (3, 2)
    assert doc["pin_tries_spent"] == 1


def test_the_right_pin_and_the_checks_after_it_agree(card: CardFactory, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with inserted(card(state_path=state)):
        code, doc = probe_json("--pin-tries", "1", stdin=f"{PIN}\n")
    assert code == 0, differing(doc)
    verdicts = {c["id"]: c["verdict"] for c in doc["checks"]}
    assert all(verdicts[i] == "agree" for i in PIN_CHECKS - {"pin.verify_no_pin_ef"})
    read = next(c for c in doc["checks"] if c["id"] == "pin.read_protected")
    assert "(17 B)" in read["observed"]  # a length, never the content
    assert "123456789018" not in json.dumps(doc, ensure_ascii=False)
    assert CardState.load(state).tries_left == 3


def test_a_card_with_one_try_left_spends_nothing(card: CardFactory, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with inserted(card(state_path=state, tries_left=1)):
        code, doc = probe_json("--pin-tries", "1", stdin=f"{PIN}\n")
    assert CardState.load(state).tries_left == 1
    assert code == 0 and doc["pin_tries_spent"] == 0
    pin = next(c for c in doc["checks"] if c["id"] == "pin.verify")
    assert pin["verdict"] == "not_tried"


@pytest.mark.parametrize("quirk", sorted(QUIRK_DIFFERS))
def test_each_quirk_is_named_exactly(card: CardFactory, quirk: str) -> None:
    with inserted(QuirkyCard(card(), [quirk])):
        code, doc = probe_json("--pin-tries", "1", stdin=f"{PIN}\n")
    assert code == 1
    assert differing(doc) == QUIRK_DIFFERS[quirk]
    assert doc["summary"]["differ"] == len(QUIRK_DIFFERS[quirk])


def test_emulate_quirks_on_the_command_line(tmp_path: Path) -> None:
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiosk_sim.cli",
            "card",
            "emulate",
            "--slot",
            "1",
            "--instance",
            str(tmp_path),
            "--quirks",
            "select-fci,wrong-cla-6d00",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert emulator.stdout is not None
        assert "with quirks select-fci,wrong-cla-6d00" in emulator.stdout.readline()
        assert wait_for_card_state(READER, True, 5)
        code, doc = probe_json()
    finally:
        emulator.terminate()
        emulator.wait(10)
        wait_for_card_state(READER, False, 5)
    assert code == 1
    assert differing(doc) == QUIRK_DIFFERS["select-fci"] | QUIRK_DIFFERS["wrong-cla-6d00"]


def test_unknown_quirk_is_refused_with_the_list() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kiosk_sim.cli", "card", "emulate", "--quirks", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 2
    assert "unknown quirk nope; known: select-fci" in out.stderr
    assert "Traceback" not in out.stderr


def test_no_card_and_no_reader_exit_2_with_one_line() -> None:
    deadline = time.monotonic() + 5
    while wait_for_card_state(READER, True, 0) and time.monotonic() < deadline:
        time.sleep(0.05)  # a card of an earlier test still leaving
    for args, message in (
        (["--reader", READER], "error: no card in the reader"),
        (["--reader", "no such reader"], "error: no reader named 'no such reader'; readers: "),
    ):
        out = conformance(*args)
        assert out.returncode == 2
        assert out.stderr.startswith(message) and out.stderr.count("\n") == 1, out.stderr
        assert out.stdout == ""
    out = conformance("--reader", READER, "--json")
    assert out.returncode == 2
    assert json.loads(out.stdout)["error"] == "no_card"
