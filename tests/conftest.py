"""Suite-wide hooks: record which tests prove which seed measure, and how they ended.

`kiosk-sim measures` reads the file written here (``.test-results/measures.json``)
together with ``shared/reference/seed-measures.md``; it runs nothing itself.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def test_reader() -> Iterator[None]:
    """Holds the test reader slot ("Virtual PCD 00 01") for this whole run.

    vpcd takes one card per slot: two test runs on one machine would pull each
    other's cards out, so a second run waits here until the first is done.
    """
    with open("/tmp/kiosk-sim-test-reader.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
