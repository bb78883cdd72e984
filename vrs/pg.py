"""A PostgreSQL cluster of the instance's own: ``bin/pg start|stop|status|url [INSTANCE]``.

It lives in ``INSTANCE/pg/`` (the cluster in ``data/``, its log in
``server.log``), listens on a Unix socket in that folder only
(``listen_addresses = ''``: no TCP port at all) and asks every role for its
password (scram-sha-256). The passwords are generated at the first start and
kept in ``INSTANCE/pg/passwords.json`` (0600). It never touches a system-wide
cluster (Debian's ``main``, if apt made one, is left alone and not used).

Roles: ``postgres`` (the cluster's superuser: creates the others), ``vrs_owner``
(owns the database ``vrs`` and its tables, runs the migrations) and ``vrs_app``
(what VRS connects as: rows only, row-level security applies, no BYPASSRLS).
``url`` prints the application's URL for ``--database`` / ``$VRS_DATABASE_URL``.

PostgreSQL refuses to run as root; run as root (CI), the cluster's folder is
given to the ``postgres`` user of Debian's package and its programs run as
that user (``runuser``), so the instance folder must be reachable by it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

PORT = 5432  # names the socket file (.s.PGSQL.5432); no TCP port is opened
DATABASE = "vrs"
ROLES = ("postgres", "vrs_owner", "vrs_app")
SOCKET_MAX = 107  # sun_path


class ClusterError(Exception):
    """Said to the user as it is: what went wrong and what to do."""


def _bin_dir() -> Path:
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise ClusterError("PostgreSQL is not installed (bin/setup installs Debian's postgresql)")
    return versions[-1]


class Cluster:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder).absolute()
        self.data = self.folder / "data"
        self.secrets = self.folder / "passwords.json"
        self.log = self.folder / "server.log"
        self.socket = self.folder / f".s.PGSQL.{PORT}"
        self.root = os.geteuid() == 0

    @classmethod
    def of_instance(cls, instance: Path) -> Cluster:
        return cls(Path(instance) / "pg")

    @classmethod
    @contextlib.contextmanager
    def throwaway(cls, folder: Path) -> Iterator[Cluster]:
        """A cluster in ``folder/pg`` for one run (a benchmark's), started, and stopped after it.

        ``folder`` is opened to other users (0711): run as root, the server (the postgres
        user) must reach ``pg/``.
        """
        os.chmod(folder, 0o711)
        cluster = cls(Path(folder) / "pg")
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()

    # --- running its programs as the server's user
    def _as_server(
        self, argv: Sequence[str], check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", "postgres", "--", *argv] if self.root else list(argv)
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            words = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ClusterError(f"{Path(argv[0]).name} failed: {' '.join(words)} (log: {self.log})")
        return done

    def _prepare_folder(self) -> None:
        if len(str(self.socket)) > SOCKET_MAX:
            raise ClusterError(
                f"{self.folder} is too deep for a Unix socket path ({SOCKET_MAX} bytes at most);"
                " use a shorter instance folder"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        if self.root:
            try:
                server = pwd.getpwnam("postgres")
            except KeyError:
                raise ClusterError(
                    "run as root, the cluster runs as the 'postgres' user, and there is none"
                    " (install Debian's postgresql package)"
                ) from None
            os.chown(self.folder, server.pw_uid, server.pw_gid)
            if self._as_server(["test", "-w", str(self.folder)], check=False).returncode != 0:
                raise ClusterError(
                    f"the postgres user cannot reach {self.folder} (a folder above it is closed"
                    " to other users, e.g. /root): choose an instance folder it can reach, or run"
                    " as another user than root"
                )

    # --- passwords
    def passwords(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.secrets.read_text()))
        except FileNotFoundError:
            raise ClusterError(
                f"no cluster in {self.folder}: start one with `bin/pg start`"
            ) from None

    def _new_passwords(self) -> dict[str, str]:
        words = {role: secrets.token_urlsafe(24) for role in ROLES}
        fd = os.open(self.secrets, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(words, f)
        return words

    def url(self, role: str = "vrs_app", database: str = DATABASE) -> str:
        password = self.passwords()[role]
        return (
            f"postgresql://{role}:{quote(password, safe='')}@/{database}"
            f"?host={quote(str(self.folder), safe='')}&port={PORT}"
        )

    # --- start, stop
    def running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        done = self._as_server([str(_bin_dir() / "pg_ctl"), "status", "-D", str(self.data)], False)
        return done.returncode == 0

    def start(self) -> None:
        """Creates the cluster at the first start; starts it; migrates the database."""
        fresh = not (self.data / "PG_VERSION").exists()
        if fresh:
            self._prepare_folder()
            words = self._new_passwords()
            self._initdb(words["postgres"])
        elif self.root:
            self._prepare_folder()  # the checks; the folder stays the server's
        if not self.running():
            self._pg_ctl("start")
        if fresh:
            self._create_roles()
        self.create_database(DATABASE)

    def _initdb(self, password: str) -> None:
        if self.data.exists():  # a first start that died before initdb finished
            shutil.rmtree(self.data)
        pwfile = self.folder / "initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        if self.root:
            server = pwd.getpwnam("postgres")
            os.chown(pwfile, server.pw_uid, server.pw_gid)
        try:
            self._as_server(
                [
                    str(_bin_dir() / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--pwfile",
                    str(pwfile),
                    "--auth",
                    "scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale",
                    "C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data / "postgresql.conf").open("a") as f:
            f.write(
                "\n# kiosk-sim (vrs/pg.py): a Unix socket in the instance's pg folder, no TCP\n"
                "listen_addresses = ''\n"
                f"unix_socket_directories = '{self.folder}'\n"
                "unix_socket_permissions = 0700\n"
                f"port = {PORT}\n"
                "max_connections = 200\n"
                "logging_collector = off\n"
                "log_min_messages = warning\n"
                # statements are never logged: their parameters are blind indexes and blobs,
                # but a failing statement's detail could name values
                "log_min_error_statement = panic\n"
            )
        # only the socket, only with a password
        (self.data / "pg_hba.conf").write_text("local all all scram-sha-256\n")
        if self.root:
            server = pwd.getpwnam("postgres")
            os.chown(self.data / "pg_hba.conf", server.pw_uid, server.pw_gid)

    @contextlib.contextmanager
    def superuser(self, database: str = "postgres") -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(self.url("postgres", database), autocommit=True) as conn:
            yield conn

    def _create_roles(self) -> None:
        words = self.passwords()
        with self.superuser() as conn:
            for role, extra in (("vrs_owner", "CREATEDB"), ("vrs_app", "")):
                conn.execute(
                    sql.SQL(
                        "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE "
                        + extra
                        + " PASSWORD {}"
                    ).format(sql.Identifier(role), sql.Literal(words[role]))
                )

    def create_database(self, name: str, template: str | None = None) -> str:
        """A database owned by vrs_owner, migrated (unless copied from a migrated template)."""
        from .migrate import migrate_postgresql

        with self.superuser() as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not found:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER vrs_owner{}").format(
                        sql.Identifier(name),
                        sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
                        if template
                        else sql.SQL(""),
                    )
                )
                conn.execute(
                    sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name))
                )
                conn.execute(
                    sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO vrs_app").format(
                        sql.Identifier(name)
                    )
                )
        if template is None:
            with self.superuser(name) as conn:  # PostgreSQL 15: public's CREATE is the owner's
                conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            migrate_postgresql(self.url("vrs_owner", name))
        return self.url("vrs_app", name)

    def drop_database(self, name: str) -> None:
        with self.superuser() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def stop(self, timeout: int | None = None) -> None:
        """Stops the server (fast: sessions are disconnected, their transactions rolled back).
        With ``timeout``, a server still up after that many seconds is stopped at once
        (immediate: it recovers from its WAL at the next start, nothing committed is lost)."""
        if not self.running():
            return
        pg_ctl = [str(_bin_dir() / "pg_ctl"), "stop", "-w", "-D", str(self.data)]
        if timeout is None:
            self._as_server([*pg_ctl, "-m", "fast"])
            return
        done = self._as_server([*pg_ctl, "-m", "fast", "-t", str(timeout)], check=False)
        if done.returncode != 0 and self.running():
            self._as_server([*pg_ctl, "-m", "immediate"])

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is cut off, the server starts again."""
        self._pg_ctl("restart", "-m", "fast")

    def _pg_ctl(self, action: str, *options: str) -> None:
        """``pg_ctl ACTION`` on this cluster, waiting up to 60 s, its output to the log."""
        self._as_server(
            [
                str(_bin_dir() / "pg_ctl"),
                action,
                "-w",
                *options,
                "-t",
                "60",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
            ]
        )

    def pid(self) -> int | None:
        """The postmaster's process ID while it runs (the first line of postmaster.pid)."""
        try:
            first = (self.data / "postmaster.pid").read_text().split("\n", 1)[0]
        except (FileNotFoundError, PermissionError):
            return None
        return int(first) if first.strip().isdigit() else None


def hold(cluster: Cluster) -> None:
    """Waits until SIGTERM (or its parent's death, seen as a new parent), then stops the
    cluster. The pg_ctl-started server is no child of anyone's: this guard is what ends it
    when the program that started it is SIGKILLed (``kiosk-sim demo --scale``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the supervisor's to handle
    ended = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: ended.set())
    parent = os.getppid()
    # PR_SET_PDEATHSIG is set by the parent before exec: a parent dead even before that is
    # seen here as this process's reparenting
    while not ended.wait(1.0) and os.getppid() == parent:
        pass
    cluster.stop(timeout=3)


def main(argv: Sequence[str] | None = None) -> int:
    from serving import home

    ap = argparse.ArgumentParser(
        prog="bin/pg",
        description="The instance's own PostgreSQL cluster for VRS (a Unix socket, no TCP).",
    )
    ap.add_argument(
        "command",
        choices=("start", "stop", "status", "url", "owner-url", "hold"),
        help="hold: wait, and stop the cluster when this process is sent SIGTERM (a guard a"
        " supervisor starts with PR_SET_PDEATHSIG, so the cluster ends with it even if it is"
        " killed)",
    )
    ap.add_argument(
        "instance",
        nargs="?",
        type=Path,
        default=None,
        help="VRS instance folder (default: $KIOSK_SIM_HOME/vrs)",
    )
    args = ap.parse_args(argv)
    cluster = Cluster.of_instance(args.instance or home() / "vrs")
    try:
        if args.command == "start":
            cluster.start()
            print(f"PostgreSQL for VRS running in {cluster.folder}; its URL: bin/pg url")
        elif args.command == "stop":
            cluster.stop()
        elif args.command == "status":
            running = cluster.running()
            print(f"{cluster.folder}: {'running' if running else 'not running'}")
            return 0 if running else 3
        elif args.command == "hold":
            hold(cluster)
        elif args.command == "url":
            print(cluster.url())
        else:
            print(cluster.url("vrs_owner"))
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # psycopg's and the OS's: said in one line, never a traceback
        print(
            f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
