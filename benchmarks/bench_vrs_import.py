"""VRS: issuance over mutual TLS while a big CSV import runs.

    .venv/bin/python benchmarks/bench_vrs_import.py [--residents 100000] [--via api cli]
                                                     [--issuers 4] [--baseline 3]
                                                     [--database sqlite postgresql|URL]

A fresh instance with a few residents is served on a real mutual-TLS
listener (serving.Server, 16 workers, as ``kiosk-sim vrs serve``). Issuers
(the center's pooled link, one thread each) issue one domestic certificate
after another: first for ``--baseline`` seconds alone, then while a ledger
of ``--residents`` new residents (about 3 CSV rows each) is imported, either
through the staff API of the same server (``api``: the import's CPU work
shares the process with issuance) or by ``kiosk-sim vrs import`` in a
process of its own (``cli``). Reported: issuance p50/p99/max and failures
before and during the import, the import's duration and rows/s, and for
``api`` the time from the merge's start to the import's answer and the
longest any write held the write lock (the merge's transaction).

``--database sqlite postgresql`` runs it on both, one after the other;
``postgresql`` alone on PostgreSQL: a throwaway cluster of its
own (vrs/pg.py) in the temporary folder; ``--database URL`` an empty, migrated
database. CPU time of the import (this process for ``api``, the command for
``cli``), of its sealing workers (forked by multiprocessing's fork server, read
from /proc) and of the PostgreSQL server is reported beside the wall time: the
machine may be shared.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import random
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving import CA, Link, LinkError, Server, mutual_tls_context  # noqa: E402
from vrs import create_app, open_vrs  # noqa: E402
from vrs.demo import MUNICIPALITIES, csv_rows, residents  # noqa: E402
from vrs.ledger_rows import IMPORT_COLUMNS  # noqa: E402

PASSWORD = "benchmark password 1"


def write_ledger(path: Path, people: list[Any], code: str) -> int:
    rows = 0
    rng = random.Random(3)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(IMPORT_COLUMNS)
        for r in people:
            r.code = code
            for row in csv_rows(r, rng):
                w.writerow(row)
                rows += 1
    return rows


def summary(latencies: list[float]) -> str:
    if not latencies:
        return "no requests"
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{len(ordered)} requests, p50 {statistics.median(ordered) * 1e3:.0f} ms,"
        f" p99 {p99 * 1e3:.0f} ms, max {ordered[-1] * 1e3:.0f} ms"
    )


def server_cpu(data: Path | None) -> float:
    """CPU seconds of a PostgreSQL cluster's processes so far (the postmaster and its children)."""
    if data is None:
        return 0.0
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if postmaster in (pid, ppid):
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / tick


def own_cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _cpu_of(pid: int) -> float | None:
    """A process's utime + stime in seconds (None: gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


class DescendantCpu:
    """CPU of the processes below ``root`` that ``root`` never waits for, while a block runs.

    The import's sealing workers are forked by multiprocessing's fork server, which
    is not waited for by the importing process: RUSAGE_CHILDREN never sees them.
    This polls /proc (every 20 ms, children files only) and sums each such process's last utime + stime
    seen (less what it had when the block began); ``skip``: pids counted elsewhere
    (a child that is waited for, whose own CPU RUSAGE_CHILDREN gives exactly).
    """

    def __init__(self, root: int, skip: set[int] | None = None) -> None:
        self.root, self.skip = root, skip or set()
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _below(self) -> dict[int, float]:
        found: dict[int, float] = {}
        frontier = [self.root]
        while frontier:
            for pid in _children(frontier.pop()):
                if pid not in found and (cpu := _cpu_of(pid)) is not None:
                    found[pid] = cpu
                    frontier.append(pid)
        return found

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            self._last.update(self._below())

    def __enter__(self) -> DescendantCpu:
        self._start = self._below()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._last.update(self._below())

    @property
    def seconds(self) -> float:
        return sum(
            cpu - self._start.get(pid, 0.0)
            for pid, cpu in self._last.items()
            if pid not in self.skip
        )


def run(n: int, via: str, issuers: int, baseline: float, database: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        d = Path(tmp)
        data = None
        if database == "postgresql":
            from vrs.pg import Cluster

            cluster = stack.enter_context(Cluster.throwaway(d))
            database, data = cluster.url(), cluster.data
        vrs = open_vrs(d / "vrs", "https://vrs.bench/issuer", database=database)
        code = MUNICIPALITIES[0].code
        for m in MUNICIPALITIES:
            vrs.add_municipality(m)
        holders = [r for r in residents(50, seed=1) if r.doses and not (r.moved_out or r.deceased)]
        write_ledger(d / "few.csv", holders, code)
        with (d / "few.csv").open(encoding="utf-8", newline="") as f:
            vrs.area(code).import_csv(f)
        rows = write_ledger(d / "ledger.csv", list(residents(n, seed=11)), code)

        lgwan = CA(d / "lgwan", "LGWAN CA (bench)")
        cert, key = lgwan.issue("vrs", "localhost", server=True)
        ctx = mutual_tls_context(cert, key, lgwan.cert_path)
        app = create_app({"VRS": vrs})
        server = Server(app, "127.0.0.1", 0, ctx, name="vrs", threads=16).start()
        center = Link(
            f"https://localhost:{server.port}",
            ca=lgwan.cert_path,
            cert=lgwan.issue("center", "issuance-center"),
            size=issuers,
            read_timeout=60,
        )
        staff = Link(
            f"https://localhost:{server.port}",
            ca=lgwan.cert_path,
            cert=lgwan.issue("terminal", "staff-terminal"),
            size=1,
            read_timeout=600,
        )

        samples: list[tuple[float, float, bool]] = []  # (start, latency, answered 200)
        stop = threading.Event()

        def issue(i: int) -> None:
            r = holders[i % len(holders)]
            order = {
                "municipality_code": code,
                "my_number": r.my_number,
                "certificate_type": "domestic",
                "copies": 1,
            }
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    # one issuance per center session: a fresh one each time
                    once = {**order, "session_id": secrets.token_hex(32)}
                    ok = center.request("POST", "/v1/certificates", once).status == 200
                except LinkError:
                    ok = False
                samples.append((t0, time.monotonic() - t0, ok))

        threads = [threading.Thread(target=issue, args=(i,)) for i in range(issuers)]
        for t in threads:
            t.start()
        time.sleep(baseline)
        merge_started = [0.0]
        held: list[float] = []
        if via == "api":
            app.extensions["vrs_staff"].create("bench", code, "importer", PASSWORD, "operator")
            login = {"user_id": "importer", "password": PASSWORD}
            token = staff.request("POST", "/staff/login", login).data["token"]
            real_merge = vrs.storage.merge
            real_writing = getattr(vrs.storage, "_writing", None)  # SQLite's write lock

            def merge(stage: Any) -> None:
                merge_started[0] = time.monotonic()
                real_merge(stage)

            @contextlib.contextmanager
            def writing(db: Any) -> Iterator[None]:  # how long each write holds the lock
                t0 = time.monotonic()
                assert real_writing is not None
                with real_writing(db):
                    yield
                held.append(time.monotonic() - t0)

            vrs.storage.merge = merge  # type: ignore[method-assign]
            if real_writing is not None:
                vrs.storage._writing = writing  # type: ignore[attr-defined]
            body = (d / "ledger.csv").read_text(encoding="utf-8")
            cpu0, server0 = own_cpu(resource.RUSAGE_SELF), server_cpu(data)
            start = time.monotonic()
            with DescendantCpu(os.getpid()) as workers:
                # the Link sends JSON; the import takes the CSV as the raw body
                reply = staff._pool.urlopen(
                    "POST",
                    "/staff/import",
                    body=body.encode(),
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
                )
            ended = time.monotonic()
            # the issuers' and server's share too
            cpu = own_cpu(resource.RUSAGE_SELF) - cpu0
            workers_s = workers.seconds
            assert reply.status == 200, reply.data[:300]
        else:
            cpu0, server0 = own_cpu(resource.RUSAGE_CHILDREN), server_cpu(data)
            start = time.monotonic()
            command = ["vrs", "import", code, str(d / "ledger.csv"), "--instance", str(d / "vrs")]
            if database:
                command += ["--database", database]
            child = subprocess.Popen(
                [sys.executable, "-m", "kiosk_sim.cli", *command],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            with DescendantCpu(child.pid) as workers:
                out, err = child.communicate()
            ended = time.monotonic()
            cpu = own_cpu(resource.RUSAGE_CHILDREN) - cpu0  # the command, exactly
            workers_s = workers.seconds  # its fork server and workers, never waited for
            assert child.returncode == 0 and out.strip() == f"imported {n} persons", err[-300:]
        server_s = server_cpu(data) - server0
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(60)
        server.stop()
        center.close()
        staff.close()
        before = [s for s in samples if s[0] + s[1] < start]
        during = [s for s in samples if s[0] < ended and s[0] + s[1] > start]
        return {
            "via": via,
            "residents": n,
            "rows": rows,
            "import_s": ended - start,
            "rows_per_s": rows / (ended - start),
            "cpu_s": cpu,
            "workers_cpu_s": workers_s,
            "server_cpu_s": server_s,
            "merge_to_answer_s": ended - merge_started[0] if merge_started[0] else None,
            "longest_lock_s": max(held, default=None),
            # every attempt's time, failed ones too (a 503 busy comes after the busy timeout)
            "before": summary([s[1] for s in before]),
            "during": summary([s[1] for s in during]),
            "failures_during": sum(1 for s in during if not s[2]),
            "persons": vrs.storage.count_persons()[code],
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--residents", type=int, default=100_000)
    ap.add_argument("--via", nargs="+", choices=("api", "cli"), default=["api", "cli"])
    ap.add_argument("--issuers", type=int, default=4)
    ap.add_argument("--baseline", type=float, default=3.0)
    ap.add_argument(
        "--database",
        nargs="+",
        default=["sqlite"],
        help="sqlite (in the temporary instance), postgresql (a throwaway cluster of its own)"
        " or an empty database's URL; several: each in turn, in one run",
    )
    args = ap.parse_args()
    for database, via in [(db, v) for db in args.database for v in args.via]:
        r = run(
            args.residents,
            via,
            args.issuers,
            args.baseline,
            None if database == "sqlite" else database,
        )
        label = "sqlite" if database == "sqlite" else "postgresql"
        merge = (
            f"; merge start to answer {r['merge_to_answer_s']:.2f} s"
            if r["merge_to_answer_s"]
            else ""
        )
        if r["longest_lock_s"] is not None:  # SQLite's write lock (PostgreSQL locks rows)
            merge += f", the write lock held {r['longest_lock_s']:.2f} s at most"
        per_k = (r["cpu_s"] + r["workers_cpu_s"] + r["server_cpu_s"]) / r["rows"] * 1e3 * 1e3
        print(
            f"{label}, import via {via}: {r['residents']:,} residents ({r['rows']:,} CSV rows) in"
            f" {r['import_s']:.1f} s = {r['rows_per_s']:,.0f} rows/s{merge}\n"
            f"  CPU: import {r['cpu_s']:.1f} s ({'whole VRS process' if via == 'api' else 'the command'}),"
            f" its sealing workers {r['workers_cpu_s']:.1f} s,"
            f" PostgreSQL server {r['server_cpu_s']:.1f} s; {per_k:.0f} ms per 1,000 rows\n"
            f"  issuance before: {r['before']}\n"
            f"  issuance during: {r['during']}; failures {r['failures_during']}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
