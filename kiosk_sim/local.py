"""kiosk-sim's own processes on loopback, for the tests and benchmarks that run them.

A throw-away home gets VRS's demo data (``demo_data``); each server is a
``kiosk-sim`` process on a free port (``free_port``), taken as started once it
says it listens (``spawn``) and stopped with SIGTERM, then SIGKILL (``stop``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_data(home: Path, residents: int, env: dict[str, str]) -> None:
    """``kiosk-sim vrs demo-data`` into ``home/vrs``: the residents' ledger and card profiles."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "kiosk_sim.cli",
            "vrs",
            "demo-data",
            "--instance",
            str(home / "vrs"),
            "--residents",
            str(residents),
        ],
        check=True,
        env=env,
        cwd=home,
        stdout=subprocess.DEVNULL,
    )


def spawn(args: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen[str], str]:
    """A ``kiosk-sim`` process, once it says it listens (and that line); its stderr in ``log``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk_sim.cli", *args],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env=env,
        cwd=log.parent,  # not the caller's: `-m` would import the checkout found there first
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening" in line:
            # whatever it prints later is read, so a full pipe can never stall it
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, line
    raise RuntimeError(f"{args[:2]} did not start: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
