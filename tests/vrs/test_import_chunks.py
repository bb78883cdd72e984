"""A ledger import cut into chunks sealed by worker processes: the same result as one piece."""

from __future__ import annotations

import csv
import io
import itertools
import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kiosk_sim import cli
from vrs import Vrs, ledger_chunks, ledger_import
from vrs.demo import Resident, residents
from vrs.errors import Code, VrsError

from .conftest import ledger

BACKENDS = ("sqlite", "postgresql")  # conftest.pytest_generate_tests
NIIHAMA, MATSUYAMA = "382051", "382019"
ROOT = Path(__file__).resolve().parents[2]
SMALL_CHUNK = 3000  # characters: ~25 rows a chunk, dozens of chunks


class SlowFile(io.StringIO):
    """A ledger that arrives slowly (a file share): the pool is up before the end of it."""

    def read(self, size: int | None = -1) -> str:
        time.sleep(0.05)
        return super().read(size)


class CountingPool(ProcessPoolExecutor):
    """The real pool, counting the chunks it was given."""

    chunks = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        if fn is ledger_chunks._seal_held:
            CountingPool.chunks += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def chunked(monkeypatch: pytest.MonkeyPatch) -> type[CountingPool]:
    """Small chunks, small staging batches (several staged before a late failure), a counted pool."""
    monkeypatch.setattr(ledger_chunks, "CHUNK", SMALL_CHUNK)
    monkeypatch.setattr(ledger_import, "BATCH", 20)
    monkeypatch.setattr(ledger_chunks, "ProcessPoolExecutor", CountingPool)
    CountingPool.chunks = 0
    return CountingPool


def newcomers(n: int, code: str, seed: int = 5) -> list[Resident]:
    people = list(residents(n, seed=seed))
    for r in people:
        r.code = code
    return people


def quoted(text: str) -> str:
    """The ledger with every name quoted and holding a line break and a quote (CSV allows it)."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    name = rows[0].index("name")
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_MINIMAL)
    w.writerow(rows[0])
    for row in rows[1:]:
        row[name] = f'{row[name]}\n"{row[name][:1]}"'
        w.writerow(row)
    return buf.getvalue()


def with_bad_row(text: str, line: int) -> str:
    """``line`` (a row number: the header is row 1) given a wrong My Number check digit."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    n = rows[line - 1][0]
    rows[line - 1][0] = n[:11] + str((int(n[11]) + 1) % 10)
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


def contents(v: Vrs, code: str, people: list[Resident]) -> list[Any]:
    """What an area holds, decrypted, in its row-ID order; and each person as found."""
    area = v.area(code)
    stored = []
    for row in v.storage.persons(code):
        record = area.keys.open("persons", row.id, row.sealed)
        stored.append((record, row.moved_out, row.deceased, area.doses(row.id)))
    found = []
    for r in people:
        hit = area.find(r.my_number)
        assert hit is not None
        found.append((hit[1], area.doses(hit[0].id)))
        if r.coupon:
            holder = v.storage.coupon_holder(code, area.keys.coupon_index(r.coupon))
            assert holder is not None and holder[0] == hit[0].id
    return [stored, found]


def test_chunks_are_whole_records_and_whole_persons() -> None:
    """Cut anywhere a chunk boundary falls, the pieces are the text, each person in one piece."""
    text = ledger(newcomers(300, NIIHAMA), NIIHAMA)
    for source in (text, quoted(text)):
        body = source[source.index("\n") + 1 :]
        for size in (1, 500, 3001):
            pieces = list(ledger_chunks._chunks(io.StringIO(body), 0, size))
            assert "".join(pieces) == body
            assert len(pieces) > 1 or size > len(body)
            for before, after in itertools.pairwise(pieces):
                last = list(csv.reader(io.StringIO(before, newline="")))[-1]
                first = next(csv.reader(io.StringIO(after, newline="")))
                assert last[0] != first[0]  # the person's rows do not go on past the cut


def test_one_persons_rows_without_end_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """No cut is possible in a run of one My Number: each block's new lines are read, once."""
    row = ledger(newcomers(1, NIIHAMA), NIIHAMA).splitlines()[1] + "\n"
    body = row * 3000
    read = 0
    real = ledger_chunks._numbers

    def counted(line: str, my_number: int) -> list[str]:
        nonlocal read
        read += 1
        return real(line, my_number)

    monkeypatch.setattr(ledger_chunks, "_numbers", counted)
    assert list(ledger_chunks._chunks(io.StringIO(body), 0, 1000)) == [body]
    assert read < 2 * 3000


@pytest.mark.parametrize("shape", ["plain", "quoted"])
def test_a_chunked_import_keeps_what_one_piece_keeps(
    vrs: Vrs, chunked: type[CountingPool], shape: str
) -> None:
    people = newcomers(400, NIIHAMA)
    text = ledger(people, NIIHAMA)
    if shape == "quoted":
        text = quoted(text)
    with pytest.MonkeyPatch.context() as one_piece:
        one_piece.setattr(ledger_chunks, "CHUNK", 1 << 30)
        assert vrs.area(MATSUYAMA).import_csv(io.StringIO(text)) == 400
    assert chunked.chunks == 0  # one piece: sealed here, no pool
    assert vrs.area(NIIHAMA).import_csv(SlowFile(text)) == 400
    assert chunked.chunks > 3  # the pool sealed most of it (the first chunks, this process)
    assert contents(vrs, NIIHAMA, people) == contents(vrs, MATSUYAMA, people)
    assert vrs.storage.count_persons() == {NIIHAMA: 400, MATSUYAMA: 400}


@pytest.mark.parametrize("shape", ["plain", "quoted"])
def test_a_bad_row_in_a_late_chunk_is_named_and_nothing_is_kept(
    vrs: Vrs, chunked: type[CountingPool], shape: str
) -> None:
    people = newcomers(300, NIIHAMA)
    text = ledger(people, NIIHAMA)
    if shape == "quoted":
        text = quoted(text)
    rows = len(list(csv.reader(io.StringIO(text, newline=""))))
    bad = rows - 3  # a row number (the header is row 1) in the last chunk
    text = with_bad_row(text, bad)
    with pytest.raises(VrsError) as err:
        vrs.area(NIIHAMA).import_csv(SlowFile(text), actor="clerk")
    assert err.value.code is Code.IMPORT_REJECTED
    assert err.value.details == [
        {"row": bad, "reason": "my_number is not a valid 12-digit My Number"}
    ]
    assert chunked.chunks > 3
    assert vrs.storage.count_persons() == {}
    assert vrs.area(NIIHAMA).find(people[0].my_number) is None
    with pytest.MonkeyPatch.context() as one_piece:  # the same answer from one piece
        one_piece.setattr(ledger_chunks, "CHUNK", 1 << 30)
        with pytest.raises(VrsError) as again:
            vrs.area(NIIHAMA).import_csv(io.StringIO(text))
    assert again.value.details == err.value.details


def test_a_person_twice_far_apart_is_refused_at_the_later_rows(
    vrs: Vrs, chunked: type[CountingPool]
) -> None:
    """The check across chunks (the importing process's): the later run of rows is named."""
    people = newcomers(200, NIIHAMA)
    text = ledger(people, NIIHAMA)
    first_rows = ledger(people[:1], NIIHAMA).splitlines()[1:]
    text += "\n".join(first_rows) + "\n"
    with pytest.raises(VrsError) as err:
        vrs.area(NIIHAMA).import_csv(SlowFile(text))
    total = len(text.splitlines())
    assert err.value.details == [
        {"row": total - len(first_rows) + 1, "reason": "this person's rows are not together"}
    ]
    assert vrs.storage.count_persons() == {}


def test_an_unreadable_late_chunk_refuses_the_file_whole(
    vrs: Vrs, chunked: type[CountingPool]
) -> None:
    text = ledger(newcomers(300, NIIHAMA), NIIHAMA)
    cut = text.rindex("\n", 0, len(text) - 300)  # a row near the end holds a field too big
    text = text[:cut] + "x" * 200_000 + text[cut:]
    with pytest.raises(VrsError) as err:
        vrs.area(NIIHAMA).import_csv(SlowFile(text))
    assert (err.value.code, err.value.message) == (
        Code.IMPORT_REJECTED,
        "the file is not a readable CSV file",
    )
    assert vrs.storage.count_persons() == {}


def _die(text: str, id_base: int) -> None:
    os._exit(3)  # a worker gone mid-chunk (killed, out of memory)


def test_a_worker_that_dies_leaves_its_chunks_to_the_importing_process(
    vrs: Vrs,
    chunked: type[CountingPool],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    people = newcomers(300, NIIHAMA)
    text = ledger(people, NIIHAMA)
    monkeypatch.setattr(ledger_chunks, "_seal_held", _die)
    with caplog.at_level(logging.WARNING, "vrs.import"):
        assert vrs.area(NIIHAMA).import_csv(SlowFile(text)) == 300
    assert chunked.chunks > 0
    assert "worker processes failed (BrokenProcessPool)" in caplog.text
    monkeypatch.setattr(ledger_chunks, "CHUNK", 1 << 30)
    assert vrs.area(MATSUYAMA).import_csv(io.StringIO(text)) == 300
    assert contents(vrs, NIIHAMA, people) == contents(vrs, MATSUYAMA, people)


def test_the_import_command_seals_a_large_file_in_its_workers(tmp_path: Path) -> None:
    """``kiosk-sim vrs import`` in a process of its own: its fork server and workers (the
    command's module preloaded there), a file of several chunks, all of it or none."""
    folder = tmp_path / "vrs"
    assert cli.main(["vrs", "init", "--instance", str(folder)]) == 0
    assert cli.main(["vrs", "add-municipality", NIIHAMA, "新居浜市", "Niihama City",
                     "--prefecture", "愛媛県", "--instance", str(folder)]) == 0  # fmt: skip
    text = ledger(newcomers(6000, NIIHAMA), NIIHAMA)
    assert len(text.encode()) > 2 * ledger_chunks.CHUNK
    (tmp_path / "ledger.csv").write_text(text, encoding="utf-8")

    def command() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kiosk_sim.cli", "vrs", "import", NIIHAMA,
             str(tmp_path / "ledger.csv"), "--instance", str(folder)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    done = command()
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "imported 6000 persons", "")
    again = command()  # every person registered now: refused whole, said in one line
    assert again.returncode != 0 and "nothing was imported" in again.stderr
    assert "Traceback" not in again.stderr
