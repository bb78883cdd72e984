"""`kiosk-sim cert verify` of the printed overseas certificate (both codes): wall and CPU time.

.venv/bin/python benchmarks/bench_verify.py [--rounds N]

CPU counts this process and its children (pdftoppm), so a busy machine inflates the
wall time but hardly the CPU time. The whole command is timed too: Python's start and
the imports of every system's CLI come on top of the verification itself.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from certs.inputs import pdf_pages, read_argument
from certs.vds import load_csca
from certs.verdicts import Trust, judge
from certs.verify import KeySets
from kiosk_sim.cli import main as kiosk_sim

ROOT = Path(__file__).resolve().parents[1]


def cpu() -> float:
    me, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def measure(label: str, fn: Callable[[], object], rounds: int) -> None:
    fn()  # warm-up: imports, fonts, caches
    walls, cpus = [], []
    for _ in range(rounds):
        c0, t0 = cpu(), time.perf_counter()
        fn()
        walls.append((time.perf_counter() - t0) * 1e3)
        cpus.append((cpu() - c0) * 1e3)
    wall, used = statistics.median(walls), statistics.median(cpus)
    print(f"{label:44} wall {wall:7.1f} ms   CPU {used:7.1f} ms  (medians of {rounds})")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    rounds = ap.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        assert kiosk_sim(["cert", "sample", "--out", tmp, "--overseas"]) == 0
        trust = Trust(KeySets(), load_csca(out / "csca.pem"))
        trust.keys.add_path(out / "jwks.json")  # type: ignore[union-attr]
        pdf, png = out / "certificate.pdf", out / "certificate.png"
        raw = pdf.read_bytes()
        measure("PDF: rasterize (pdftoppm, 200 dpi)", lambda: pdf_pages(raw), rounds)
        measure("PDF: read both codes", lambda: read_argument(str(pdf)), rounds)
        measure(
            "PDF: read and judge both codes", lambda: judge(read_argument(str(pdf)), trust), rounds
        )
        measure(
            "PNG: read and judge both codes", lambda: judge(read_argument(str(png)), trust), rounds
        )
        command = [sys.executable, "-m", "kiosk_sim.cli", "cert", "verify"]
        command += ["--jwks", str(out / "jwks.json"), "--csca", str(out / "csca.pem"), str(pdf)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        def whole() -> None:
            subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)

        measure("PDF: the whole command (a new process)", whole, max(5, rounds // 4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
