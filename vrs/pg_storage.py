"""The storage on PostgreSQL (psycopg 3, a psycopg-pool pool), behind the same methods as SQLite's.

It connects as the application's role (``vrs_app``: not the tables' owner, no
BYPASSRLS), so row-level security is a second wall around each area (M10):
every method that reads or writes an area's rows first sets the area for its
transaction (``set_config('app.municipality', code, true)``), and the policies
of ``migrations/postgresql/0002_row_level_security.sql`` show and take only
that area's rows. A query with no area set sees none. PostgreSQL only ever
holds sealed blobs, HMAC blind indexes and opaque row IDs (M11).

An import runs in one transaction from its first row to its last: each batch
of sealed rows is COPYed into temporary tables of its connection and merged
with INSERT … SELECT while the next batch is read and sealed (all rows or
none; issuance answering meanwhile: row locks on its own new rows only).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg_pool import ConnectionPool, PoolTimeout

from . import storage_common as common
from .errors import Code, VrsError
from .migrate import pending
from .storage_common import OPLOG_COLUMNS, TRANSFER_COLUMNS, MunicipalityRow, PersonRow

log = logging.getLogger("vrs.storage")

POOL_MAX = 24  # the two listeners' workers (16 + 8); PostgreSQL's default limit is 100
CONNECT_TIMEOUT = 5.0  # seconds to get a connection from the pool (or open one)
LOCK_TIMEOUT = "5s"  # a write waiting on another's row lock longer: 503 busy
SCOPE = "SELECT set_config('app.municipality', %s, true)"
PERSON_COLUMNS = "id, municipality, sealed, moved_out, deceased"
STAGE_PERSON_COLUMNS = "id, municipality, blind_index, sealed, moved_out, deceased, coupon_index"


@contextlib.contextmanager
def _db_errors() -> Iterator[None]:
    """The database's troubles as 503s with a stable code, never an internal error."""
    try:
        yield
    except pgerrors.DiskFull:
        raise common.disk_full() from None
    except (pgerrors.LockNotAvailable, pgerrors.DeadlockDetected, PoolTimeout):
        raise common.busy() from None
    except psycopg.OperationalError as exc:  # the server gone, restarting, refusing
        log.error("the database cannot be reached (%s)", type(exc).__name__)
        raise common.unreachable() from None


class PostgresStaging:
    """An import's rows on their way into persons and doses, inside the import's one transaction.

    The transaction opens with the staging and commits only after ``merge``
    (rolled back otherwise: all rows or none, as on SQLite). Each batch is
    COPYed (binary) into temporary tables of the connection (the session's
    own, not WAL-logged, dropped at commit) and moved into persons and doses
    at once with INSERT … SELECT, by a thread of its own: the server checks
    and indexes one batch while this process reads and seals the next, so
    the two cores work side by side rather than one after the other. The
    rows are invisible to every other transaction until the commit, and the
    transaction locks only its own new rows, so issuance goes on meanwhile.
    A batch that fails (a person already registered, a coupon number twice)
    is raised at the next call, or by ``finish``.
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.municipality: str | None = None
        self.merged = False
        self._error: BaseException | None = None
        self._queue: queue.Queue[tuple[str, list[Any]] | None] = queue.Queue(maxsize=2)
        conn.execute(
            "CREATE TEMPORARY TABLE stage_persons (id TEXT NOT NULL, municipality TEXT NOT NULL,"
            " blind_index BYTEA NOT NULL, sealed BYTEA NOT NULL, moved_out BOOLEAN NOT NULL,"
            " deceased BOOLEAN NOT NULL, coupon_index BYTEA) ON COMMIT DROP"
        )
        conn.execute(
            "CREATE TEMPORARY TABLE stage_doses (person_id TEXT NOT NULL, sealed BYTEA NOT NULL)"
            " ON COMMIT DROP"
        )
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, name="vrs-import-copy", daemon=True
        )
        self._thread.start()

    def add_persons(self, rows: Iterable[tuple[PersonRow, bytes, bytes | None]]) -> None:
        batch = list(rows)
        for r, _bi, _ci in batch:
            if r.municipality != self.municipality:
                if self.municipality is not None:
                    raise RuntimeError("an import goes into one area")
                self.municipality = r.municipality
        self._put("persons", batch)

    def add_doses(self, rows: Iterable[tuple[str, bytes]]) -> None:
        self._put("doses", list(rows))

    def finish(self) -> None:
        """Every batch moved into persons and doses (or the first failure raised)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._raise()

    # --- the copying thread
    def _put(self, kind: str, rows: list[Any]) -> None:
        self._raise()
        if self._thread is None:
            raise RuntimeError("the staging is finished")
        if rows:
            self._queue.put((kind, rows))

    def _raise(self) -> None:
        if self._error is not None:
            with _db_errors():
                raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:  # after a failure the rest is only drained
                try:
                    self._move(*item)
                except BaseException as exc:  # raised in the importing thread
                    self._error = exc

    def _move(self, kind: str, rows: list[Any]) -> None:
        conn = self.conn
        with conn.cursor() as cur:
            cur.execute(SCOPE, (self.municipality,))
            if kind == "persons":
                with cur.copy(
                    f"COPY stage_persons ({STAGE_PERSON_COLUMNS}) FROM STDIN (FORMAT BINARY)"
                ) as cp:
                    cp.set_types(["text", "text", "bytea", "bytea", "bool", "bool", "bytea"])
                    for r, bi, ci in rows:
                        cp.write_row(
                            (r.id, r.municipality, bi, r.sealed, r.moved_out, r.deceased, ci)
                        )
                cur.execute(
                    f"INSERT INTO persons ({STAGE_PERSON_COLUMNS})"
                    f" SELECT {STAGE_PERSON_COLUMNS} FROM stage_persons"
                )
                cur.execute("TRUNCATE stage_persons")
            else:
                with cur.copy(
                    "COPY stage_doses (person_id, sealed) FROM STDIN (FORMAT BINARY)"
                ) as cp:
                    cp.set_types(["text", "bytea"])
                    for row in rows:
                        cp.write_row(row)
                cur.execute(
                    "INSERT INTO doses (person_id, municipality, sealed)"
                    " SELECT person_id, %s, sealed FROM stage_doses",
                    (self.municipality,),
                )
                cur.execute("TRUNCATE stage_doses")


class PostgresStorage(common.StorageBase):
    """A pool of connections as the application's role; one per thread only while it uses one.

    Within ``transaction()`` the thread keeps its connection, so every read
    and write of that thread is part of it. Each method that touches an
    area's rows sets that area first; the setting lasts until the
    transaction ends, and the next such method sets its own.
    """

    def __init__(self, url: str, max_size: int = POOL_MAX) -> None:
        self._local = threading.local()
        self._url = url
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=CONNECT_TIMEOUT,
            kwargs={"autocommit": True},
            configure=self._configure,
            check=ConnectionPool.check_connection,  # a restarted server: no dead connection lent
            name="vrs",
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except PoolTimeout:
            self._pool.close()
            raise VrsError(
                Code.STORAGE_ERROR,
                "cannot connect to the PostgreSQL database (is it running, and are the URL's"
                " user and password right?)",
            ) from None
        self._check_schema()

    @staticmethod
    def _configure(conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        conn.execute("SET temp_buffers = '64MB'")  # an import's staging tables in memory

    def _check_schema(self) -> None:
        with self._conn() as conn:
            try:
                applied = {r[0] for r in conn.execute("SELECT migration_id FROM _yoyo_migration")}
            except pgerrors.UndefinedTable:
                applied = set()
        missing = pending(applied, "postgresql")
        if missing:
            self.close()
            raise VrsError(
                Code.STORAGE_ERROR,
                f"the database's schema lacks {', '.join(missing)}: migrate it as its owner"
                " (`bin/pg start INSTANCE` does, or `python -m vrs.pg migrate OWNER_URL`)",
            )

    def close(self) -> None:
        self._pool.close()

    # --- connections and transactions
    @contextlib.contextmanager
    def _conn(self, area: str | None = None) -> Iterator[psycopg.Connection[Any]]:
        """This thread's connection in a transaction (its own, or a short one), ``area`` set."""
        held = getattr(self._local, "conn", None)
        if held is not None and self.in_transaction():
            if area is not None:
                held.execute(SCOPE, (area,))
            yield held
            return
        with _db_errors(), self._connection() as conn, conn.transaction():
            if area is not None:
                conn.execute(SCOPE, (area,))
            yield conn

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """An import's staging connection while one is open on this thread, else the pool's."""
        stage = getattr(self._local, "stage", None)
        if stage is not None:
            yield stage.conn
            return
        try:
            conn = self._pool.getconn()
        except PoolTimeout:
            if self._all_lent() and not self._server_down():
                raise common.busy() from None
            # the server is gone, or the pool is still reconnecting after it went away (its
            # attempts back off): either way the database is why, not other requests
            log.error("the database cannot be reached (no connection in time)")
            raise common.unreachable() from None
        try:
            yield conn
        finally:
            self._pool.putconn(conn)

    def _all_lent(self) -> bool:
        stats = self._pool.get_stats()
        return stats.get("pool_size", 0) >= self._pool.max_size and not stats.get("pool_available")

    def _server_down(self) -> bool:
        """Whether a connection of its own fails (asked only after a timeout, when every
        connection of the pool was lent: busy requests, or the server gone meanwhile)."""
        try:
            psycopg.connect(self._url, connect_timeout=2).close()
        except psycopg.OperationalError:
            return True
        return False

    @contextlib.contextmanager
    def _outermost(self) -> Iterator[None]:
        """The outermost ``transaction()`` (StorageBase): this thread keeps its connection."""
        with _db_errors(), self._connection() as conn:
            try:
                with conn.transaction():
                    self._local.conn = conn
                    self._local.depth = 1
                    yield
            finally:
                self._local.conn = None
                self._local.depth = 0

    def sql(self, query: str, params: Iterable[Any] = (), area: str | None = None) -> list[Any]:
        """Plain SQL as the application's role, ``area`` set or not: for tests."""
        with self._conn(area) as conn:
            cur = conn.execute(query.replace("?", "%s"), tuple(params))
            return cur.fetchall() if cur.description else []

    # --- imports
    @contextlib.contextmanager
    def staging(self) -> Iterator[PostgresStaging]:
        """The import's transaction on a connection this thread keeps until the block ends.

        Committed when the block ends after ``merge``; rolled back if it
        ends any other way (an error, a rejected file): all rows or none.
        """
        if self.in_transaction():
            raise RuntimeError("staging() runs outside a transaction")
        with _db_errors(), self._pool.connection() as conn, conn.transaction() as tx:
            stage = PostgresStaging(conn)
            self._local.stage = stage
            try:
                yield stage
            finally:
                self._local.stage = None
                with contextlib.suppress(Exception):
                    stage.finish()  # the copying thread stopped before the transaction ends
            if not stage.merged:
                raise psycopg.Rollback(tx)

    def merge(self, stage: PostgresStaging) -> None:
        """The staged rows made the import's (inside the caller's transaction, within staging()).

        They are in persons and doses already, in the import's transaction:
        this waits for the last batch and lets the transaction commit.
        """
        if not self.in_transaction() or self._local.conn is not stage.conn:
            raise RuntimeError("merge() runs inside storage.transaction(), within staging()")
        stage.finish()
        stage.merged = True

    # --- municipalities (no area's rows: their names and wrapped keys)
    def add_municipality(self, m: MunicipalityRow) -> None:
        with self._conn() as conn:
            conn.execute("INSERT INTO municipalities VALUES (%s,%s,%s,%s,%s,%s,%s,%s)", m.values())

    def municipalities(self) -> list[MunicipalityRow]:
        with self._conn() as conn:
            rows = conn.execute("SELECT * FROM municipalities ORDER BY code").fetchall()
        return [common.municipality_row(r) for r in rows]

    # --- persons and doses: each within its area
    def _person_where(self, municipality: str, column: str, value: Any) -> PersonRow | None:
        with self._conn(municipality) as conn:
            r = conn.execute(
                f"SELECT {PERSON_COLUMNS} FROM persons WHERE municipality = %s AND {column} = %s",
                (municipality, value),
            ).fetchone()
        return common.person(r) if r else None

    def coupon_holder(
        self, municipality: str, coupon_index: bytes
    ) -> tuple[str, bool, bool] | None:
        """(row ID, moved out, deceased) of a coupon's holder: no sealed personal data."""
        with self._conn(municipality) as conn:
            r = conn.execute(
                "SELECT id, moved_out, deceased FROM persons"
                " WHERE municipality = %s AND coupon_index = %s",
                (municipality, coupon_index),
            ).fetchone()
        return common.holder(r) if r else None

    def persons(self, municipality: str) -> Iterator[PersonRow]:
        # a generator outlives its caller's ``with`` blocks: a server-side cursor on the
        # transaction's connection, or on a connection of its own until it is done
        with self._conn(municipality) as conn, conn.cursor(name="persons") as cur:
            cur.execute(
                f"SELECT {PERSON_COLUMNS} FROM persons WHERE municipality = %s ORDER BY id",
                (municipality,),
            )
            for r in cur:
                yield common.person(r)

    def erase_person(self, municipality: str, person_id: str) -> bool:
        with self._conn(municipality) as conn:
            # the person and its dose list in one statement (no foreign key cascades it)
            r = conn.execute(
                "WITH gone AS (DELETE FROM persons WHERE municipality = %s AND id = %s"
                " RETURNING id), doses_gone AS (DELETE FROM doses WHERE municipality = %s"
                " AND person_id IN (SELECT id FROM gone)) SELECT COUNT(*) FROM gone",
                (municipality, person_id, municipality),
            ).fetchone()
        return bool(r and r[0] == 1)

    def doses(self, municipality: str, person_id: str) -> bytes | None:
        with self._conn(municipality) as conn:
            r = conn.execute(
                "SELECT sealed FROM doses WHERE municipality = %s AND person_id = %s",
                (municipality, person_id),
            ).fetchone()
        return bytes(r[0]) if r else None

    def put_doses(self, municipality: str, person_id: str, sealed: bytes) -> None:
        """A person's whole dose list, replacing the one stored."""
        with self._conn(municipality) as conn:
            conn.execute(
                "INSERT INTO doses (person_id, municipality, sealed) VALUES (%s,%s,%s)"
                " ON CONFLICT (person_id) DO UPDATE SET sealed = EXCLUDED.sealed",
                (person_id, municipality, sealed),
            )

    def dose_lists(self, municipality: str) -> list[tuple[str, bytes]]:
        with self._conn(municipality) as conn:
            rows = conn.execute(
                "SELECT person_id, sealed FROM doses WHERE municipality = %s",
                (municipality,),
            ).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    def format_version(self) -> int | None:
        with self._conn() as conn:
            r = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        return int(r[0]) if r else None

    def set_format_version(self, version: int) -> None:
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO meta VALUES ('format', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (str(version),),
            )

    def add_certificate(self, cid: str, pid: str, municipality: str, kind: str, at: str) -> None:
        with self._conn(municipality) as conn:
            conn.execute(
                "INSERT INTO certificates VALUES (%s,%s,%s,%s,%s)",
                (cid, pid, municipality, kind, at),
            )

    def add_issuance(
        self, session_id: str, municipality: str, certificate_ids: list[str], at: str
    ) -> bool:
        """The center session's one issuance; False (nothing written) if it had one already."""
        with self._conn(municipality) as conn:
            cur = conn.execute(
                "INSERT INTO issuances VALUES (%s,%s,%s,%s) ON CONFLICT (session_id) DO NOTHING",
                (session_id, municipality, " ".join(certificate_ids), at),
            )
            return cur.rowcount == 1

    def certificates(self, municipality: str, person_id: str) -> list[tuple[str, str, str]]:
        with self._conn(municipality) as conn:
            return conn.execute(
                "SELECT certificate_id, type, issued_at FROM certificates"
                " WHERE municipality = %s AND person_id = %s ORDER BY issued_at",
                (municipality, person_id),
            ).fetchall()

    # --- staff (no records of people: found by user ID at login, before any area is known)
    def staff(self, user_id: str) -> dict[str, Any] | None:
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM staff WHERE user_id = %s", (user_id,))
            r = cur.fetchone()
            return common.records(common.column_names(cur.description), [r])[0] if r else None

    def staff_in(self, area: str) -> list[dict[str, Any]]:
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM staff WHERE area = %s ORDER BY user_id", (area,))
            return common.records(common.column_names(cur.description), cur.fetchall())

    def put_staff(self, row: dict[str, Any]) -> None:
        cols = list(row)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c != "user_id")
        with self._conn() as conn:
            conn.execute(
                f"INSERT INTO staff ({','.join(cols)}) VALUES ({','.join(['%s'] * len(cols))})"
                f" ON CONFLICT (user_id) DO UPDATE SET {updates}",
                [row[c] for c in cols],
            )

    # --- the operation log and transfers
    def log(self, at: str, actor: str, area: str, action: str, target: str, outcome: str) -> None:
        """An entry in the open transaction (``append_log`` outside one)."""
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO oplog (at, actor, area, action, target, outcome)"
                " VALUES (%s,%s,%s,%s,%s,%s)",
                (at, actor, area, action, target, outcome),
            )

    def append_log(
        self, at: str, actor: str, area: str, action: str, target: str, outcome: str
    ) -> None:
        """An operation-log entry, committed when this returns (or with the open transaction).

        PostgreSQL shares one WAL flush among the commits waiting at once, so
        there is no group commit of our own here.
        """
        self.log(at, actor, area, action, target, outcome)

    def oplog(self, area: str, limit: int) -> list[dict[str, Any]]:
        with self._conn(area) as conn:
            rows = conn.execute(
                f"SELECT {', '.join(OPLOG_COLUMNS)} FROM oplog"
                " WHERE area = %s ORDER BY id DESC LIMIT %s",
                (area, limit),
            ).fetchall()
        return common.records(OPLOG_COLUMNS, rows)

    def add_transfer(self, entry: dict[str, Any]) -> int:
        cols = TRANSFER_COLUMNS[1:]
        with self._conn(entry["to_area"]) as conn:  # recorded by the receiving area
            r = conn.execute(
                f"INSERT INTO transfers ({','.join(cols)}) VALUES ({','.join(['%s'] * len(cols))})"
                " RETURNING id",
                [entry[c] for c in cols],
            ).fetchone()
        return int(r[0]) if r else 0

    def transfers(self, area: str, limit: int) -> list[dict[str, Any]]:
        with self._conn(area) as conn:
            rows = conn.execute(
                f"SELECT {','.join(TRANSFER_COLUMNS)} FROM transfers"
                " WHERE from_area = %s OR to_area = %s ORDER BY id DESC LIMIT %s",
                (area, area, limit),
            ).fetchall()
        return common.records(TRANSFER_COLUMNS, rows)

    def count_persons(self) -> dict[str, int]:
        """Persons per municipality: each area counted with that area set, in one transaction."""
        counts: dict[str, int] = {}
        with self._conn() as conn:
            codes = [r[0] for r in conn.execute("SELECT code FROM municipalities ORDER BY code")]
            for code in codes:
                conn.execute(SCOPE, (code,))
                r = conn.execute(
                    "SELECT COUNT(*) FROM persons WHERE municipality = %s", (code,)
                ).fetchone()
                if r and r[0]:
                    counts[code] = int(r[0])
        return counts
