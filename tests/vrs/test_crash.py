"""A killed import process (kill -9, a power cut) leaves no half-imported records."""

from __future__ import annotations

import io
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from certs import IssuerKey
from vrs import Vrs
from vrs.crypto import MasterKey
from vrs.demo import residents
from vrs.storage import SQLiteStorage

from .conftest import ledger

ROOT = Path(__file__).resolve().parents[2]
# the child imports and says "writing" once the first batch sits in the database file's WAL
CHILD = """
import sys
from pathlib import Path
from certs import IssuerKey
from vrs import Vrs, records
from vrs.crypto import MasterKey
from vrs.storage import SQLiteStorage

tmp = Path(sys.argv[1])
vrs = Vrs(SQLiteStorage(tmp / "vrs.sqlite3"), MasterKey.load_or_create(tmp / "master.key"),
          IssuerKey.generate(), "https://vrs.test/issuer")
vrs.storage._db.execute("PRAGMA cache_size=5")  # a tiny cache spills uncommitted pages to disk
flush = records.Area._flush

def announce(self, persons, doses):
    flush(self, persons, doses)
    print("writing", flush=True)
    sys.stdin.readline()  # wait here, mid-import, to be killed

records.BATCH = 400  # the kill comes after the first batch
records.Area._flush = announce
with (tmp / "ledger.csv").open(encoding="utf-8", newline="") as f:
    vrs.area("382051").import_csv(f)
"""


def test_a_killed_import_leaves_nothing_and_can_run_again(
    vrs: Vrs, db_path: Path, tmp_path: Path, shc_key: IssuerKey
) -> None:
    people = list(residents(600, seed=3))
    for r in people:
        r.code = "382051"
    (tmp_path / "ledger.csv").write_text(ledger(people, "382051"), encoding="utf-8")
    vrs.storage.close()  # type: ignore[attr-defined]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "writing"
    assert Path(f"{db_path}-wal").stat().st_size > 0  # rows reached the file, uncommitted
    child.send_signal(signal.SIGKILL)
    child.wait(10)

    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT COUNT(*) FROM persons").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM doses").fetchone() == (0,)
    db.close()
    again = Vrs(
        SQLiteStorage(db_path),
        MasterKey.load_or_create(tmp_path / "master.key"),
        shc_key,
        "https://vrs.test/issuer",
    )
    text = (tmp_path / "ledger.csv").read_text(encoding="utf-8")
    assert again.area("382051").import_csv(io.StringIO(text)) == len(people)
