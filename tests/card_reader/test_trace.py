"""APDU traces and their replay, in memory (the PC/SC path: test_trace_pcsc.py).

What a trace must never hold: a PIN, or a resident's My Number, name, address or birth
date in any encoding the card uses (ASCII digits, UTF-8, their hex, JSON's escapes), nor
a digest of them (EF 0003's DF31/DF32 fall to a dictionary of My Numbers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from card_reader import InMemoryTransport, TextApplication, Transport
from card_reader.errors import ErrorCode, PinError, ProtocolError, TraceError, TransportError
from card_reader.softcard import DevCardIssuer, FaultyCard, Profile, ReplayCard
from card_reader.softcard.example_traces import EXAMPLES, write_examples
from card_reader.softcard.issuer import encode_basic_info, encode_my_number
from card_reader.trace import (
    KEY_FILE,
    MAX_BYTES,
    MAX_LINES,
    TraceWriter,
    TracingTransport,
    read_trace,
    trace_key,
    trace_transport,
)
from vrs.demo import profile as demo_profile
from vrs.demo import residents

from .conftest import CardFactory

ROOT = Path(__file__).resolve().parents[2]
TRACES = ROOT / "card_reader" / "softcard" / "traces"
KEY = bytes(range(32))


def session(transport: Transport, pin: str) -> None:
    """What the kiosk's client does with a card: everything up to the presence signature."""
    app = TextApplication(transport)
    app.select()
    app.pin_tries_left()
    app.verify_pin(pin)
    app.read_card_files(os.urandom(32))


def traced(card: object, path: Path, pin: str, key: bytes = KEY) -> str:
    writer = TraceWriter(path, key)
    with TracingTransport(InMemoryTransport(card), writer, owns_writer=True) as t:  # type: ignore[arg-type]
        session(t, pin)
    return path.read_text()


def personal_values(p: Profile) -> Iterator[str]:
    """Each personal value of ``p`` in every form it could take in a trace."""
    family, given = p.name.split("\u3000")
    texts = [p.my_number, p.name, family, given, p.address, p.birth_date]
    texts.append(f"{p.birth_date[:4]}-{p.birth_date[4:6]}-{p.birth_date[6:]}")
    for text in texts:
        raw = text.encode("utf-8")
        yield text
        yield json.dumps(text)[1:-1]  # JSON's \\uXXXX form
        yield raw.hex()
        yield raw.hex().upper()
    ef1 = encode_my_number(p.my_number)
    yield ef1.hex()
    yield hashlib.sha256(ef1).hexdigest()  # DF31: a dictionary of numbers would find it
    yield encode_basic_info(p)[:40].hex()
    yield p.pin.encode().hex()


def test_traces_of_the_demo_residents_hold_none_of_their_data(
    card: CardFactory, tmp_path: Path
) -> None:
    people = [
        Profile.from_dict(demo_profile(r, v)) for r in residents(6) for v in ("short", "long")
    ]
    for i, p in enumerate(people):
        text = traced(card(p), tmp_path / f"{i}.jsonl", p.pin)
        lines = [json.loads(line) for line in text.splitlines()]
        assert len(lines) >= 15 and lines[0]["trace"] == "kiosk-sim-apdu-trace"
        for value in personal_values(p):
            assert value not in text, (i, value)
        verify = [x for x in lines[1:] if x["cmd"] == "00200091" and "data" in x]
        assert verify == [x for x in verify if x["data"] == {"len": 4}]  # the PIN: its length


def test_public_files_are_in_clear_and_personal_ones_hashed(
    card: CardFactory, issuer: DevCardIssuer, tmp_path: Path
) -> None:
    lines = [json.loads(x) for x in traced(card(), tmp_path / "t.jsonl", "1234").splitlines()]
    ef4 = issuer.certificate()
    clear = "".join(x["resp"] for x in lines[1:] if isinstance(x.get("resp"), str))
    assert ef4.hex() == clear  # EF 0004 (the CVC), and nothing else, in clear
    hashed = [x["resp"] for x in lines[1:] if isinstance(x.get("resp"), dict)]
    assert [h["len"] for h in hashed] == [17, 256, 256, 80, 256, 256, 24, 256]
    sign = lines[-1]
    assert sign["cmd"] == "802a0000" and set(sign["data"]) == {"len", "hmac"}


def test_two_traces_of_one_card_compare_under_one_key_only(
    card: CardFactory, tmp_path: Path
) -> None:
    def hashes(text: str) -> list[object]:
        return [json.loads(x).get("resp") for x in text.splitlines()[1:8]]

    a = hashes(traced(card(), tmp_path / "a.jsonl", "1234"))
    b = hashes(traced(card(), tmp_path / "b.jsonl", "1234"))
    c = hashes(traced(card(), tmp_path / "c.jsonl", "1234", key=bytes(32)))
    assert a == b and a != c


def test_the_key_is_made_once_0600_in_the_instance(tmp_path: Path) -> None:
    key = trace_key(tmp_path / "inst")
    path = tmp_path / "inst" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(key) == 32
    assert trace_key(tmp_path / "inst") == key
    path.write_text("not hex\n")
    with pytest.raises(TraceError, match="not hex"):
        trace_key(tmp_path / "inst")


def test_a_trace_that_cannot_be_written_is_refused_before_the_card(tmp_path: Path) -> None:
    def connect() -> Transport:
        raise AssertionError("the card was opened before the trace file")

    for bad in (tmp_path / "no" / "dir" / "t.jsonl", tmp_path):
        args = argparse.Namespace(trace=bad, instance=tmp_path / "inst")
        with pytest.raises(TraceError, match="cannot write the trace file") as exc:
            trace_transport(args, connect)
        assert exc.value.code is ErrorCode.BAD_TRACE


# --- reading traces --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"hello\n", "line 1 is not JSON"),
        (b"[1, 2]\n", "not a JSON object"),
        (b'{"a": 1}\n', "no trace header"),
        (b'{"trace": "kiosk-sim-apdu-trace", "version": 9}\n', "version 9"),
    ],
)
def test_what_is_not_a_trace_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "t").write_bytes(content)
    with pytest.raises(TraceError, match=message):
        read_trace(tmp_path / "t")


def test_a_truncated_trace_is_named_so(tmp_path: Path) -> None:
    whole = (TRACES / "slow-card.jsonl").read_bytes()
    (tmp_path / "t").write_bytes(whole[: len(whole) - 40])
    with pytest.raises(TraceError, match=r"is truncated \(its last line is cut off\)"):
        read_trace(tmp_path / "t")
    (tmp_path / "t").write_bytes(whole.replace(b'"sw":"9000"', b'"sw":"90"', 1))
    with pytest.raises(TraceError, match="line 2: the answer is not a status word"):
        read_trace(tmp_path / "t")


def test_a_huge_trace_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with big.open("wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: no 16 MB written
    with pytest.raises(TraceError, match="larger than 16 MB"):
        read_trace(big)
    head = (TRACES / "slow-card.jsonl").read_bytes().splitlines(keepends=True)[0]
    (tmp_path / "long").write_bytes(head + b"{}\n" * MAX_LINES)
    with pytest.raises(TraceError, match="more than 100000 lines"):
        read_trace(tmp_path / "long")


def test_emulate_refuses_a_bad_trace_in_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text("not json\n")
    for argv in (["--replay", str(tmp_path / "bad.jsonl")], ["--replay-timing"]):
        proc = subprocess.run(
            [sys.executable, "-m", "kiosk_sim.cli", "card", "emulate", "--slot", "1", *argv],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "KIOSK_SIM_HOME": str(tmp_path)},
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
        assert "Traceback" not in proc.stderr


# --- replay ------------------------------------------------------------------------


def test_the_example_traces_are_regenerated_the_same(tmp_path: Path) -> None:
    written = write_examples(tmp_path)
    assert [p.name for p in written] == list(EXAMPLES)
    for p in written:
        assert p.read_bytes() == (TRACES / p.name).read_bytes(), p.name


def test_replay_gives_the_traced_answers_and_the_model_the_redacted_ones(
    card: CardFactory,
) -> None:
    replay = ReplayCard(card(), read_trace(TRACES / "garbage-answer.jsonl"))
    app = TextApplication(InMemoryTransport(replay))
    app.select()
    assert app.pin_tries_left() == 3
    app.verify_pin("1234")
    with pytest.raises(ProtocolError) as exc:
        app.read_file(1)  # the trace's one-byte answer, as the faulty card gave it
    assert exc.value.code is ErrorCode.BAD_RESPONSE
    # the trace's answers are used up: round again, SELECT answered from the trace
    app.select()
    # EF 0001 the second time: the trace's garbage again (its only answer to that command)
    with pytest.raises(ProtocolError):
        app.read_file(1)


def test_redacted_answers_come_from_the_model(card: CardFactory) -> None:
    soft = card()
    replay = ReplayCard(soft, read_trace(TRACES / "slow-card.jsonl"))
    app = TextApplication(InMemoryTransport(replay))
    app.select()
    app.verify_pin("1234")
    assert app.read_my_number() == Profile.demo().my_number  # redacted in the trace: the model's
    traced_ef4 = "".join(
        x["resp"]
        for x in map(json.loads, (TRACES / "slow-card.jsonl").read_text().splitlines()[1:])
        if isinstance(x.get("resp"), str)
    )
    # EF 0004 in clear: the trace's (the example issuer's CVC), not the model's
    assert app.read_file(4).hex() == traced_ef4 and len(traced_ef4) == 2 * 568
    assert replay.replayed == 4  # SELECT and EF 0004's three chunks


def test_a_replayed_verify_always_counts_the_try(card: CardFactory) -> None:
    # the trace says VERIFY answered 90 00: the model decides, and counts the wrong PIN
    soft = card()
    replay = ReplayCard(soft, read_trace(TRACES / "slow-card.jsonl"))
    app = TextApplication(InMemoryTransport(replay))
    app.select()
    with pytest.raises(PinError) as exc:
        app.verify_pin("9999")
    assert exc.value.code is ErrorCode.WRONG_PIN and exc.value.tries_left == 2
    assert soft.state.tries_left == 2
    with pytest.raises(PinError, match="only after the PIN"):
        app.read_my_number()


def test_replay_timing_waits_as_traced(card: CardFactory) -> None:
    slept: list[float] = []
    trace = read_trace(TRACES / "slow-card.jsonl")
    for timing in (False, True):
        replay = ReplayCard(card(), trace, timing=timing, sleep=slept.append)
        session(InMemoryTransport(replay), "1234")
    assert len(slept) == 14 and all(0.1 < s <= 0.15 for s in slept)


def test_a_traced_removal_removes_the_card(card: CardFactory, tmp_path: Path) -> None:
    def up_to_ef0001(transport: Transport) -> None:
        app = TextApplication(transport)
        app.select()
        app.verify_pin("1234")
        with pytest.raises(TransportError) as exc:
            app.read_my_number()
        assert exc.value.code is ErrorCode.CARD_REMOVED

    writer = TraceWriter(tmp_path / "t.jsonl", KEY)
    faulty = FaultyCard(card(), remove_at=3)  # READ BINARY of EF 0001
    with TracingTransport(InMemoryTransport(faulty), writer, owns_writer=True) as t:
        up_to_ef0001(t)
    assert '"error":"card_removed"' in (tmp_path / "t.jsonl").read_text()
    up_to_ef0001(InMemoryTransport(ReplayCard(card(), read_trace(tmp_path / "t.jsonl"))))
