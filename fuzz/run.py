"""Runs every atheris target for N seconds and writes ``.test-results/fuzz.json``.

    .venv/bin/python fuzz/run.py --seconds 60 [--targets tlv qr_numeric]

Part of ``bin/campaign``, not of ``bin/test``. Each target is its own process
(libFuzzer owns it) on a corpus kept in ``.test-results/fuzz-corpus/TARGET``: seeded
on every run with genuine cards and the spec vectors, growing across runs.

A crash is any exception other than the documented error types, a failed soundness
check (a changed card that verifies), a hang (``-timeout``) or memory beyond
``-rss_limit_mb``. libFuzzer stops at the first, so the target is started again for
the time left, and crashes are counted once per kind (the exception and where it
was raised). The inputs are kept in ``.test-results/fuzz-crashes/``: reproduce one
with ``.venv/bin/python fuzz/TARGET.py FILE``. Exit 1 when anything crashed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / ".test-results"
# target -> the security classes it tries (kiosk_sim/security.py)
TARGETS = {
    "tlv": ["B01"],
    "card_client": ["B02", "B03"],
    "shc_verify": ["B04"],
    "qr_numeric": ["B05"],
    "qr_image": ["B05"],
    "cert_input": ["B08"],
    "vds_seal": ["B09"],
}
MAX_RESTARTS = 20  # a target that crashes at once would otherwise spin for all its seconds
GRACE = 120  # seconds past max_total_time before a target that does not stop is killed


def executions(log: str) -> int:
    """libFuzzer's count: the final stats, or the last '#N' status line when it crashed."""
    stat = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    if stat:
        return int(stat[-1])
    return max((int(n) for n in re.findall(r"^#(\d+)\s", log, re.M)), default=0)


def crash_kind(log: str) -> str:
    """One line that names the crash: the exception and the innermost frame, or hang/memory."""
    if "libFuzzer: timeout" in log or "ALARM: working on the last Unit" in log:
        return "hang (no answer within -timeout)"
    if "libFuzzer: out-of-memory" in log:
        return "memory beyond -rss_limit_mb"
    trace = log.split("Uncaught Python exception", 1)[-1].splitlines()
    frames = [ln.strip() for ln in trace if ln.strip().startswith('File "')]
    errors = [ln for ln in trace if re.match(r"[A-Za-z_][\w.]*(: |$)", ln) and ln != "Traceback"]
    return f"{errors[0] if errors else 'crash'} at {frames[-1] if frames else '?'}"


def run_target(name: str, seconds: float) -> dict:
    corpus, crashes = RESULTS / "fuzz-corpus" / name, RESULTS / "fuzz-crashes"
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    started, total, kinds, kept = time.monotonic(), 0, set(), []
    for _ in range(MAX_RESTARTS):
        left = int(seconds - (time.monotonic() - started))
        if left < 1:
            break
        before = set(crashes.glob(f"{name}-*"))
        command = [
            sys.executable,
            str(HERE / f"{name}.py"),
            str(corpus),
            f"-max_total_time={left}",
            "-timeout=10",
            "-rss_limit_mb=2048",
            "-print_final_stats=1",
            f"-artifact_prefix={crashes}/{name}-",
        ]
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, errors="replace", timeout=left + GRACE
            )
        except subprocess.TimeoutExpired as exc:
            log = (exc.stderr or b"").decode("utf-8", "replace") if exc.stderr else ""
            total += executions(log)
            kinds.add("hang (the target did not stop)")
            continue
        log = proc.stdout + proc.stderr
        total += executions(log)
        if proc.returncode == 0:
            break
        kinds.add(crash_kind(log))
        kept += sorted(
            str(p.relative_to(HERE.parent)) for p in set(crashes.glob(f"{name}-*")) - before
        )
        print(f"{name}: crash: {crash_kind(log)}", file=sys.stderr)
    elapsed = round(time.monotonic() - started, 1)
    return {
        "target": name,
        "classes": TARGETS[name],
        "executions": total,
        "seconds": elapsed,
        "crashes": len(kinds),
        "crash_kinds": sorted(kinds),
        "inputs": kept,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="per target (default 60)")
    parser.add_argument("--targets", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    args = parser.parse_args(argv)
    results = []
    for name in args.targets:
        print(f"{name}: fuzzing for {args.seconds:g} s", file=sys.stderr)
        results.append(run_target(name, args.seconds))
        r = results[-1]
        print(f"{name}: {r['executions']:,} executions, {r['crashes']} crash(es)", file=sys.stderr)
    summary = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds_per_target": args.seconds,
        "targets": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fuzz.json").write_text(json.dumps(summary, indent=1))
    return 1 if any(r["crashes"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
