"""kiosk-sim's own processes on loopback, for the tests and benchmarks that run them.

A throw-away home gets VRS's demo data (``demo_data``); each server is a ``kiosk-sim``
process (``vrs_args``, ``center_args``) on a free port (``free_port``), taken as started
once it says it listens (``spawn``) and stopped with SIGTERM, then SIGKILL (``stop``).
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


def demo_data_command(instance: Path, residents: int) -> list[str]:
    """``kiosk-sim vrs demo-data`` into the VRS ``instance``, as a command line."""
    demo = ["vrs", "demo-data", "--instance", str(instance), "--residents", str(residents)]
    return [sys.executable, "-m", "kiosk_sim.cli", *demo]


def vrs_args(instance: Path, port: int, site_port: int | None = None) -> list[str]:
    """``kiosk-sim vrs serve``'s arguments: VRS of ``instance`` on ``port`` (its site on
    ``site_port``: -1 none, ``None`` its default)."""
    site = [] if site_port is None else ["--site-port", str(site_port)]
    return ["vrs", "serve", "--instance", str(instance), "--port", str(port), *site]


def center_args(home: Path, port: int, vrs_port: int, *extra: str) -> list[str]:
    """``kiosk-sim center serve``'s arguments: the center of ``home`` on ``port``, asking
    the VRS on loopback's ``vrs_port``; ``extra`` after them."""
    vrs = f"https://127.0.0.1:{vrs_port}"
    return ["center", "serve", "--home", str(home), "--port", str(port), "--vrs", vrs, *extra]


def demo_data(home: Path, residents: int, env: dict[str, str]) -> None:
    """``kiosk-sim vrs demo-data`` into ``home/vrs``: the residents' ledger and card profiles."""
    subprocess.run(
        demo_data_command(home / "vrs", residents),
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
