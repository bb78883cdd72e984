"""``kiosk serve --trace`` with a trace file that cannot be written: refused at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_kiosk_serve_refuses_an_unwritable_trace_before_starting(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable, "-m", "kiosk_sim.cli", "kiosk", "serve", "--home", str(tmp_path),
            "--port", "0", "--trace", str(tmp_path / "no-dir" / "t.jsonl"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot write the trace file ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "pki").exists()  # nothing made before the refusal
