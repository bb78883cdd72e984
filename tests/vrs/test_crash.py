"""A killed import process (kill -9, a power cut) leaves no half-imported records.

An import stages its rows in a file beside the database, then merges them
in one transaction. The child below is killed at either point: while
staging (the database untouched, a staging file left behind) or inside the
merge transaction (the rows written into the database file's WAL,
uncommitted). Either way nothing of the import is visible after reopening,
the staging file is gone, and the same import runs again.
"""

from __future__ import annotations

import io
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from certs import IssuerKey
from vrs import Vrs
from vrs.crypto import MasterKey
from vrs.demo import residents
from vrs.storage import SQLiteStorage

from .conftest import ledger

ROOT = Path(__file__).resolve().parents[2]
# the child imports and says "staging" once the first batch sits in the staging file, or
# "merging" once the rows sit in the database file's WAL, uncommitted; then waits to be killed
CHILD = """
import sys
from pathlib import Path
from certs import IssuerKey
from vrs import Vrs, ledger_import
from vrs.crypto import MasterKey
from vrs.storage import SQLiteStorage

tmp, where = Path(sys.argv[1]), sys.argv[2]
vrs = Vrs(SQLiteStorage(tmp / "vrs.sqlite3"), MasterKey.load_or_create(tmp / "master.key"),
          IssuerKey.generate(), "https://vrs.test/issuer")
vrs.storage.each_connection("PRAGMA cache_size=5")  # a tiny cache spills uncommitted pages

def pause(word):
    print(word, flush=True)
    sys.stdin.readline()  # wait here, mid-import, to be killed

if where == "staging":
    stage = ledger_import.stage_batch

    def announce(*args):
        stage(*args)
        args[0].finish()  # the batch in the file, as a bigger import would have spilled it
        pause("staging")

    ledger_import.BATCH = 400  # the kill comes after the first batch
    ledger_import.stage_batch = announce
else:
    merge = vrs.storage.merge

    def announce(stage):
        merge(stage)
        pause("merging")

    vrs.storage.merge = announce
with (tmp / "ledger.csv").open(encoding="utf-8", newline="") as f:
    vrs.area("382051").import_csv(f, actor="test")
"""


@pytest.mark.parametrize("where", ["staging", "merging"])
def test_a_killed_import_leaves_nothing_and_can_run_again(
    where: str, vrs: Vrs, db_path: Path, tmp_path: Path, shc_key: IssuerKey
) -> None:
    people = list(residents(600, seed=3))
    for r in people:
        r.code = "382051"
    (tmp_path / "ledger.csv").write_text(ledger(people, "382051"), encoding="utf-8")
    vrs.storage.close()  # type: ignore[attr-defined]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), where],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == where
    staged = list(tmp_path.glob("vrs.sqlite3-import-*"))
    assert len(staged) == 1 and staged[0].stat().st_size > 0
    if where == "merging":
        assert Path(f"{db_path}-wal").stat().st_size > 0  # rows reached the file, uncommitted
    child.send_signal(signal.SIGKILL)
    child.wait(10)

    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT COUNT(*) FROM persons").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM doses").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM oplog WHERE action = 'records.import'").fetchone() == (
        0,
    )
    db.close()
    again = Vrs(
        SQLiteStorage(db_path),
        MasterKey.load_or_create(tmp_path / "master.key"),
        shc_key,
        "https://vrs.test/issuer",
    )
    assert not list(tmp_path.glob("vrs.sqlite3-import-*"))  # the dead import's file removed
    text = (tmp_path / "ledger.csv").read_text(encoding="utf-8")
    assert again.area("382051").import_csv(io.StringIO(text)) == len(people)
