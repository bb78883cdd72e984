"""The measures and security reports: they run nothing and must not call a class held without a passing test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk_sim import cli, measures, security

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "reference" / "seed-measures.md"


def write(results: Path, tests: list[dict]) -> None:
    results.mkdir(exist_ok=True)
    run = {"when": "2026-11-27 00:00 UTC", "hypothesis_profile": "default"}
    (results / "security.json").write_text(json.dumps({**run, "tests": tests}))


def test_a_class_is_held_only_by_a_passing_test(tmp_path: Path, capsys) -> None:
    write(
        tmp_path,
        [
            {"test": "t::a", "classes": ["A01"], "outcome": "passed", "cases": 40},
            {"test": "t::b", "classes": ["A01", "A02"], "outcome": "passed", "cases": 2},
            {"test": "t::c", "classes": ["A02"], "outcome": "failed", "cases": 1},
            {"test": "t::d", "classes": ["A03"], "outcome": "skipped", "cases": 1},
        ],
    )
    rows = {
        r["id"]: r
        for r in security.report(json.loads((tmp_path / "security.json").read_text())["tests"])
    }
    assert (rows["A01"]["status"], rows["A01"]["cases"]) == ("held", 42)
    assert rows["A02"]["status"] == "failed"  # one failing test outweighs a passing one
    assert rows["A03"]["status"] == "open"  # skipped proves nothing
    assert rows["F01"]["status"] == "open"
    assert cli.main(["security", "--results", str(tmp_path)]) == 1
    assert "A01  held        42 cases" in capsys.readouterr().out


def test_the_markdown_report_lists_every_class_and_the_load_figures(tmp_path: Path) -> None:
    write(
        tmp_path,
        [
            {"test": f"t::{c}", "classes": [c], "outcome": "passed", "cases": 3}
            for c in security.CLASSES
        ],
    )
    load = {
        "kiosks": 8, "seconds": 30, "issued": 400, "failed": 0, "per_second": 13.3, "p50_ms": 500,
        "p99_ms": 700, "memory": {"vrs": {"start_mb": 60, "peak_mb": 70, "end_mb": 69,
        "second_half_growth_mb": 0.5}}, "files_searched": 20, "secrets_searched": 120,
        "personal_data_found": 0, "when": "2026-11-27",
    }  # fmt: skip
    (tmp_path / "load.json").write_text(json.dumps(load))
    out = tmp_path / "security.md"
    assert cli.main(["security", "--results", str(tmp_path), "--write", str(out)]) == 0
    text = out.read_text()
    assert f"**{len(security.CLASSES)} of {len(security.CLASSES)} classes held**" in text
    for cid, (_, what, _) in security.CLASSES.items():
        assert f"| {cid} | {what} |" in text
    assert "issued: 400, failed: 0" in text and "p99 700 ms" in text


def test_no_results_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert cli.main(["security", "--results", str(tmp_path)]) == 2
    assert "run bin/test first" in capsys.readouterr().out


def test_a_measure_is_open_without_a_passing_test() -> None:
    rows = measures.report(
        {"M01": "two factors", "M02": "chip only"},
        [{"test": "t::a", "measures": ["M01"], "outcome": "passed"}],
    )
    assert [r["status"] for r in rows] == ["proven", "open"]


def test_measures_work_in_a_clone_without_shared_beside_it(tmp_path: Path) -> None:
    clone = tmp_path / "clone"  # nothing beside it: no ../shared
    shutil.copytree(ROOT / "kiosk_sim", clone / "kiosk_sim")
    results = tmp_path / "results" / "measures.json"
    results.parent.mkdir()
    results.write_text(
        json.dumps({"tests": [{"test": "t::a", "measures": ["M01"], "outcome": "passed"}]})
    )
    done = subprocess.run(
        [sys.executable, "-m", "kiosk_sim.cli", "measures", "--results", str(results)],
        cwd=clone,
        env={**os.environ, "PYTHONPATH": str(clone)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr  # one proven, the others open
    assert done.stdout.startswith("M01  proven  Two factors are mandatory")
    assert "\n1 of 21 measures proven by passing tests\n" in done.stdout
    # and before any test ran: the list all the same, every measure open
    done = subprocess.run(
        [sys.executable, "-m", "kiosk_sim.cli", "measures", "--results", str(tmp_path / "none")],
        cwd=clone,
        env={**os.environ, "PYTHONPATH": str(clone)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "M30  open" in done.stdout and "run bin/test first" in done.stdout


@pytest.mark.skipif(not SEED.exists(), reason="../shared/reference/seed-measures.md is not here")
def test_the_repositorys_measures_are_the_seeds() -> None:
    assert measures.read_measures(measures.MEASURES_MD) == measures.read_measures(SEED)
