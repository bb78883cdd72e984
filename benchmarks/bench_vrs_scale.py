"""VRS at national scale: My Number lookup + decryption among millions of synthetic residents.

    .venv/bin/python benchmarks/bench_vrs_scale.py [--database postgresql sqlite]
        [--residents 10000 10000000] [--municipalities 1700] [--lookups 5000]

For each database and each size, a fresh database holds N synthetic residents
spread round-robin over M synthetic municipalities (each with its own data key,
blind-index keys and dose key, as ``vrs add-municipality`` makes them). The rows
are the ones a ledger import writes, made without the CSV: each resident's
personal fields sealed (AES-256-GCM, bound to area, table and row), its My
Number and coupon blind indexes (HMAC-SHA256), and its dose list sealed with the
area's dose key, staged and merged through the storage's own import path
(``staging()``/``merge()``: COPY and INSERT … SELECT on PostgreSQL, a staging
file and INSERT … SELECT on SQLite), one area per transaction.

Then, with every size of a database built, lookups of residents drawn at
random from all N (a new one each time, not a warmed sample), the sizes taken
in turn so that the machine's load falls on all alike: ``area.find`` (the blind
index, the row, its decryption) plus ``area.doses`` (the dose list and its
decryption). Reported: build rate, lookup p50/p99 per size and the ratio of
the largest size's p50 to the smallest's, memory (this process's RSS, which
holds every Vrs; PostgreSQL's shared_buffers and its processes' summed PSS)
and disk (pg_database_size, the SQLite file with its WAL).

``--database postgresql`` starts a throwaway cluster of its own (vrs/pg.py) in
the temporary folder (``--tmp`` to choose another), with the default
settings of ``bin/pg`` (shared_buffers 128 MB).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import resource
import secrets
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from certs import IssuerKey  # noqa: E402
from vrs import Vrs  # noqa: E402
from vrs.crypto import MasterKey, new_data_key  # noqa: E402
from vrs.demo import FAMILY, GIVEN, my_number  # noqa: E402
from vrs.ledger_import import new_row_id  # noqa: E402
from vrs.municipalities import local_government_check_digit  # noqa: E402
from vrs.storage import MunicipalityRow, PersonRow, SQLiteStorage, Storage  # noqa: E402

BASE = 31_415_926_535  # My Numbers: demo.my_number(BASE, i), never repeating
BATCH = 5000
PRODUCTS = (("pfizer", "FA"), ("moderna", "30"), ("pfizer", "GK"))


def municipality_codes(m: int) -> list[str]:
    """M distinct valid 6-digit local government codes (synthetic: 10000 upwards)."""
    codes = []
    for k in range(m):
        five = f"{10000 + k:05d}"
        codes.append(five + str(local_government_check_digit(five)))
    return codes


def person(i: int, number: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Resident i's fields and doses, as the import reads them from a ledger row."""
    fam, fam_r = FAMILY[i % len(FAMILY)]
    giv, giv_r, sex = GIVEN[(i // 7) % len(GIVEN)]
    birth = date(1940, 1, 1) + timedelta(days=(i * 7919) % (365 * 60))
    record = {
        "my_number": number,
        "atena_number": f"{i:010d}",
        "ticket_number": f"{(i * 7_310_986_417) % 10**10:010d}",
        "name": f"{fam}\u3000{giv}",
        "birth_date": birth.isoformat(),
        "sex": sex,
        "romanized_name": f"{fam_r} {giv_r}",
        "nationality": "",
        "passport_number": "",
        "former_name": "",
    }
    doses = []
    for n in range(1, 2 + i % 4):  # 1 to 4 doses
        maker, lot = PRODUCTS[n % len(PRODUCTS)]
        doses.append(
            {
                "dose_number": n,
                "dose_date": (date(2021, 5, 1) + timedelta(days=120 * n)).isoformat(),
                "manufacturer": maker,
                "vaccine_type": "mRNA",
                "product": maker,
                "lot_number": f"{lot}{i % 10000:04d}",
            }
        )
    return record, doses


def build(vrs: Vrs, codes: list[str], n: int) -> dict[str, float]:
    """N residents, round-robin over the areas: resident i lives in codes[i % M]."""
    m = len(codes)
    t0, c0 = time.monotonic(), time.process_time()
    for k, code in enumerate(codes):
        area = vrs.area(code)
        keys = area.keys
        seal_doses = keys.dose_keys().seal_doses
        storage = vrs.storage
        with storage.staging() as stage:
            persons: list[tuple[PersonRow, bytes, bytes | None]] = []
            dose_rows: list[tuple[str, bytes]] = []
            for i in range(k, n, m):
                number = my_number(BASE, i)
                record, doses = person(i, number)
                pid = new_row_id()
                persons.append(
                    (
                        PersonRow(pid, code, keys.seal("persons", pid, record), False, False),
                        keys.blind_index(number),
                        keys.coupon_index(record["ticket_number"]),
                    )
                )
                dose_rows.append((pid, seal_doses(pid, doses)))
                if len(persons) >= BATCH:
                    stage.add_persons(persons)
                    stage.add_doses(dose_rows)
                    persons, dose_rows = [], []
            stage.add_persons(persons)
            stage.add_doses(dose_rows)
            stage.finish()
            with storage.transaction():
                storage.merge(stage)
    wall = time.monotonic() - t0
    return {"build_s": wall, "build_cpu_s": time.process_time() - c0, "per_s": n / wall}


def lookup(vrs: Vrs, codes: list[str], n: int, rng: random.Random) -> float:
    i = rng.randrange(n)
    area = vrs.area(codes[i % len(codes)])
    number = my_number(BASE, i)
    t0 = time.perf_counter()
    found = area.find(number)
    assert found is not None
    row, fields = found
    doses = area.doses(row.id)
    took = time.perf_counter() - t0
    assert fields["my_number"] == number and doses
    return took


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def postgres_pss_mb(data: Path) -> float:
    """The summed PSS of a cluster's processes (shared buffers counted once, shared out)."""
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            pid, ppid = int(stat.parent.name), int(fields[1])
            if postmaster not in (pid, ppid):
                continue
            for line in (stat.parent / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def quantile(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def run(
    database: str, sizes: list[int], m: int, lookups: int, tmp: Path, seed: int
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(dir=tmp, prefix="bench-vrs-scale-") as folder,
        contextlib.ExitStack() as stack,
    ):
        d = Path(folder)
        cluster = None
        if database == "postgresql":
            from vrs.pg import Cluster
            from vrs.pg_storage import PostgresStorage

            cluster = stack.enter_context(Cluster.throwaway(d))
        codes = municipality_codes(m)
        master = MasterKey.load_or_create(d / "master.key")
        issuer = IssuerKey.generate()
        built: list[tuple[int, Vrs, dict[str, Any]]] = []
        for n in sizes:
            storage: Storage
            if cluster is not None:
                storage = PostgresStorage(cluster.create_database(f"scale_{n}"), max_size=4)
            else:
                storage = SQLiteStorage(d / f"vrs-{n}.sqlite3")
            stack.callback(storage.close)  # type: ignore[attr-defined]  # both have close()
            vrs = Vrs(storage, master, issuer, "https://vrs.bench/issuer")
            with storage.transaction():  # as vrs.add_municipality, the areas loaded once at the end
                for code in codes:
                    storage.add_municipality(
                        MunicipalityRow(
                            code,
                            f"市{code}",
                            f"City {code}",
                            "県",
                            True,
                            "市長",
                            "Mayor",
                            master.wrap(code, new_data_key()),
                        )
                    )
            vrs._load_areas()
            r = build(vrs, codes, n)
            if cluster is None:
                files = list(d.glob(f"vrs-{n}.sqlite3*"))
                r["disk_mb"] = sum(f.stat().st_size for f in files) / 2**20
            else:
                r["disk_mb"] = (
                    storage.sql("SELECT pg_database_size(current_database())")[0][0] / 2**20
                )  # type: ignore[attr-defined]
            print(
                f"  {database}: built {n:,} residents in {r['build_s']:.0f} s"
                f" ({r['per_s']:,.0f}/s, CPU {r['build_cpu_s']:.0f} s here), {r['disk_mb']:,.0f} MB",
                file=sys.stderr,
                flush=True,
            )
            built.append((n, vrs, r))
        rng = random.Random(seed)
        times: dict[int, list[float]] = {n: [] for n, _, _ in built}
        for _ in range(lookups):  # the sizes in turn, each a random resident of all N
            for n, vrs, _ in built:
                times[n].append(lookup(vrs, codes, n, rng))
        out: dict[str, Any] = {"database": database, "municipalities": m, "sizes": []}
        for n, _, r in built:
            t = times[n]
            out["sizes"].append(
                {
                    "residents": n,
                    **r,
                    "lookup_p50_ms": statistics.median(t) * 1e3,
                    "lookup_p99_ms": quantile(t, 0.99) * 1e3,
                }
            )
        out["ratio_p50"] = out["sizes"][-1]["lookup_p50_ms"] / out["sizes"][0]["lookup_p50_ms"]
        out["rss_mb"] = rss_mb()
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if cluster is not None:
            first = built[0][1].storage
            out["shared_buffers"] = first.sql("SHOW shared_buffers")[0][0]  # type: ignore[attr-defined]
            out["postgres_pss_mb"] = postgres_pss_mb(cluster.data)
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--database", nargs="+", choices=("postgresql", "sqlite"), default=["postgresql"]
    )
    ap.add_argument("--residents", type=int, nargs="+", default=[10_000, 10_000_000])
    ap.add_argument("--municipalities", type=int, default=1700)
    ap.add_argument("--lookups", type=int, default=5000, help="per size")
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--seed", type=int, default=secrets.randbelow(2**31))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    results = []
    for database in args.database:
        r = run(database, args.residents, args.municipalities, args.lookups, args.tmp, args.seed)
        results.append(r)
        for s in r["sizes"]:
            print(
                f"{database}: {s['residents']:>10,} residents / {r['municipalities']:,} areas:"
                f" built {s['per_s']:,.0f}/s; lookup + decrypt p50 {s['lookup_p50_ms']:.3f} ms,"
                f" p99 {s['lookup_p99_ms']:.3f} ms; disk {s['disk_mb']:,.0f} MB",
                flush=True,
            )
        memory = f"this process RSS {r['rss_mb']:.0f} MB (peak {r['peak_rss_mb']:.0f} MB)"
        if "shared_buffers" in r:
            memory += (
                f"; PostgreSQL shared_buffers {r['shared_buffers']},"
                f" its processes' PSS {r['postgres_pss_mb']:.0f} MB"
            )
        print(f"{database}: p50 ratio largest/smallest {r['ratio_p50']:.2f}x; {memory}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
