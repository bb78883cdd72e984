"""The database's schema, made by plain-SQL migrations (yoyo-migrations) on either backend.

``migrations/sqlite/`` and ``migrations/postgresql/`` hold the steps, one file
each, applied in order and recorded in yoyo's ``_yoyo_migration`` table. The
first SQLite step is the schema as it was before migrations, all ``IF NOT
EXISTS``: a database made by earlier code is only marked as at that version.
PostgreSQL's are run by the owning role (``vrs_owner``), never by the
application's (``vrs_app``), which may not create or alter anything.

An open that finds every step applied reads one table and writes nothing, so
processes opening the database at once do not queue on a write lock.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.backends.core.sqlite3 import SQLiteBackend
from yoyo.connections import DatabaseURI

log = logging.getLogger("vrs.migrate")
MIGRATIONS = Path(__file__).parent / "migrations"
TABLE = "_yoyo_migration"


def steps(backend: str) -> list[str]:
    """The IDs of a backend's migrations, in order."""
    return [m.id for m in read_migrations(str(MIGRATIONS / backend))]


def pending(applied: set[str], backend: str) -> list[str]:
    return [s for s in steps(backend) if s not in applied]


class _SQLite(SQLiteBackend):  # type: ignore[misc]  # yoyo has no type hints: its classes are Any
    """yoyo's SQLite backend on a plain connection that waits for the write lock."""

    busy_timeout = 5.0

    def connect(self, dburi: Any) -> sqlite3.Connection:
        conn = sqlite3.connect(dburi.database, timeout=self.busy_timeout, isolation_level=None)
        conn.execute("PRAGMA foreign_keys=ON")
        return conn


class _Postgres(PostgresqlPsycopgBackend):  # type: ignore[misc]  # yoyo has no type hints: its classes are Any
    """yoyo's psycopg 3 backend connecting by the URL as given (a Unix socket in ``?host=``)."""

    def connect(self, dburi: Any) -> Any:
        import psycopg

        self.schema = None
        return psycopg.connect(dburi.database, autocommit=True)


def _apply(backend: Any, kind: str) -> list[str]:
    """The steps of ``migrations/KIND`` the database lacks, applied; the backend then closed."""
    try:
        backend.init_database()
        migrations = read_migrations(str(MIGRATIONS / kind))
        with backend.lock():
            todo = backend.to_apply(migrations)
            ids = [m.id for m in todo]
            if ids:
                backend.apply_migrations(todo)
                log.info("database migrated: %s", ", ".join(ids))
        return ids
    finally:
        backend.connection.close()


def sqlite_applied(db: sqlite3.Connection) -> set[str]:
    try:
        return {r[0] for r in db.execute(f"SELECT migration_id FROM {TABLE}")}
    except sqlite3.OperationalError:  # no such table: before migrations
        return set()


def migrate_sqlite(path: str, busy_timeout: float = 5.0) -> list[str]:
    """Applies the steps a SQLite file lacks; the IDs applied."""
    with sqlite3.connect(path, timeout=busy_timeout, isolation_level=None) as db:
        todo = pending(sqlite_applied(db), "sqlite")
    db.close()
    if not todo:
        return []
    backend_class = type("_SQLiteTimed", (_SQLite,), {"busy_timeout": busy_timeout})
    backend = backend_class(DatabaseURI("sqlite", None, None, None, None, path, {}), TABLE)
    return _apply(backend, "sqlite")


def migrate_postgresql(url: str) -> list[str]:
    """Applies the steps the database lacks, connected as its owner; the IDs applied."""
    backend = _Postgres(DatabaseURI("postgresql+psycopg", None, None, None, None, url, {}), TABLE)
    return _apply(backend, "postgresql")
