"""VRS on PostgreSQL: the two walls of M10 apart, the cluster of the instance's own, imports."""

from __future__ import annotations

import io
import secrets
import stat
from pathlib import Path

import psycopg
import pytest

from vrs import Vrs
from vrs.demo import Resident
from vrs.errors import Code, VrsError
from vrs.pg import Cluster
from vrs.pg_storage import PostgresStaging, PostgresStorage

from .conftest import ledger

NIIHAMA, MATSUYAMA = "382051", "382019"
BACKENDS = ("postgresql",)  # conftest.pytest_generate_tests
AREA_TABLES = ("persons", "doses", "certificates", "issuances", "oplog", "transfers")


@pytest.fixture
def pg(loaded: Vrs) -> PostgresStorage:
    assert isinstance(loaded.storage, PostgresStorage)
    return loaded.storage


def resident_of(people: list[Resident], code: str) -> Resident:
    return next(r for r in people if r.code == code and r.doses and not r.moved_out)


@pytest.mark.measure("M10")
def test_the_applications_own_check_refuses_another_area(
    loaded: Vrs, people: list[Resident]
) -> None:
    """Wall one: an area asks only for its own rows (its code in every query, its own keys)."""
    theirs = resident_of(people, MATSUYAMA)
    assert loaded.area(NIIHAMA).find(theirs.my_number) is None
    row, _ = loaded.area(MATSUYAMA).find(theirs.my_number)  # type: ignore[misc]
    assert loaded.area(NIIHAMA).get(row.id) is None
    with pytest.raises(VrsError) as err:
        loaded.area(NIIHAMA).issue(theirs.my_number, "domestic", 1, session_id="s-a")
    assert err.value.code == Code.NO_RECORD


@pytest.mark.measure("M10")
def test_row_level_security_alone_hides_every_areas_rows_from_an_unscoped_query(
    loaded: Vrs, pg: PostgresStorage, people: list[Resident]
) -> None:
    """Wall two, without the first: plain SQL with no area set sees nothing in any area table."""
    r = resident_of(people, NIIHAMA)
    loaded.area(NIIHAMA).issue(r.my_number, "domestic", 1, actor="clerk", session_id="s-b")
    for table in AREA_TABLES:
        assert pg.sql(f"SELECT COUNT(*) FROM {table}") == [(0,)], table
    # while the rows are there: each area sees its own
    assert pg.sql("SELECT COUNT(*) FROM persons", area=NIIHAMA)[0][0] > 0
    assert pg.sql("SELECT COUNT(*) FROM doses", area=NIIHAMA)[0][0] > 0
    assert pg.sql("SELECT COUNT(*) FROM certificates", area=NIIHAMA) == [(1,)]
    assert pg.sql("SELECT COUNT(*) FROM issuances", area=NIIHAMA) == [(1,)]
    assert pg.sql("SELECT COUNT(*) FROM oplog", area=NIIHAMA)[0][0] > 0


@pytest.mark.measure("M10")
def test_row_level_security_alone_refuses_area_a_the_rows_of_area_b(
    loaded: Vrs, pg: PostgresStorage, people: list[Resident]
) -> None:
    """Scoped to Niihama, a query that asks for Matsuyama's rows by their IDs gets none."""
    theirs = resident_of(people, MATSUYAMA)
    row, _ = loaded.area(MATSUYAMA).find(theirs.my_number)  # type: ignore[misc]
    mine = pg.sql("SELECT id FROM persons", area=NIIHAMA)[0][0]
    asked = "SELECT id FROM persons WHERE municipality = ? OR id = ?"
    assert pg.sql(asked, (MATSUYAMA, row.id), area=NIIHAMA) == []
    assert pg.sql("SELECT sealed FROM doses WHERE person_id = ?", (row.id,), area=NIIHAMA) == []
    # the storage's own method, given B's row ID under A's name: nothing (SQLite would answer)
    assert pg.doses(NIIHAMA, row.id) is None
    assert pg.doses(MATSUYAMA, row.id) is not None
    # and it can neither change nor remove B's rows, nor write rows into B from A
    assert pg.sql("DELETE FROM persons WHERE id = ? RETURNING id", (row.id,), area=NIIHAMA) == []
    assert (
        pg.sql(
            "UPDATE doses SET sealed = '' WHERE person_id = ? RETURNING 1", (row.id,), area=NIIHAMA
        )
        == []
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # new row violates the policy
        pg.sql("INSERT INTO doses VALUES (?, '\\x00')", (mine + "x",), area=MATSUYAMA)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        pg.sql(
            "INSERT INTO certificates VALUES ('c', ?, ?, 'domestic', 'now')",
            (mine, MATSUYAMA),
            area=NIIHAMA,
        )
    assert pg.get_person(MATSUYAMA, row.id) is not None  # B's row untouched


@pytest.mark.measure("M10")
def test_the_application_role_cannot_switch_the_wall_off(pg: PostgresStorage) -> None:
    """Not the owner, not a superuser, no BYPASSRLS; FORCE on every area table."""
    me = pg.sql(
        "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = current_user"
    )
    assert me == [(False, False, False)]
    tables = pg.sql(
        "SELECT relname, relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner)"
        " FROM pg_class WHERE relname = ANY(?)",
        (list(AREA_TABLES),),
    )
    assert sorted(tables) == sorted((t, True, True, "vrs_owner") for t in AREA_TABLES)
    for attempt in (
        "ALTER TABLE persons DISABLE ROW LEVEL SECURITY",
        "DROP POLICY area_rows ON persons",
        "SET row_security = off; SELECT COUNT(*) FROM persons",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            pg.sql(attempt)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the log is append-only
        pg.sql("DELETE FROM oplog")


def test_only_ciphertext_and_blind_indexes_reach_postgresql(
    pg: PostgresStorage, people: list[Resident]
) -> None:
    """As in the SQLite file (M11): no My Number, name or birth date in any column."""
    dump = b""
    for code in {r.code for r in people}:
        for row in pg.sql("SELECT * FROM persons", area=code) + pg.sql(
            "SELECT * FROM doses", area=code
        ):
            dump += b"|".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    assert dump
    for r in people:
        assert r.my_number.encode() not in dump
        assert r.name.encode() not in dump


def test_an_import_that_fails_in_the_merge_keeps_nothing(
    vrs: Vrs, people: list[Resident], monkeypatch: pytest.MonkeyPatch
) -> None:
    """All or nothing: the persons merged before a failing doses merge are rolled back."""
    storage = vrs.storage
    assert isinstance(storage, PostgresStorage)
    real = PostgresStorage.merge

    def half(self: PostgresStorage, stage: PostgresStaging) -> None:
        real(self, stage)
        raise OSError("the disk went away")

    monkeypatch.setattr(PostgresStorage, "merge", half)
    with pytest.raises(OSError):
        vrs.area(NIIHAMA).import_csv(io.StringIO(ledger(people, NIIHAMA)), actor="clerk")
    monkeypatch.undo()
    assert storage.count_persons() == {}
    assert storage.sql("SELECT COUNT(*) FROM oplog", area=NIIHAMA) == [(0,)]
    # the staging tables went with the block; the same file imports cleanly afterwards
    n = vrs.area(NIIHAMA).import_csv(io.StringIO(ledger(people, NIIHAMA)))
    assert storage.count_persons() == {NIIHAMA: n}
    again = ledger(people, NIIHAMA)
    with pytest.raises(VrsError) as err:  # a registered person: refused whole
        vrs.area(NIIHAMA).import_csv(io.StringIO(again))
    assert err.value.code == Code.IMPORT_REJECTED
    assert storage.count_persons() == {NIIHAMA: n}


def test_the_cluster_listens_on_its_socket_only_with_passwords(pg_cluster: Cluster) -> None:
    folder = pg_cluster.folder
    assert stat.S_IMODE(pg_cluster.secrets.stat().st_mode) == 0o600
    conf = (pg_cluster.data / "postgresql.conf").read_text()
    assert "listen_addresses = ''" in conf and f"unix_socket_directories = '{folder}'" in conf
    assert (pg_cluster.data / "pg_hba.conf").read_text().split() == [
        "local",
        "all",
        "all",
        "scram-sha-256",
    ]
    with psycopg.connect(pg_cluster.url()) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
    bad = pg_cluster.url().replace(pg_cluster.passwords()["vrs_app"], "wrong")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(bad).close()


def test_a_wrong_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(VrsError) as err:
        PostgresStorage(f"postgresql://vrs_app:x@/vrs?host={tmp_path}&connect_timeout=1")
    assert err.value.code == Code.STORAGE_ERROR and "cannot connect" in err.value.message


def test_one_issuance_per_center_session_across_areas_although_each_sees_only_its_own(
    loaded: Vrs, pg: PostgresStorage, people: list[Resident]
) -> None:
    """The session's row is hidden from the other area by RLS, yet its key still refuses a
    second issuance there: one certificate per center session, whichever area is asked."""
    loaded.area(NIIHAMA).issue(
        resident_of(people, NIIHAMA).my_number, "domestic", 1, session_id="s"
    )
    with pytest.raises(VrsError) as err:
        loaded.area(MATSUYAMA).issue(
            resident_of(people, MATSUYAMA).my_number, "domestic", 1, session_id="s"
        )
    assert err.value.code == Code.SESSION_ALREADY_ISSUED
    assert pg.sql("SELECT COUNT(*) FROM issuances", area=MATSUYAMA) == [(0,)]
    assert pg.sql("SELECT COUNT(*) FROM certificates", area=MATSUYAMA) == [(0,)]


def test_migration_0004_gives_each_dose_list_its_persons_area_and_a_plain_policy(
    pg_cluster: Cluster,
) -> None:
    """Rows stored before 0004 get their person's area; the policy still walls each area."""
    from yoyo import read_migrations
    from yoyo.connections import DatabaseURI
    from yoyo.migrations import MigrationList

    from vrs.migrate import MIGRATIONS, TABLE, _apply, _Postgres

    name = f"test_{secrets.token_hex(6)}"
    app_url = pg_cluster.url("vrs_app", name)
    with pg_cluster.superuser() as conn:  # a bare database, migrated up to 0003 only
        conn.execute(f"CREATE DATABASE {name} OWNER vrs_owner")
        conn.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {name} TO vrs_app")
    owner = pg_cluster.url("vrs_owner", name)

    backend = _Postgres(DatabaseURI("postgresql+psycopg", None, None, None, None, owner, {}), TABLE)
    try:
        backend.init_database()
        every = read_migrations(str(MIGRATIONS / "postgresql"))
        early = MigrationList([m for m in every if m.id < "0004"])
        with backend.lock():
            backend.apply_migrations(backend.to_apply(early))
        with psycopg.connect(owner, autocommit=True) as conn:  # rows as 0003's schema held them
            conn.execute("ALTER TABLE persons NO FORCE ROW LEVEL SECURITY")
            conn.execute("ALTER TABLE doses NO FORCE ROW LEVEL SECURITY")
            for code in (NIIHAMA, MATSUYAMA):
                conn.execute(
                    "INSERT INTO municipalities VALUES (%s,'x','x','x',true,'x','x','\\x00')",
                    (code,),
                )
                conn.execute(
                    "INSERT INTO persons (id, municipality, blind_index, sealed)"
                    " VALUES (%s, %s, %s, '\\x01')",
                    (f"p-{code}", code, code.encode()),
                )
                conn.execute("INSERT INTO doses VALUES (%s, %s)", (f"p-{code}", code.encode()))
            conn.execute("ALTER TABLE persons FORCE ROW LEVEL SECURITY")
            conn.execute("ALTER TABLE doses FORCE ROW LEVEL SECURITY")
        assert _apply(backend, "postgresql") == ["0004_doses_municipality"]
    finally:
        backend.connection.close()
    pg = PostgresStorage(app_url)
    try:
        for code in (NIIHAMA, MATSUYAMA):
            assert pg.sql("SELECT person_id, municipality FROM doses", area=code) == [
                (f"p-{code}", code)
            ]
            assert pg.doses(code, f"p-{code}") == code.encode()
        assert pg.sql("SELECT COUNT(*) FROM doses") == [(0,)]  # no area set: no rows
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # A cannot label a row B's
            pg.sql(
                "INSERT INTO doses (person_id, municipality, sealed) VALUES ('q', ?, '\\x00')",
                (NIIHAMA,),
                area=MATSUYAMA,
            )
        # erasing a person takes its dose list with it (no foreign key cascades it now)
        assert pg.erase_person(NIIHAMA, f"p-{NIIHAMA}")
        assert pg.doses(NIIHAMA, f"p-{NIIHAMA}") is None
        assert pg.doses(MATSUYAMA, f"p-{MATSUYAMA}") == MATSUYAMA.encode()
    finally:
        pg.close()
        pg_cluster.drop_database(name)
