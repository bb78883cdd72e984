"""Suite-wide hooks: record which tests prove which seed measure or try which
security class, how they ended, and how many cases they tried.

`kiosk-sim measures` reads ``.test-results/measures.json`` together with
``kiosk_sim/measures.md``; `kiosk-sim security` reads
``.test-results/security.json``. Neither runs anything itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

RESULTS_DIR = Path(__file__).resolve().parents[1] / ".test-results"
RESULTS = RESULTS_DIR / "measures.json"

_outcomes: dict[str, str] = {}
_measures: dict[str, list[str]] = {}
_security: dict[str, list[str]] = {}
_cases: dict[str, int] = {}


def pytest_configure(config: pytest.Config) -> None:
    # cryptography's Rust code looks up datetime.datetime once, at its first certificate
    # build, and keeps it: under freezegun that is FakeDatetime, and every real datetime
    # after the freeze is refused (TypeError). One build here, before any test freezes time.
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "warm-up")])
    now = datetime.now(UTC)
    cert = x509.CertificateBuilder(name, name, key.public_key(), 1, now, now + timedelta(days=1))
    assert cert.sign(key, hashes.SHA256()).not_valid_after_utc > now


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        ids = [str(m.args[0]) for m in item.iter_markers("measure") if m.args]
        if ids:
            _measures[item.nodeid] = ids
        classes = [str(m.args[0]) for m in item.iter_markers("security") if m.args]
        if classes:
            _security[item.nodeid] = classes


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _measures and report.nodeid not in _security:
        return
    # a test passed only if setup, call and teardown all passed
    if report.failed:
        _outcomes[report.nodeid] = "failed"
    elif report.skipped:
        _outcomes.setdefault(report.nodeid, "skipped")
    elif report.when == "call":
        _outcomes.setdefault(report.nodeid, "passed")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    RESULTS_DIR.mkdir(exist_ok=True)
    if _measures:
        tests = [
            {"test": nodeid, "measures": ids, "outcome": _outcomes.get(nodeid, "not run")}
            for nodeid, ids in sorted(_measures.items())
        ]
        RESULTS.write_text(json.dumps({"tests": tests}, indent=1))
    if _security:
        tests = [
            {
                "test": nodeid,
                "classes": ids,
                "outcome": _outcomes.get(nodeid, "not run"),
                "cases": _cases.get(nodeid, 1),
            }
            for nodeid, ids in sorted(_security.items())
        ]
        run = {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "hypothesis_profile": os.environ.get("HYPOTHESIS_PROFILE", "default"),
        }
        (RESULTS_DIR / "security.json").write_text(json.dumps({**run, "tests": tests}, indent=1))


class Cases:
    """Counts the cases a test tries, for the security report (default: 1 per test).

    Session-scoped so hypothesis tests can take it; the running test is found
    from ``PYTEST_CURRENT_TEST``. Call ``cases()`` once per example or attempt,
    or ``cases(n)`` for a batch.
    """

    def __call__(self, n: int = 1) -> None:
        current = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
        if current:
            _cases[current] = _cases.get(current, 0) + n


@pytest.fixture(scope="session")
def cases() -> Cases:
    return Cases()


@pytest.fixture(scope="session")
def test_reader() -> Iterator[None]:
    """Holds the test reader slot ("Virtual PCD 00 01") for this whole run.

    vpcd takes one card per slot: two test runs on one machine would pull each
    other's cards out, so a second run waits here until the first is done.
    """
    with open("/tmp/kiosk-sim-test-reader.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
