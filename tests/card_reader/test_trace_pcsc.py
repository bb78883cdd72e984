"""APDU traces and replay through the real path: pyscard → pcscd → vpcd → the software card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from card_reader import PcscTransport, TextApplication
from card_reader.errors import ErrorCode, PinError, ProtocolError
from card_reader.pcsc import wait_for_card_state
from card_reader.softcard import FaultyCard, Profile, ReplayCard
from card_reader.trace import read_trace
from vrs.demo import profile as demo_profile
from vrs.demo import residents

from .conftest import CardFactory
from .test_pcsc import READER, inserted, pcscd  # noqa: F401 - skips without pcscd
from .test_trace import TRACES, personal_values, session

pytestmark = pytest.mark.pcsc
ROOT = Path(__file__).resolve().parents[2]


def kiosk_sim(
    *argv: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk_sim.cli", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=60,
    )


def test_card_read_traces_every_apdu_and_no_personal_data(
    card: CardFactory, instance_dir: Path, tmp_path: Path
) -> None:
    p = Profile.from_dict(demo_profile(next(iter(residents(1))), "long"))
    trace = tmp_path / "read.jsonl"
    with inserted(card(p)):
        proc = kiosk_sim(
            "card", "read", "--reader", READER, "--instance", str(instance_dir),
            "--trace", str(trace), stdin=p.pin + "\n",
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = trace.read_text()
    lines = [json.loads(x) for x in text.splitlines()]
    head = lines[0]
    assert (head["reader"], head["atr"], head["protocol"]) == (READER, "3be000ff8131fe4514", "T=1")
    assert [x["n"] for x in lines[1:]] == list(range(1, len(lines)))
    assert all(x["dur_ms"] > 0 for x in lines[1:])
    for value in personal_values(p):
        assert value not in text, value
    assert (instance_dir / "card-trace.key").stat().st_mode & 0o077 == 0


def test_an_unwritable_trace_is_refused_before_any_apdu(card: CardFactory, tmp_path: Path) -> None:
    faulty = FaultyCard(card())
    with inserted(faulty):
        proc = kiosk_sim(
            "card", "probe", "--reader", READER, "--instance", str(tmp_path),
            "--trace", str(tmp_path / "no-such-dir" / "t.jsonl"),
        )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot write the trace file ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert faulty.count == 0


def test_a_slow_card_replays_as_slow_through_pcscd(card: CardFactory) -> None:
    trace = read_trace(TRACES / "slow-card.jsonl")
    took = {}
    for timing in (False, True):
        with inserted(ReplayCard(card(), trace, timing=timing)), PcscTransport(READER) as t:
            t0 = time.monotonic()
            session(t, "1234")
            took[timing] = time.monotonic() - t0
    assert took[True] >= 14 * 0.15 and took[False] < 1.0, took


def test_a_garbage_answer_replays_to_the_client_through_pcscd(card: CardFactory) -> None:
    soft = card()
    replay = ReplayCard(soft, read_trace(TRACES / "garbage-answer.jsonl"))
    with inserted(replay), PcscTransport(READER) as transport:
        app = TextApplication(transport)
        app.select()
        with pytest.raises(PinError):  # the trace's VERIFY said 90 00: the card's own logic
            app.verify_pin("0000")
        assert soft.state.tries_left == 2
        app.verify_pin("1234")
        with pytest.raises(ProtocolError) as exc:
            app.read_my_number()
        assert exc.value.code is ErrorCode.BAD_RESPONSE


def test_emulate_replay_puts_the_traced_card_in_pcscd(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "kiosk_sim.cli", "card", "emulate", "--slot", "1",
            "--instance", str(tmp_path), "--replay", str(TRACES / "garbage-answer.jsonl"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert proc.stdout is not None and "inserted" in proc.stdout.readline()
        assert wait_for_card_state(READER, True, 5)
        with PcscTransport(READER) as transport:
            app = TextApplication(transport)
            app.select()
            assert app.pin_tries_left() == 3
            app.verify_pin("1234")
            with pytest.raises(ProtocolError):
                app.read_my_number()
    finally:
        proc.terminate()
        proc.wait(10)
        wait_for_card_state(READER, False, 5)
