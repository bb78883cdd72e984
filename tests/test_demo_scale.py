"""`kiosk-sim demo --scale` as a user runs it: VRS on PostgreSQL, the center as 2 workers,
simulated kiosks; and Ctrl-C or SIGTERM leaves no postgres, redis or center process behind.

No card reader: the simulated kiosks read software cards in memory, so this runs beside a
demo that holds vpcd's slot 0 (and the test slot) without touching either.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk_sim.cli import main
from tests.helpers import ended
from vrs.pg import Cluster

ROOT = Path(__file__).resolve().parents[1]
START = 180.0  # seconds: the first start makes the cluster (initdb) and the demo data


def free_base(count: int = 5) -> int:
    """A port P with P..P+count-1 free on loopback."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + count > 65535:
            continue
        try:
            held = []
            for p in range(base, base + count):
                t = socket.socket()
                held.append(t)
                t.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for t in held:
                t.close()
    raise AssertionError("no free ports")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def processes_mentioning(text: str) -> list[str]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and not ended(int(d.name)):
            line = cmdline(int(d.name))
            if text in line:
                found.append(f"{d.name}: {line}")
    return found


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    # under /tmp and open to others' traversal: run as root, the cluster runs as postgres
    folder = Path(tempfile.mkdtemp(prefix="kiosk-sim-scale-", dir="/tmp"))
    os.chmod(folder, 0o711)
    try:
        yield folder
    finally:
        cluster = Cluster.of_instance(folder / "scale" / "vrs")
        if cluster.running():  # a failed test's: never left running
            cluster.stop(timeout=2)
        shutil.rmtree(folder, ignore_errors=True)


def issuances(cluster: Cluster) -> tuple[int, int, int]:
    """(issuances, certificate IDs they name, certificates) in VRS's database, every area
    (as the cluster's superuser: row-level security hides each area's rows from others)."""
    with cluster.superuser("vrs") as conn:
        rows = conn.execute("SELECT certificate_ids FROM issuances").fetchall()
        (certificates,) = conn.execute("SELECT COUNT(*) FROM certificates").fetchone() or (0,)
    return len(rows), sum(len(r[0].split()) for r in rows), int(certificates)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill"])
def test_scale_demo_issues_through_postgresql_and_two_workers_and_stops_everything(
    home: Path, how: str
) -> None:
    base = free_base()
    out = home / f"demo-{how}.out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with out.open("wb") as f:
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kiosk_sim.cli",
                "demo",
                "--scale",
                "--home",
                str(home),
                "--ports-from",
                str(base),
                "--workers",
                "2",
                "--kiosks",
                "3",
                "--rate",
                "15",
            ],
            stdout=f,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=home,
            start_new_session=True,  # its own process group: a terminal's Ctrl-C reaches all
        )
    cluster = Cluster.of_instance(home / "scale" / "vrs")
    try:
        deadline = time.monotonic() + START
        while "Ctrl-C stops everything" not in out.read_text(errors="replace"):
            assert demo.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        # VRS on the instance's own PostgreSQL; the center as a supervisor of 2 workers
        # and a Redis of their own; the simulated kiosks
        assert cluster.running()
        postmaster = cluster.pid()
        assert postmaster is not None
        kids = {cmdline(p).split(" -m ")[-1].split(" --")[0].strip(): p for p in children(demo.pid)}
        # the guard that stops the cluster if the demo is killed (pg_ctl's server is no child)
        guard = kids.pop(f"vrs.pg hold {home / 'scale' / 'vrs'}")
        assert set(kids) == {
            "kiosk_sim.cli vrs serve",
            "kiosk_sim.cli center serve",
            "kiosk_sim.simkiosks",
        }, kids
        center = kids["kiosk_sim.cli center serve"]
        under_center = children(center)
        workers = [p for p in under_center if "--worker" in cmdline(p)]
        redis = [p for p in under_center if "redis-server" in cmdline(p)]
        assert len(workers) == 2 and len(redis) == 1, [cmdline(p) for p in under_center]
        assert "(2 workers, pids" in out.read_text()
        # VRS reads its database's URL (with its password) from the environment, not argv
        assert "postgresql://" not in cmdline(kids["kiosk_sim.cli vrs serve"])

        before = issuances(cluster)[0]
        deadline = time.monotonic() + 60
        while issuances(cluster)[0] < before + 10:
            assert time.monotonic() < deadline, out.read_text()
            assert demo.poll() is None, out.read_text()
            time.sleep(0.5)
        n, named, certificates = issuances(cluster)
        assert named == certificates == n  # one copy each, every one recorded whole

        everything = [demo.pid, *kids.values(), guard, *workers, *redis, postmaster]
        if how == "ctrl-c":
            os.killpg(demo.pid, signal.SIGINT)
        else:  # SIGKILL: the demo cannot stop anything; its children are told of its death
            demo.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
        t0 = time.monotonic()
        while not all(ended(p) for p in everything) and time.monotonic() - t0 < 10:
            time.sleep(0.02)
        took = time.monotonic() - t0
        left = [f"{p}: {cmdline(p)}" for p in everything if not ended(p)]
        assert not left and took < 5.0, (took, left)
        assert demo.wait(1) == (-signal.SIGKILL if how == "sigkill" else 0), out.read_text()
        assert not cluster.running()
        assert processes_mentioning(str(home)) == []
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()

    # what the kiosks saw: issued, nothing failed on the way (the stop drops a visit at most)
    status = json.loads((home / "scale" / "kiosks-status.json").read_text())["outcomes"]
    assert status.get("issued", 0) >= 10, status
    # no resident's personal data in any log of the scale demo
    secrets = set()
    demo_dir = home / "scale" / "vrs" / "demo"
    for card in json.loads((demo_dir / "cards.json").read_text()):
        holder = json.loads((demo_dir / card["profile"]).read_text())
        secrets |= {holder["my_number"], holder["birth_date"], *holder["name"].split("\u3000")}
    for f in (home / "scale" / "logs").iterdir():
        text = f.read_text(errors="replace")
        assert not [s for s in secrets if s in text], f"personal data in {f.name}"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--workers", "2"], "--workers, --kiosks and --rate go with --scale"),
        (["--scale", "--workers", "0"], "between 1 and 16"),
        (["--scale", "--kiosks", "many"], "not a whole number: 'many'"),
        (["--scale", "--rate", "-1"], "between 0 and 1000"),
    ],
)
def test_bad_scale_options_are_said_without_a_traceback(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    try:
        code = main(["demo", "--home", str(tmp_path), *argv])
    except SystemExit as exc:  # argparse's own refusal
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err
    assert not (tmp_path / "scale").exists()  # nothing was started
