"""`kiosk-sim demo` as a user runs it, for many visits: real processes, pcscd + vpcd, TLS.

The demo's card goes into the test slot ("Virtual PCD 00 01", held by the
session's reader lock, so no other test's card is pulled) and its servers on
free ports (so a demo someone runs on the usual ports is left alone). Visits
are driven by benchmarks/demo_visits.py, the same driver as the long run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .card_reader.test_pcsc import pcscd  # noqa: F401 - the reader lock; skips without pcscd
from .helpers import ended
from .test_demo_control import run_cli

pytestmark = pytest.mark.pcsc

ROOT = Path(__file__).resolve().parents[1]
# "a few hundred"; pcscd sees a card come or go within its 0.4 s poll: 0.5-0.8 s a visit
VISITS = 300
LOG_MAX = 4096  # small, so that the visits rotate the kiosk's and the center's logs
BACKUPS = 3  # the demo's default


def _driver() -> Any:
    spec = importlib.util.spec_from_file_location(
        "demo_visits", ROOT / "benchmarks" / "demo_visits.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo_visits"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


dv = _driver()


def wait_ended(pids: list[int], timeout: float) -> float:
    t0 = time.monotonic()
    while not all(ended(p) for p in pids):
        if time.monotonic() - t0 > timeout:
            break
        time.sleep(0.02)
    return time.monotonic() - t0


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-home")


@pytest.fixture
def demo(home: Path) -> Iterator[Any]:
    with dv.running_demo(home, slot=1, log_max_bytes=LOG_MAX) as d:
        yield d


def test_demo_serves_visits_with_bounded_logs_and_stops_each_child(demo: Any) -> None:
    children = demo.children
    assert set(children) == {"vrs", "center", "kiosk", "card"}
    for name, pid in children.items():
        # nothing a child writes ever goes to a pipe that may stop being read
        for fd in (1, 2):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            assert not target.startswith("pipe:"), f"{name}'s fd {fd} is {target}"

    report = dv.drive(demo, VISITS)

    assert report["failures"] == {}
    assert report["done"] == VISITS
    assert all(report["children_alive"].values()), report["children_alive"]
    logs = demo.home / "logs"
    for name in children:
        assert (logs / f"{name}.log").stat().st_size > 0, f"{name} logged nothing"
    for name in ("kiosk", "center"):  # the chattiest: rotated, and no more files than kept
        rotated = sorted(p.name for p in logs.glob(f"{name}.log.*"))
        assert rotated == [f"{name}.log.{i}" for i in range(1, BACKUPS + 1)], rotated
    for f in logs.iterdir():
        limit = LOG_MAX if ".log" in f.name else 4096  # .out: a few start-up lines
        assert f.stat().st_size <= limit, f"{f.name}: {f.stat().st_size} bytes"
    assert report["files"]["prints_bytes"] == 0  # --no-print-files: nothing printed to disk
    # no personal data of any card in any log (the card emulator's included)
    secrets = set()
    for card in demo.status["cards"]:
        holder = json.loads((demo.home / "vrs" / "demo" / card["profile"]).read_text())
        secrets |= {holder["my_number"], holder["birth_date"], *holder["name"].split("\u3000")}
    for f in logs.iterdir():
        text = f.read_text(errors="replace")
        assert not [s for s in secrets if s in text], f"personal data in {f.name}"

    # SIGTERM to each child, one after another: each ends within 5 s
    for name, pid in children.items():
        os.kill(pid, signal.SIGTERM)
        took = wait_ended([pid], 10)
        assert took < 5.0, f"{name} took {took:.1f} s to stop"
    # and the demo says so, with where the log is
    deadline = time.monotonic() + 5
    out = ""
    while time.monotonic() < deadline and out.count(" exited (code ") < len(children):
        out = (demo.home / "demo.out").read_text()
        time.sleep(0.1)
    for name in children:
        assert f"{name} exited (code 0); see {logs / f'{name}.log'}" in out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_demo_stops_everything_within_5_s(demo: Any, sig: signal.Signals) -> None:
    status = demo.http.get(demo.control + "/api/status", timeout=5).json()
    assert status["inserted"] == 0  # the first card is in, as for a user
    pids = [demo.proc.pid, *demo.children.values()]
    assert not any(ended(p) for p in pids)
    # SIGTERM (or Ctrl-C) stops the children first; even a demo killed outright leaves none
    # behind holding its port
    demo.proc.send_signal(sig)
    took = wait_ended(pids, 10)
    assert took < 5.0, f"the demo and its children took {took:.1f} s to stop"
    assert demo.proc.wait(1) == (0 if sig == signal.SIGTERM else -signal.SIGKILL)


def test_a_plain_demo_prints_pdfs_into_the_instance_and_prints_how_to_check_them(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    with dv.running_demo(home, slot=1, print_files=True) as d:  # no print option: the default
        index, card = dv.issuable(d)[0]
        dv.reset(d)
        dv.visit(d, index, card)
        out = (home / "demo.out").read_text()
    prints = home / "prints"
    assert f"printed certificates go to {prints}/ as PDFs" in out
    pdfs = list(prints.glob("certificate-*.pdf"))
    assert len(pdfs) == 1  # one domestic copy, one page
    # the command the demo printed, run on that certificate
    line = next(ln for ln in out.splitlines() if " cert verify --jwks " in ln)
    args = shlex.split(line)[1:]  # without the program: this checkout's, as a module
    assert args[-1] == str(prints / "certificate-….pdf")
    done = run_cli(*args[:-1], str(pdfs[0]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("VALID")
