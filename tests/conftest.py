"""Suite-wide hooks: record which tests prove which seed measure, and how they ended.

`kiosk-sim measures` reads the file written here (``.test-results/measures.json``)
together with ``shared/reference/seed-measures.md``; it runs nothing itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parents[1] / ".test-results" / "measures.json"

_outcomes: dict[str, str] = {}
_measures: dict[str, list[str]] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        ids = [str(m.args[0]) for m in item.iter_markers("measure") if m.args]
        if ids:
            _measures[item.nodeid] = ids


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _measures:
        return
    # a test passed only if setup, call and teardown all passed
    if report.failed:
        _outcomes[report.nodeid] = "failed"
    elif report.skipped:
        _outcomes.setdefault(report.nodeid, "skipped")
    elif report.when == "call":
        _outcomes.setdefault(report.nodeid, "passed")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _measures or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    RESULTS.parent.mkdir(exist_ok=True)
    tests = [
        {"test": nodeid, "measures": ids, "outcome": _outcomes.get(nodeid, "not run")}
        for nodeid, ids in sorted(_measures.items())
    ]
    RESULTS.write_text(json.dumps({"tests": tests}, indent=1))
