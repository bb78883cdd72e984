"""Storage behind a small interface; SQLite is the embedded default.

Only sealed blobs, blind indexes and opaque row IDs reach the database (M11).
Every write runs in one transaction (``with storage.transaction():``) so a
crash never leaves half a record. The SQL is plain enough for PostgreSQL to
take SQLite's place behind the same methods.

Under concurrency (the LGWAN listener's workers, the vaccination-site
listener's, an import command in another process):

- connections come from a pool, one per thread only while it uses one;
- operation-log entries written outside a transaction (every read logs one,
  M15) are committed in groups: one transaction for all the entries waiting
  at that moment, each caller answered only once its entry is on disk;
- an import checks and seals its rows into a staging file without any lock,
  then merges them in one short transaction (all rows or none).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from .errors import Code, VrsError
from .migrate import migrate_sqlite
from .storage_common import OPLOG_COLUMNS as OPLOG_COLUMNS
from .storage_common import TRANSFER_COLUMNS as TRANSFER_COLUMNS
from .storage_common import MunicipalityRow as MunicipalityRow
from .storage_common import PersonRow as PersonRow
from .storage_common import (
    StorageBase,
    busy,
    column_names,
    disk_full,
    holder,
    municipality_row,
    person,
    records,
)

log = logging.getLogger("vrs.storage")

# the schema itself: migrations/sqlite/ (vrs/migrate.py); a database older than the first
# migration lacks only the coupon's blind index, added before it (see _before_migrations)
# an import's rows before the merge, in a file of their own (no constraints: the merge checks)
STAGING = "-import-"  # staging files are named <database><STAGING><random>
STAGING_SCHEMA = """
CREATE TABLE persons (
    id TEXT NOT NULL, municipality TEXT NOT NULL, blind_index BLOB NOT NULL,
    sealed BLOB NOT NULL, moved_out INTEGER NOT NULL, deceased INTEGER NOT NULL,
    coupon_index BLOB);
CREATE TABLE doses (person_id TEXT NOT NULL, sealed BLOB NOT NULL);
"""
PERSON_INSERT = (
    "INSERT INTO persons (id, municipality, blind_index, sealed, moved_out, deceased,"
    " coupon_index) VALUES (?,?,?,?,?,?,?)"
)
OPLOG_INSERT = "INSERT INTO oplog (at, actor, area, action, target, outcome) VALUES (?,?,?,?,?,?)"
POOL_IDLE = 32  # idle connections kept (the two listeners' workers: 16 + 8)
CHECKPOINT_EVERY = 1.0  # seconds between checkpoints of the WAL, at most


class Staging(Protocol):
    def add_persons(self, rows: Iterable[tuple[PersonRow, bytes, bytes | None]]) -> None: ...
    def add_doses(self, rows: Iterable[tuple[str, bytes]]) -> None: ...
    def finish(self) -> None: ...


class Storage(Protocol):
    def transaction(self) -> contextlib.AbstractContextManager[None]: ...
    def in_transaction(self) -> bool: ...
    def staging(self) -> contextlib.AbstractContextManager[Any]: ...
    def merge(self, stage: Any) -> None: ...
    def add_municipality(self, m: MunicipalityRow) -> None: ...
    def municipalities(self) -> list[MunicipalityRow]: ...
    def find_person(self, municipality: str, blind_index: bytes) -> PersonRow | None: ...
    def coupon_holder(
        self, municipality: str, coupon_index: bytes
    ) -> tuple[str, bool, bool] | None: ...
    def get_person(self, municipality: str, person_id: str) -> PersonRow | None: ...
    def persons(self, municipality: str) -> Iterator[PersonRow]: ...
    def erase_person(self, municipality: str, person_id: str) -> bool: ...
    def doses(self, municipality: str, person_id: str) -> bytes | None: ...
    def put_doses(self, municipality: str, person_id: str, sealed: bytes) -> None: ...
    def dose_lists(self, municipality: str) -> list[tuple[str, bytes]]: ...
    def format_version(self) -> int | None: ...
    def set_format_version(self, version: int) -> None: ...
    def add_transfer(self, entry: dict[str, Any]) -> int: ...
    def transfers(self, area: str, limit: int) -> list[dict[str, Any]]: ...
    def add_certificate(
        self, cid: str, pid: str, municipality: str, kind: str, at: str
    ) -> None: ...
    def certificates(self, municipality: str, person_id: str) -> list[tuple[str, str, str]]: ...
    def add_issuance(
        self, session_id: str, municipality: str, certificate_ids: list[str], at: str
    ) -> bool: ...
    def staff(self, user_id: str) -> dict[str, Any] | None: ...
    def staff_in(self, area: str) -> list[dict[str, Any]]: ...
    def put_staff(self, row: dict[str, Any]) -> None: ...
    def log(
        self, at: str, actor: str, area: str, action: str, target: str, outcome: str
    ) -> None: ...
    def append_log(
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
            raise disk_full() from None
        if primary == sqlite3.SQLITE_IOERR:
            log.error("disk I/O error on the database (%s)", getattr(exc, "sqlite_errorname", "-"))
            raise VrsError(
                Code.STORAGE_ERROR,
                "the record system cannot use its disk; nothing was written. Try again later",
            ) from None
        raise


class SQLiteStorage(StorageBase):
    """A pool of connections to a WAL database file, shared by all threads.

    A connection is taken from the pool for one read, one transaction or one
    group commit and given back after it, so the number open follows the
    number of threads using the database at once, not the number of threads
    that ever did (idle ones beyond ``POOL_IDLE`` are closed). Within a
    transaction the thread keeps its connection: every read and write of
    that thread is part of it.

    Writers of this process queue on one lock before SQLite's write lock, so
    they are woken the moment it is free rather than polling in SQLite's busy
    handler; the busy timeout covers only other processes (an import command).
    Checkpoints run outside that lock (``_checkpoint_now_and_then``).
    """

    def __init__(self, path: Path | str, busy_timeout: float = 5.0) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._idle: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self.connections = 0  # open now, idle or in use
        self._pragmas: list[str] = []
        self._write_lock = threading.Lock()
        self._checkpoint_lock = threading.Lock()
        self._last_checkpoint = time.monotonic()
        self._log = _GroupCommit(self)
        if not Path(self.path).exists():
            Path(self.path).touch(mode=0o600)  # records of people: not for other local users
        _remove_stale_staging(Path(self.path))
        with self._connection() as db, _disk_errors():
            _before_migrations(db)
        with _disk_errors():
            migrate_sqlite(self.path, busy_timeout)

    # --- connections
    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        # on a full disk even opening fails: WAL mode needs room for its -shm file
        with _disk_errors():
            try:
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error:
                db.close()
                raise
        db.execute("PRAGMA foreign_keys=ON")
        # a commit is on the disk when COMMIT returns (the log entry of a read, a certificate
        # ID): group commit shares that sync among the reads waiting at once
        db.execute("PRAGMA synchronous=FULL")
        # 64 MB of page cache: an import's merge inserts blind indexes all over their B-tree
        db.execute("PRAGMA cache_size=-65536")
        # SQLite would checkpoint inside COMMIT, while this process's writers wait on the lock
        db.execute("PRAGMA wal_autocheckpoint=0")
        for sql in self._pragmas:
            db.execute(sql)
        return db

    def _take(self) -> sqlite3.Connection:
        with self._pool_lock:
            if self._idle:
                return self._idle.pop()  # the most recently used: its cache is warm
            self.connections += 1
        try:
            return self._open()
        except BaseException:
            self._closed(None)
            raise

    def _give(self, db: sqlite3.Connection) -> None:
        if db.in_transaction:  # never hand on a connection inside someone's transaction
            db.execute("ROLLBACK")
        with self._pool_lock:
            if len(self._idle) < POOL_IDLE:
                self._idle.append(db)
                return
        self._closed(db)

    def _closed(self, db: sqlite3.Connection | None) -> None:
        if db is not None:
            db.close()
        with self._pool_lock:
            self.connections -= 1

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection for a ``with`` block: the one it holds, or one from the pool."""
        held = getattr(self._local, "db", None)
        if held is not None:
            yield held
            return
        db = self._take()
        self._local.db = db
        self._local.discard = False
        try:
            yield db
        finally:
            self._local.db = None
            if self._local.discard:
                self._closed(db)
            else:
                self._give(db)

    def each_connection(self, sql: str) -> None:
        """Runs ``sql`` (a PRAGMA) on every idle connection now and on each one opened later."""
        self._pragmas.append(sql)
        with self._pool_lock:
            for db in self._idle:
                db.execute(sql)

    def sql(self, query: str, params: Iterable[Any] = ()) -> list[Any]:
        """Plain SQL on this thread's connection (inside its transaction, if any): for tests."""
        with self._connection() as db:
            return db.execute(query, tuple(params)).fetchall()

    def close(self) -> None:
        """Closes the idle connections (the last one to close removes the WAL and -shm files)."""
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for db in idle:
            self._closed(db)

    # --- transactions (``transaction()``: StorageBase)
    @contextlib.contextmanager
    def _outermost(self) -> Iterator[None]:
        with self._connection() as db:
            with self._writing(db):
                yield
            self._checkpoint_now_and_then(db)

    @contextlib.contextmanager
    def _writing(self, db: sqlite3.Connection) -> Iterator[None]:
        """One write transaction on ``db``, holding this process's write lock throughout."""
        if not self._write_lock.acquire(timeout=self.busy_timeout):
            raise busy()
        self._local.after = []
        try:
            with _disk_errors():
                try:
                    db.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    # another process's writer kept the lock past the timeout: a clear "try
                    # again" for the caller instead of an internal error
                    if "locked" in str(exc) or "busy" in str(exc):
                        raise busy() from None
                    raise
                self._local.depth = 1
                try:
                    yield
                    db.execute("COMMIT")  # a full disk fails here when pages wait in the cache
                except BaseException:
                    # on a full disk SQLite may have rolled back already: a second ROLLBACK
                    # would fail and hide the reason
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
                finally:
                    self._local.depth = 0
        finally:
            self._write_lock.release()
            for then in self._local.after:
                then()
            self._local.after = []

    def _checkpoint_now_and_then(self, db: sqlite3.Connection, force: bool = False) -> None:
        """Copies the WAL into the database file at most once a second, outside the write lock.

        PASSIVE: it waits for no reader and no writer, and writers go on
        appending while it runs. One thread at a time; the others skip it.
        """
        if not force and time.monotonic() - self._last_checkpoint < CHECKPOINT_EVERY:
            return
        if not self._checkpoint_lock.acquire(blocking=False):
            return
        try:
            self._last_checkpoint = time.monotonic()
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # a full disk: the WAL keeps the pages, and the next one tries
            log.warning("checkpoint not done (%s)", getattr(exc, "sqlite_errorname", "-"))
        finally:
            self._checkpoint_lock.release()

    def checkpoint(self) -> None:
        """Everything in the WAL copied into the database file and the WAL emptied (TRUNCATE)."""
        with self._connection() as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- the operation log outside a transaction: group commit
    def append_log(
        self, at: str, actor: str, area: str, action: str, target: str, outcome: str
    ) -> None:
        """An operation-log entry, committed when this returns.

        Inside this thread's transaction it is part of it (committed, or not,
        with the change it records). Otherwise it joins the entries other
        threads are waiting to have committed: one of them commits them all in
        one transaction (:class:`_GroupCommit`), so reads that log do not queue
        one by one on the write lock.
        """
        entry = (at, actor, area, action, target, outcome)
        if self.in_transaction():
            self.log(*entry)
        else:
            self._log.append(entry)

    def _commit_log(self, entries: list[tuple[str, ...]]) -> None:
        with self._connection() as db, self._writing(db):
            db.executemany(OPLOG_INSERT, entries)

    # --- imports: rows staged outside the write lock, merged in one short transaction
    @contextlib.contextmanager
    def staging(self) -> Iterator[SQLiteStaging]:
        """A staging database file beside the database, removed when the block ends.

        It is locked (flock) while in use; a process that dies mid-import
        leaves it behind unlocked, and the next :class:`SQLiteStorage` opened
        on the database removes it.
        """
        stage = SQLiteStaging(f"{self.path}{STAGING}{secrets.token_hex(8)}")
        try:
            yield stage
        finally:
            stage.remove()

    def merge(self, stage: SQLiteStaging) -> None:
        """The staged rows into persons and doses, inside the caller's transaction.

        One INSERT … SELECT per table: the write lock is held for the copy,
        not for reading, checking and sealing the file.
        """
        if not self.in_transaction():
            raise RuntimeError("merge() runs inside storage.transaction()")
        stage.finish()
        db = self._local.db
        schema = f"staging_{secrets.token_hex(4)}"
        db.execute("ATTACH DATABASE ? AS " + schema, (stage.path,))

        def detach() -> None:  # not possible inside the transaction; before the pool has it
            try:
                db.execute("DETACH DATABASE " + schema)
                db.execute("PRAGMA shrink_memory")  # the merge filled its page cache
            except sqlite3.Error:
                self._local.discard = True  # a connection with the file attached is not reused

        self._local.after.append(detach)
        cols = "id, municipality, blind_index, sealed, moved_out, deceased, coupon_index"
        db.execute(
            f"INSERT INTO persons ({cols}) SELECT {cols} FROM {schema}.persons ORDER BY rowid"
        )
        db.execute(
            "INSERT INTO doses (person_id, sealed)"
            f" SELECT person_id, sealed FROM {schema}.doses ORDER BY rowid"
        )

    # --- municipalities
    def add_municipality(self, m: MunicipalityRow) -> None:
        with self._connection() as db:
            db.execute("INSERT INTO municipalities VALUES (?,?,?,?,?,?,?,?)", m.values())

    def municipalities(self) -> list[MunicipalityRow]:
        with self._connection() as db:
            rows = db.execute("SELECT * FROM municipalities ORDER BY code").fetchall()
        return [municipality_row(r) for r in rows]

    # --- persons and doses (always within one municipality)
    def add_person(
        self, row: PersonRow, blind_index: bytes, coupon_index: bytes | None = None
    ) -> None:
        self.add_persons([(row, blind_index, coupon_index)])

    def add_persons(self, rows: Iterable[tuple[PersonRow, bytes, bytes | None]]) -> None:
        with self._connection() as db:
            db.executemany(PERSON_INSERT, (_person_values(r, bi, ci) for r, bi, ci in rows))

    def _person_where(self, municipality: str, column: str, value: Any) -> PersonRow | None:
        with self._connection() as db:
            r = db.execute(
                "SELECT id, municipality, sealed, moved_out, deceased FROM persons "
                f"WHERE municipality = ? AND {column} = ?",
                (municipality, value),
            ).fetchone()
        return person(r) if r else None

    def coupon_holder(
        self, municipality: str, coupon_index: bytes
    ) -> tuple[str, bool, bool] | None:
        """(row ID, moved out, deceased) of a coupon's holder: no sealed personal data."""
        with self._connection() as db:
            r = db.execute(
                "SELECT id, moved_out, deceased FROM persons "
                "WHERE municipality = ? AND coupon_index = ?",
                (municipality, coupon_index),
            ).fetchone()
        return holder(r) if r else None

    def persons(self, municipality: str) -> Iterator[PersonRow]:
        # a generator outlives any ``with`` block of its caller: inside a transaction it reads
        # the transaction's connection, otherwise one of its own until it is done
        held = self._local.db if self.in_transaction() else None
        db = held or self._take()
        cur = None
        try:
            cur = db.execute(
                "SELECT id, municipality, sealed, moved_out, deceased FROM persons "
                "WHERE municipality = ? ORDER BY rowid",
                (municipality,),
            )
            for r in cur:
                yield person(r)
        finally:
            if cur is not None:
                cur.close()  # a statement left open would pin its snapshot for the next user
            if held is None:
                self._give(db)

    def erase_person(self, municipality: str, person_id: str) -> bool:
        with self._connection() as db:
            cur = db.execute(
                "DELETE FROM persons WHERE municipality = ? AND id = ?", (municipality, person_id)
            )
        return cur.rowcount == 1

    def add_doses(self, rows: Iterable[tuple[str, bytes]]) -> None:
        """A person's doses, sealed together as one list."""
        with self._connection() as db:
            db.executemany("INSERT INTO doses VALUES (?,?)", rows)

    def doses(self, municipality: str, person_id: str) -> bytes | None:
        """A person's sealed dose list (SQLite has no second wall: the area's key opens it)."""
        with self._connection() as db:
            r = db.execute("SELECT sealed FROM doses WHERE person_id = ?", (person_id,)).fetchone()
        return r[0] if r else None

    def put_doses(self, municipality: str, person_id: str, sealed: bytes) -> None:
        """A person's whole dose list, replacing the one stored."""
        with self._connection() as db:
            db.execute("INSERT OR REPLACE INTO doses VALUES (?,?)", (person_id, sealed))

    def dose_lists(self, municipality: str) -> list[tuple[str, bytes]]:
        """(row ID, sealed dose list) of every person of an area that has one."""
        with self._connection() as db:
            return db.execute(
                "SELECT d.person_id, d.sealed FROM doses d JOIN persons p ON p.id = d.person_id "
                "WHERE p.municipality = ?",
                (municipality,),
            ).fetchall()  # all read before any is replaced (a REPLACE moves the row)

    def format_version(self) -> int | None:
        """How the blobs are sealed (``areas.FORMAT``); None: a database made before it."""
        with self._connection() as db:
            r = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        return int(r[0]) if r else None

    def set_format_version(self, version: int) -> None:
        with self._connection() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (str(version),))

    def add_certificate(self, cid: str, pid: str, municipality: str, kind: str, at: str) -> None:
        with self._connection() as db:
            db.execute(
                "INSERT INTO certificates VALUES (?,?,?,?,?)", (cid, pid, municipality, kind, at)
            )

    def add_issuance(
        self, session_id: str, municipality: str, certificate_ids: list[str], at: str
    ) -> bool:
        """The center session's one issuance; False (nothing written) if it had one already."""
        with self._connection() as db:
            cur = db.execute(
                "INSERT INTO issuances VALUES (?,?,?,?) ON CONFLICT (session_id) DO NOTHING",
                (session_id, municipality, " ".join(certificate_ids), at),
            )
            return cur.rowcount == 1

    def certificates(self, municipality: str, person_id: str) -> list[tuple[str, str, str]]:
        with self._connection() as db:
            return db.execute(
                "SELECT certificate_id, type, issued_at FROM certificates "
                "WHERE municipality = ? AND person_id = ? ORDER BY issued_at",
                (municipality, person_id),
            ).fetchall()

    # --- staff and the operation log
    def staff(self, user_id: str) -> dict[str, Any] | None:
        with self._connection() as db:
            cur = db.execute("SELECT * FROM staff WHERE user_id = ?", (user_id,))
            r = cur.fetchone()
            return records(column_names(cur.description), [r])[0] if r else None

    def staff_in(self, area: str) -> list[dict[str, Any]]:
        with self._connection() as db:
            cur = db.execute("SELECT * FROM staff WHERE area = ? ORDER BY user_id", (area,))
            return records(column_names(cur.description), cur.fetchall())

    def put_staff(self, row: dict[str, Any]) -> None:
        cols = list(row)
        with self._connection() as db:
            db.execute(
                f"INSERT OR REPLACE INTO staff ({','.join(cols)})"
                f" VALUES ({','.join('?' * len(cols))})",
                [row[c] for c in cols],
            )

    def log(self, at: str, actor: str, area: str, action: str, target: str, outcome: str) -> None:
        """An entry in the open transaction (``append_log`` outside one)."""
        with self._connection() as db:
            db.execute(OPLOG_INSERT, (at, actor, area, action, target, outcome))

    def oplog(self, area: str, limit: int) -> list[dict[str, Any]]:
        with self._connection() as db:
            rows = db.execute(
                f"SELECT {','.join(OPLOG_COLUMNS)} FROM oplog "
                "WHERE area = ? ORDER BY id DESC LIMIT ?",
                (area, limit),
            ).fetchall()
        return records(OPLOG_COLUMNS, rows)

    def add_transfer(self, entry: dict[str, Any]) -> int:
        cols = TRANSFER_COLUMNS[1:]
        with self._connection() as db:
            cur = db.execute(
                f"INSERT INTO transfers ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                [entry[c] for c in cols],
            )
        return int(cur.lastrowid or 0)

    def transfers(self, area: str, limit: int) -> list[dict[str, Any]]:
        """Transfers out of or into ``area``, newest first."""
        with self._connection() as db:
            cur = db.execute(
                f"SELECT {','.join(TRANSFER_COLUMNS)} FROM transfers "
                "WHERE from_area = ? OR to_area = ? ORDER BY id DESC LIMIT ?",
                (area, area, limit),
            )
            return records(TRANSFER_COLUMNS, cur.fetchall())

    def count_persons(self) -> dict[str, int]:
        with self._connection() as db:
            return dict(
                db.execute("SELECT municipality, COUNT(*) FROM persons GROUP BY municipality")
            )


class _Batch:
    """Log entries committed together, and how that went."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, ...]] = []
        self.done = False
        self.error: BaseException | None = None


class _GroupCommit:
    """Operation-log entries of many threads, committed by one of them in one transaction.

    A thread adds its entry to the open batch and waits. If no commit is
    running, it takes the batch and commits it (the leader); entries that
    arrive meanwhile gather in the next batch, which the next free thread
    commits as soon as this commit ends. Nobody returns before the commit
    that holds its entry has ended: the entry is on disk before the answer
    it belongs to goes out (M15), and a failed commit fails every request in
    the batch with its reason (a full disk: 503 storage_full).
    """

    def __init__(self, storage: SQLiteStorage) -> None:
        self._storage = storage
        self._cond = threading.Condition()
        self._open = _Batch()
        self._committing = False

    def append(self, entry: tuple[str, ...]) -> None:
        with self._cond:
            batch = self._open
            batch.entries.append(entry)
            while self._committing and not batch.done:
                self._cond.wait()
            lead = not batch.done
            if lead:
                self._committing = True
                self._open = _Batch()
        if lead:
            try:
                self._storage._commit_log(batch.entries)
            except BaseException as exc:
                batch.error = exc
            with self._cond:
                batch.done = True
                self._committing = False
                self._cond.notify_all()
            with self._storage._connection() as db:
                self._storage._checkpoint_now_and_then(db)
        if batch.error is not None:
            err = batch.error
            if isinstance(err, VrsError):  # each waiter raises its own (tracebacks are per raise)
                raise VrsError(err.code, err.message, err.details) from None
            raise RuntimeError("the operation log could not be written") from err


class SQLiteStaging:
    """An import's rows, checked and sealed, in a file of their own until the merge.

    No journal and no sync: the file is thrown away after the merge, and
    after a crash. Only sealed blobs and blind indexes, as in the database.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # a live import's file: not stale
        self._db: sqlite3.Connection | None = None
        try:
            with _disk_errors():
                self._db = sqlite3.connect(path, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=OFF")
                self._db.execute("PRAGMA synchronous=OFF")
                self._db.executescript(STAGING_SCHEMA)
                self._db.execute("BEGIN")
        except BaseException:
            self.remove()
            raise

    def add_persons(self, rows: Iterable[tuple[PersonRow, bytes, bytes | None]]) -> None:
        assert self._db is not None
        with _disk_errors():
            self._db.executemany(PERSON_INSERT, (_person_values(r, bi, ci) for r, bi, ci in rows))

    def add_doses(self, rows: Iterable[tuple[str, bytes]]) -> None:
        assert self._db is not None
        with _disk_errors():
            self._db.executemany("INSERT INTO doses VALUES (?,?)", rows)

    def finish(self) -> None:
        """Every staged row written to the file, for the merge to read."""
        if self._db is not None and self._db.in_transaction:
            with _disk_errors():
                self._db.execute("COMMIT")

    def remove(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def _remove_stale_staging(database: Path) -> None:
    """Staging files of imports whose process died (no one holds their lock any more)."""
    for path in database.parent.glob(database.name + STAGING + "*"):
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # an import in progress, in this or another process
            continue
        try:
            path.unlink(missing_ok=True)
            log.info("removed the staging file of an interrupted import")
        finally:
            os.close(fd)


def _before_migrations(db: sqlite3.Connection) -> None:
    """A database made before vaccination coupons: the column the first migration indexes."""
    columns = {r[1] for r in db.execute("PRAGMA table_info(persons)")}
    if columns and "coupon_index" not in columns:
        db.execute("ALTER TABLE persons ADD COLUMN coupon_index BLOB")


def _person_values(r: PersonRow, bi: bytes, ci: bytes | None) -> tuple[Any, ...]:
    return (r.id, r.municipality, bi, r.sealed, int(r.moved_out), int(r.deceased), ci)


DATABASE_ENV = "VRS_DATABASE_URL"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def database_of(given: str | Path | None, instance: Path) -> str | Path:
    """The database chosen: given, else ``$VRS_DATABASE_URL``, else the instance's SQLite file."""
    if given is not None and str(given) != "":
        return given
    return os.environ.get(DATABASE_ENV) or instance / "vrs.sqlite3"


def is_postgres(database: str | Path) -> bool:
    return isinstance(database, str) and database.startswith(POSTGRES_SCHEMES)


def open_storage(database: str | Path) -> Storage:
    """SQLite for a file path (or ``sqlite:///PATH``), PostgreSQL for a ``postgresql://`` URL."""
    if is_postgres(database):
        from .pg_storage import PostgresStorage

        return PostgresStorage(str(database))
    text = str(database)
    if text.startswith("sqlite:///"):
        text = text.removeprefix("sqlite://")  # sqlite:////abs/path: the path keeps its slash
    elif "://" in text:
        raise VrsError(
            Code.BAD_REQUEST,
            "the database must be a SQLite file, sqlite:///PATH or postgresql://…"
            f" (not {text.partition('://')[0]}://)",
        )
    return SQLiteStorage(text)
