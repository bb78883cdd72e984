"""The schema by migrations (yoyo): a database made before them is marked, not rebuilt."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from vrs import open_vrs
from vrs.demo import residents
from vrs.migrate import TABLE, steps

# made by the code before migrations (`kiosk-sim vrs demo-data --residents 6`, seed 2022):
# synthetic residents, sealed under the master key beside it
FIXTURE = Path(__file__).parent / "fixtures" / "made-before-migrations"


# what the steps after 0001_baseline add (0002: one issuance per center session)
ADDED_AFTER_BASELINE = {"issuances", "sqlite_autoindex_issuances_1"}


def schema(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name, sql FROM sqlite_master WHERE name NOT LIKE '%yoyo%'")
        return {name: sql for name, sql in rows}


def test_a_database_made_before_migrations_is_marked_at_the_first_and_keeps_its_records(
    tmp_path: Path,
) -> None:
    instance = tmp_path / "vrs"
    shutil.copytree(FIXTURE, instance)
    before = schema(instance / "vrs.sqlite3")
    assert TABLE not in before
    vrs = open_vrs(instance)
    with sqlite3.connect(instance / "vrs.sqlite3") as db:
        applied = [r[0] for r in db.execute(f"SELECT migration_id FROM {TABLE}")]
    assert applied == steps("sqlite") and applied[0] == "0001_baseline"
    after = schema(instance / "vrs.sqlite3")
    # its own tables exactly as they were; only what later steps add is new
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == ADDED_AFTER_BASELINE
    found = 0
    for r in residents(6):
        hit = vrs.area(r.code).find(r.my_number)
        if hit is not None:
            assert hit[1]["name"] == r.name
            found += 1
    assert found == 6
    vrs.storage.close()  # type: ignore[attr-defined]  # SQLiteStorage's
    # opened again: nothing to apply, nothing written
    data = (instance / "vrs.sqlite3").read_bytes()
    open_vrs(instance).storage.close()  # type: ignore[attr-defined]  # SQLiteStorage's
    assert (instance / "vrs.sqlite3").read_bytes() == data


def test_a_new_database_gets_the_same_schema_as_an_old_one(tmp_path: Path) -> None:
    open_vrs(tmp_path / "new").storage.close()  # type: ignore[attr-defined]  # SQLiteStorage's
    shutil.copytree(FIXTURE, tmp_path / "old")
    open_vrs(tmp_path / "old").storage.close()  # type: ignore[attr-defined]  # SQLiteStorage's
    assert schema(tmp_path / "new" / "vrs.sqlite3") == schema(tmp_path / "old" / "vrs.sqlite3")
