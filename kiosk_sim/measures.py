"""`kiosk-sim measures`: each seed measure, the tests that prove it, and whether they passed.

Runs nothing: it reads the measure list (``kiosk_sim/measures.md``, in the
repository, copied once from ``shared/reference/seed-measures.md``) and the
results the last test run wrote (``.test-results/measures.json``).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, TypedDict

ROOT = Path(__file__).resolve().parents[1]
MEASURES_MD = Path(__file__).with_name("measures.md")  # a fresh clone has it, ../shared or not
RESULTS = ROOT / ".test-results" / "measures.json"
ROW = re.compile(r"^\|\s*(M\d\d)\s*\|\s*(.+?)\s*\|\s*$")


def read_measures(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := ROW.match(line):
            out[m.group(1)] = m.group(2)
    return out


class MeasureRow(TypedDict):
    id: str
    measure: str
    status: str  # proven, failed or open
    tests: list[dict[str, Any]]  # as the last test run wrote them


def report(measures: dict[str, str], tests: list[dict[str, Any]]) -> list[MeasureRow]:
    rows: list[MeasureRow] = []
    for mid, text in measures.items():
        proving = [t for t in tests if mid in t["measures"]]
        passed = [t for t in proving if t["outcome"] == "passed"]
        failed = [t for t in proving if t["outcome"] == "failed"]
        status = "failed" if failed else "proven" if passed else "open"
        rows.append({"id": mid, "measure": text, "status": status, "tests": proving})
    return rows


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("measures", help="the seed's measures and the tests that prove them")
    p.add_argument("--json", action="store_true")
    p.add_argument("--measures", type=Path, default=MEASURES_MD)
    p.add_argument("--results", type=Path, default=RESULTS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.measures.exists():
        print(f"error: {args.measures} not found")
        return 2
    # without results the list is still worth seeing: every measure open
    ran = args.results.exists()
    rows = report(
        read_measures(args.measures), json.loads(args.results.read_text())["tests"] if ran else []
    )
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            print(f"{row['id']}  {row['status']:<6}  {row['measure'][:90]}")
            for t in row["tests"]:
                print(f"        {t['outcome']:<7} {t['test']}")
        proven = sum(r["status"] == "proven" for r in rows)
        print(f"\n{proven} of {len(rows)} measures proven by passing tests")
        if not ran:
            print(f"no test results yet ({args.results}): run bin/test first")
    return 0 if all(r["status"] == "proven" for r in rows) else 1
