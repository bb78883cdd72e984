"""Card-layer benchmarks through the real PC/SC stack (pcscd + vpcd + software card).

    .venv/bin/python benchmarks/bench_card.py [--rounds N]

Starts the software card in its own process (`kiosk-sim card emulate`, the
second Virtual PCD slot, a throw-away instance directory), then measures:

1. one APDU round trip (SELECT of the 券面事項入力補助AP) through pcscd;
2. reading and verifying a card: SELECT, tries query, VERIFY, EF 0001–0004
   and 0007, the card-presence signature, and the verification of it all
   against the trust store; with the number of APDUs it took;
3. `kiosk-sim card conformance` (no PIN try): wall and CPU time of the probe as
   its own process (os.wait4's rusage), and of the session alone in this process.
4. what ``--trace`` costs (``card_reader.trace``): the same APDUs with and without
   a ``TracingTransport``, in alternating blocks of one run: the round trip, the
   ratio, and this process's CPU time per APDU (``resource.getrusage``).

Needs pcscd running with the vpcd driver (bin/setup starts it).
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from card_reader import PcscTransport, TextApplication, TrustStore, verify_card
from card_reader.conformance import run_conformance
from card_reader.pcsc import wait_for_card_state
from card_reader.softcard import DevCardIssuer
from card_reader.trace import TraceWriter, TracingTransport, trace_key
from card_reader.transport import Transport

ROOT = Path(__file__).resolve().parents[1]
READER = "Virtual PCD 00 01"
SELECT = bytes.fromhex("00A4040C0AD3921000310001010408")


def start_card(instance: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiosk_sim.cli",
            "card",
            "emulate",
            "--slot",
            "1",
            "--instance",
            str(instance),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    # the emulator says when it is in; then pcscd must have noticed it too
    assert proc.stdout is not None
    if "inserted" not in proc.stdout.readline():
        proc.kill()
        raise SystemExit("the software card emulator did not start")
    if not wait_for_card_state(READER, True, 5):
        proc.kill()
        raise SystemExit("the software card did not appear in " + READER)
    return proc


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(len(xs) * q))]


def probe_conformance(rounds: int) -> None:
    """`card conformance` as the process a tester runs, then the session alone in this one."""
    walls, cpus = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk_sim.cli", "card", "conformance", "--reader", READER],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - t0)
        cpus.append(usage.ru_utime + usage.ru_stime)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit("card conformance did not report all agree")
    print(f"card conformance as a process ({rounds} runs, Python start-up included):")
    print(
        f"  wall median {statistics.median(walls):.3f} s   CPU median {statistics.median(cpus):.3f} s"
    )
    walls, cpus, checks = [], [], 0
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        with PcscTransport(READER, timeout=5.0) as transport:
            checks = len(run_conformance(transport, reader=READER).checks)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    print(f"the conformance session alone ({checks} checks, model card's keys included):")
    print(
        f"  wall median {statistics.median(walls):.3f} s   CPU median {statistics.median(cpus):.3f} s"
    )


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def trace_overhead(instance: Path, rounds: int, reads: int) -> None:
    """The same APDUs with and without tracing, alternating blocks so drift hits both."""
    key = trace_key(instance)
    with PcscTransport(READER, timeout=5.0) as plain:
        writer = TraceWriter(instance / "bench-trace.jsonl", key)
        traced = TracingTransport(plain, writer)

        def selects(t: Transport, n: int) -> tuple[list[float], float]:
            times, c0 = [], cpu()
            for _ in range(n):
                t0 = time.perf_counter()
                t.transmit(SELECT)
                times.append((time.perf_counter() - t0) * 1e3)
            return times, cpu() - c0

        def sessions(t: Transport, n: int) -> tuple[list[float], float, int]:
            times, c0, count = [], cpu(), 0
            for _ in range(n):
                t0 = time.perf_counter()
                app = TextApplication(t)
                app.select()
                app.pin_tries_left()
                app.verify_pin("1234")
                app.read_card_files(secrets.token_bytes(32))
                count = app.apdu_count
                times.append((time.perf_counter() - t0) * 1e3)
            return times, cpu() - c0, count

        selects(plain, 200)  # warm-up
        sel: dict[str, list[float]] = {"plain": [], "traced": []}
        sel_cpu = {"plain": 0.0, "traced": 0.0}
        ses: dict[str, list[float]] = {"plain": [], "traced": []}
        ses_cpu = {"plain": 0.0, "traced": 0.0}
        per_session = 0
        block = 100
        for _ in range(max(1, rounds // block)):
            for name, t in (("plain", plain), ("traced", traced)):
                times, used = selects(t, block)
                sel[name] += times
                sel_cpu[name] += used
        for _ in range(max(1, reads // 10)):
            for name, t in (("plain", plain), ("traced", traced)):
                times, used, per_session = sessions(t, 10)
                ses[name] += times
                ses_cpu[name] += used
        writer.close()
    print(
        f"--trace overhead ({len(sel['plain'])} SELECTs and {len(ses['plain'])} card reads each way):"
    )
    for name in ("plain", "traced"):
        n = len(sel[name])
        print(
            f"  SELECT {name:6}: median {statistics.median(sel[name]):.3f} ms"
            f"   CPU {sel_cpu[name] / n * 1e6:.0f} us/APDU"
        )
    for name in ("plain", "traced"):
        apdus = len(ses[name]) * per_session
        print(
            f"  read   {name:6}: median {statistics.median(ses[name]) / per_session:.3f} ms/APDU"
            f"   CPU {ses_cpu[name] / apdus * 1e6:.0f} us/APDU"
        )
    sel_ratio = statistics.median(sel["traced"]) / statistics.median(sel["plain"]) - 1
    ses_ratio = statistics.median(ses["traced"]) / statistics.median(ses["plain"]) - 1
    n_sel, n_ses = len(sel["plain"]), len(ses["plain"]) * per_session
    cpu_sel = (sel_cpu["traced"] - sel_cpu["plain"]) / n_sel * 1e6
    cpu_ses = (ses_cpu["traced"] - ses_cpu["plain"]) / n_ses * 1e6
    print(
        f"  overhead: SELECT {sel_ratio:+.1%} of the round trip ({cpu_sel:+.0f} us CPU/APDU),"
        f" read {ses_ratio:+.1%} ({cpu_ses:+.0f} us CPU/APDU); target <= 10 %"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2000, help="APDU round trips to time")
    ap.add_argument("--reads", type=int, default=100, help="full card reads to time")
    ap.add_argument("--probes", type=int, default=5, help="conformance probes to time")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp)
        proc = start_card(instance)
        try:
            trust = TrustStore.load(DevCardIssuer.trust_store_path(instance))
            for timeout in (None, 5.0):
                with PcscTransport(READER, timeout=timeout) as transport:
                    for _ in range(200):  # warm-up: the first APDUs after insertion are slower
                        transport.transmit(SELECT)
                    times = []
                    for _ in range(args.rounds):
                        t0 = time.perf_counter()
                        transport.transmit(SELECT)
                        times.append((time.perf_counter() - t0) * 1e3)
                guard = "direct call" if timeout is None else f"{timeout:g} s timeout guard"
                print(f"APDU round trip through pcscd + vpcd ({args.rounds} SELECTs, {guard}):")
                print(f"  median {statistics.median(times):.3f} ms   p99 {pct(times, 0.99):.3f} ms")
            with PcscTransport(READER, timeout=5.0) as transport:
                reads, count = [], 0
                for _ in range(args.reads):
                    t0 = time.perf_counter()
                    app = TextApplication(transport)
                    app.select()
                    app.pin_tries_left()
                    app.verify_pin("1234")
                    challenge = secrets.token_bytes(32)
                    card = app.read_card_files(challenge)
                    verify_card(card, trust, expected_challenge=challenge)
                    reads.append((time.perf_counter() - t0) * 1e3)
                    count = app.apdu_count
                print(f"read and verify a card ({args.reads} times, {count} APDUs each):")
                print(f"  median {statistics.median(reads):.2f} ms   p99 {pct(reads, 0.99):.2f} ms")
            probe_conformance(args.probes)
            trace_overhead(instance, args.rounds, args.reads)
        finally:
            proc.terminate()
            proc.wait(5)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
