"""Storage behind a small interface; SQLite is the embedded default.

Only sealed blobs, blind indexes and opaque row IDs reach the database (M11).
Every write runs in one transaction (``with storage.transaction():``) so a
crash never leaves half a record. The SQL is plain enough for PostgreSQL to
take SQLite's place behind the same methods.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .errors import Code, VrsError

log = logging.getLogger("vrs.storage")

SCHEMA = """
CREATE TABLE IF NOT EXISTS municipalities (
    code TEXT PRIMARY KEY, name_ja TEXT NOT NULL, name_en TEXT NOT NULL,
    prefecture TEXT NOT NULL, offers_convenience_store INTEGER NOT NULL,
    mayor_ja TEXT NOT NULL, mayor_en TEXT NOT NULL, wrapped_key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS persons (
    id TEXT PRIMARY KEY, municipality TEXT NOT NULL REFERENCES municipalities(code),
    blind_index BLOB NOT NULL, sealed BLOB NOT NULL,
    moved_out INTEGER NOT NULL DEFAULT 0, deceased INTEGER NOT NULL DEFAULT 0,
    coupon_index BLOB,
    UNIQUE (municipality, blind_index));
CREATE TABLE IF NOT EXISTS doses (
    person_id TEXT PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE, sealed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS certificates (
    certificate_id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    municipality TEXT NOT NULL, type TEXT NOT NULL, issued_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS staff (
    user_id TEXT PRIMARY KEY, area TEXT NOT NULL, role TEXT NOT NULL,
    password_hash TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL, created_at TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0, locked_until REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS oplog (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL,
    area TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS oplog_area ON oplog (area, id);
CREATE TABLE IF NOT EXISTS transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL,
    from_area TEXT NOT NULL, to_area TEXT NOT NULL, from_person TEXT, to_person TEXT NOT NULL,
    doses INTEGER NOT NULL, outcome TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS transfers_from ON transfers (from_area, id);
CREATE INDEX IF NOT EXISTS transfers_to ON transfers (to_area, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# after SCHEMA, also on databases made before the column existed (a vaccination coupon's
# number is found by its own blind index; a person without a coupon has NULL there)
COUPON_INDEX = """
CREATE UNIQUE INDEX IF NOT EXISTS persons_coupon ON persons (municipality, coupon_index)
    WHERE coupon_index IS NOT NULL;
"""
# from_person/to_person: opaque row IDs in each area; from_person is empty when A had no record
TRANSFER_COLUMNS = (
    "id",
    "at",
    "actor",
    "from_area",
    "to_area",
    "from_person",
    "to_person",
    "doses",
    "outcome",
)


@dataclass(frozen=True)
class MunicipalityRow:
    code: str
    name_ja: str
    name_en: str
    prefecture: str
    offers_convenience_store: bool
    mayor_ja: str
    mayor_en: str
    wrapped_key: bytes


@dataclass(frozen=True)
class PersonRow:
    id: str
    municipality: str
    sealed: bytes
    moved_out: bool
    deceased: bool


class Storage(Protocol):
    def transaction(self) -> contextlib.AbstractContextManager[None]: ...
    def add_municipality(self, m: MunicipalityRow) -> None: ...
    def municipalities(self) -> list[MunicipalityRow]: ...
    def add_person(
        self, row: PersonRow, blind_index: bytes, coupon_index: bytes | None = None
    ) -> None: ...
    def add_persons(self, rows: Iterable[tuple[PersonRow, bytes, bytes | None]]) -> None: ...
    def find_person(self, municipality: str, blind_index: bytes) -> PersonRow | None: ...
    def coupon_holder(
        self, municipality: str, coupon_index: bytes
    ) -> tuple[str, bool, bool] | None: ...
    def get_person(self, municipality: str, person_id: str) -> PersonRow | None: ...
    def persons(self, municipality: str) -> Iterator[PersonRow]: ...
    def erase_person(self, municipality: str, person_id: str) -> bool: ...
    def add_doses(self, rows: Iterable[tuple[str, bytes]]) -> None: ...
    def doses(self, person_id: str) -> bytes | None: ...
    def put_doses(self, person_id: str, sealed: bytes) -> None: ...
    def dose_lists(self, municipality: str) -> list[tuple[str, bytes]]: ...
    def format_version(self) -> int | None: ...
    def set_format_version(self, version: int) -> None: ...
    def add_transfer(self, entry: dict[str, Any]) -> int: ...
    def transfers(self, area: str, limit: int) -> list[dict[str, Any]]: ...
    def add_certificate(
        self, cid: str, pid: str, municipality: str, kind: str, at: str
    ) -> None: ...
    def certificates(self, municipality: str, person_id: str) -> list[tuple[str, str, str]]: ...
    def staff(self, user_id: str) -> dict[str, Any] | None: ...
    def staff_in(self, area: str) -> list[dict[str, Any]]: ...
    def put_staff(self, row: dict[str, Any]) -> None: ...
    def log(
        self, at: str, actor: str, area: str, action: str, target: str, outcome: str
    ) -> None: ...
    def oplog(self, area: str, limit: int) -> list[dict[str, Any]]: ...
    def count_persons(self) -> dict[str, int]: ...


@contextlib.contextmanager
def _disk_errors() -> Iterator[None]:
    """A full or failing disk becomes a 503 with a stable code, not an internal error."""
    try:
        yield
    except sqlite3.Error as exc:
        primary = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        if primary == sqlite3.SQLITE_FULL:
            log.error("the database's disk is full: the write was not made")
            raise VrsError(
                Code.STORAGE_FULL,
                "the record system's disk is full; nothing was written. Try again later",
            ) from None
        if primary == sqlite3.SQLITE_IOERR:
            log.error("disk I/O error on the database (%s)", getattr(exc, "sqlite_errorname", "-"))
            raise VrsError(
                Code.STORAGE_ERROR,
                "the record system cannot use its disk; nothing was written. Try again later",
            ) from None
        raise


class SQLiteStorage:
    """One connection per thread on a WAL database file."""

    def __init__(self, path: Path | str, busy_timeout: float = 5.0) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        if self.path != ":memory:" and not Path(self.path).exists():
            Path(self.path).touch(mode=0o600)  # records of people: not for other local users
        with _disk_errors():
            self._db.executescript(SCHEMA)  # executescript commits on its own
        self._migrate()

    @property
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=True,
            )
            # on a full disk even opening fails: WAL mode needs room for its -shm file
            with _disk_errors():
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                except sqlite3.Error:
                    db.close()
                    raise
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
            # 64 MB of page cache: blind-index inserts land all over their B-tree
            db.execute("PRAGMA cache_size=-65536")
            self._local.db = db
            self._local.depth = 0
        return db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        db = self._db
        if self._local.depth:  # nested: part of the enclosing transaction
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        with _disk_errors():
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                # another writer (an import holds the lock for its whole run) kept it past the
                # timeout: a clear "try again" for the caller instead of an internal error
                if "locked" in str(exc) or "busy" in str(exc):
                    raise VrsError(
                        Code.BUSY, "the record system is busy with another write; try again shortly"
                    ) from None
                raise
            self._local.depth = 1
            try:
                yield
                db.execute("COMMIT")  # a full disk fails here when the pages wait in the cache
            except BaseException:
                # on a full disk SQLite may have rolled back already: a second ROLLBACK
                # would fail and hide the reason
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            finally:
                self._local.depth = 0

    def _migrate(self) -> None:
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(persons)")}
        if "coupon_index" not in columns:
            self._db.execute("ALTER TABLE persons ADD COLUMN coupon_index BLOB")
        self._db.executescript(COUPON_INDEX)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # --- municipalities
    def add_municipality(self, m: MunicipalityRow) -> None:
        self._db.execute(
            "INSERT INTO municipalities VALUES (?,?,?,?,?,?,?,?)",
            (
                m.code,
                m.name_ja,
                m.name_en,
                m.prefecture,
                int(m.offers_convenience_store),
                m.mayor_ja,
                m.mayor_en,
                m.wrapped_key,
            ),
        )

    def municipalities(self) -> list[MunicipalityRow]:
        rows = self._db.execute("SELECT * FROM municipalities ORDER BY code").fetchall()
        return [MunicipalityRow(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7]) for r in rows]

    # --- persons and doses (always within one municipality)
    def add_person(
        self, row: PersonRow, blind_index: bytes, coupon_index: bytes | None = None
    ) -> None:
        self.add_persons([(row, blind_index, coupon_index)])

    def add_persons(self, rows: Iterable[tuple[PersonRow, bytes, bytes | None]]) -> None:
        self._db.executemany(
            "INSERT INTO persons (id, municipality, blind_index, sealed, moved_out, deceased,"
            " coupon_index) VALUES (?,?,?,?,?,?,?)",
            (
                (r.id, r.municipality, bi, r.sealed, int(r.moved_out), int(r.deceased), ci)
                for r, bi, ci in rows
            ),
        )

    def find_person(self, municipality: str, blind_index: bytes) -> PersonRow | None:
        r = self._db.execute(
            "SELECT id, municipality, sealed, moved_out, deceased FROM persons "
            "WHERE municipality = ? AND blind_index = ?",
            (municipality, blind_index),
        ).fetchone()
        return PersonRow(r[0], r[1], r[2], bool(r[3]), bool(r[4])) if r else None

    def coupon_holder(
        self, municipality: str, coupon_index: bytes
    ) -> tuple[str, bool, bool] | None:
        """(row ID, moved out, deceased) of a coupon's holder: no sealed personal data."""
        r = self._db.execute(
            "SELECT id, moved_out, deceased FROM persons "
            "WHERE municipality = ? AND coupon_index = ?",
            (municipality, coupon_index),
        ).fetchone()
        return (r[0], bool(r[1]), bool(r[2])) if r else None

    def get_person(self, municipality: str, person_id: str) -> PersonRow | None:
        r = self._db.execute(
            "SELECT id, municipality, sealed, moved_out, deceased FROM persons "
            "WHERE municipality = ? AND id = ?",
            (municipality, person_id),
        ).fetchone()
        return PersonRow(r[0], r[1], r[2], bool(r[3]), bool(r[4])) if r else None

    def persons(self, municipality: str) -> Iterator[PersonRow]:
        cur = self._db.execute(
            "SELECT id, municipality, sealed, moved_out, deceased FROM persons "
            "WHERE municipality = ? ORDER BY rowid",
            (municipality,),
        )
        for r in cur:
            yield PersonRow(r[0], r[1], r[2], bool(r[3]), bool(r[4]))

    def erase_person(self, municipality: str, person_id: str) -> bool:
        cur = self._db.execute(
            "DELETE FROM persons WHERE municipality = ? AND id = ?", (municipality, person_id)
        )
        return cur.rowcount == 1

    def add_doses(self, rows: Iterable[tuple[str, bytes]]) -> None:
        """A person's doses, sealed together as one list."""
        self._db.executemany("INSERT INTO doses VALUES (?,?)", rows)

    def doses(self, person_id: str) -> bytes | None:
        r = self._db.execute(
            "SELECT sealed FROM doses WHERE person_id = ?", (person_id,)
        ).fetchone()
        return r[0] if r else None

    def put_doses(self, person_id: str, sealed: bytes) -> None:
        """A person's whole dose list, replacing the one stored."""
        self._db.execute("INSERT OR REPLACE INTO doses VALUES (?,?)", (person_id, sealed))

    def dose_lists(self, municipality: str) -> list[tuple[str, bytes]]:
        """(row ID, sealed dose list) of every person of an area that has one."""
        return self._db.execute(
            "SELECT d.person_id, d.sealed FROM doses d JOIN persons p ON p.id = d.person_id "
            "WHERE p.municipality = ?",
            (municipality,),
        ).fetchall()  # all read before any is replaced (a REPLACE moves the row)

    def format_version(self) -> int | None:
        """How the blobs are sealed (``records.FORMAT``); None: a database made before it."""
        r = self._db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        return int(r[0]) if r else None

    def set_format_version(self, version: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (str(version),))

    def add_certificate(self, cid: str, pid: str, municipality: str, kind: str, at: str) -> None:
        self._db.execute(
            "INSERT INTO certificates VALUES (?,?,?,?,?)", (cid, pid, municipality, kind, at)
        )

    def certificates(self, municipality: str, person_id: str) -> list[tuple[str, str, str]]:
        return self._db.execute(
            "SELECT certificate_id, type, issued_at FROM certificates "
            "WHERE municipality = ? AND person_id = ? ORDER BY issued_at",
            (municipality, person_id),
        ).fetchall()

    # --- staff and the operation log
    def staff(self, user_id: str) -> dict[str, Any] | None:
        cur = self._db.execute("SELECT * FROM staff WHERE user_id = ?", (user_id,))
        r = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], r, strict=True)) if r else None

    def staff_in(self, area: str) -> list[dict[str, Any]]:
        cur = self._db.execute("SELECT * FROM staff WHERE area = ? ORDER BY user_id", (area,))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def put_staff(self, row: dict[str, Any]) -> None:
        cols = list(row)
        self._db.execute(
            f"INSERT OR REPLACE INTO staff ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
            [row[c] for c in cols],
        )

    def log(self, at: str, actor: str, area: str, action: str, target: str, outcome: str) -> None:
        self._db.execute(
            "INSERT INTO oplog (at, actor, area, action, target, outcome) VALUES (?,?,?,?,?,?)",
            (at, actor, area, action, target, outcome),
        )

    def oplog(self, area: str, limit: int) -> list[dict[str, Any]]:
        cur = self._db.execute(
            "SELECT id, at, actor, area, action, target, outcome FROM oplog "
            "WHERE area = ? ORDER BY id DESC LIMIT ?",
            (area, limit),
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def add_transfer(self, entry: dict[str, Any]) -> int:
        cols = TRANSFER_COLUMNS[1:]
        cur = self._db.execute(
            f"INSERT INTO transfers ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
            [entry[c] for c in cols],
        )
        return int(cur.lastrowid or 0)

    def transfers(self, area: str, limit: int) -> list[dict[str, Any]]:
        """Transfers out of or into ``area``, newest first."""
        cur = self._db.execute(
            f"SELECT {','.join(TRANSFER_COLUMNS)} FROM transfers "
            "WHERE from_area = ? OR to_area = ? ORDER BY id DESC LIMIT ?",
            (area, area, limit),
        )
        return [dict(zip(TRANSFER_COLUMNS, r, strict=True)) for r in cur.fetchall()]

    def count_persons(self) -> dict[str, int]:
        return dict(
            self._db.execute("SELECT municipality, COUNT(*) FROM persons GROUP BY municipality")
        )
