"""Does `kiosk-sim demo` run all day? N resident visits through the real demo processes.

Starts `kiosk-sim demo` in a throw-away home (KIOSK_SIM_HOME) on free ports,
then drives N visits one after another, each as a resident would make it at
the kiosk screen, through the kiosk's HTTP API (GET /api/state, POST
/api/action) and the demo's card control (POST /api/insert/<i>, /api/remove on
the control page): card placed → 証明書交付 → PIN → reading → remove card →
municipality → domestic → 1 copy → confirm → pay → printing → done →
受け取りました. The cards rotate through the demo cards that can be issued.

Reports visits done and failed (and why), visits/s, each child's memory (RSS
from /proc at the start, at half time and at the end: the growth over the
second half), CPU per visit per child (utime+stime from /proc/<pid>/stat; the
driver polls /api/state every POLL seconds, which the kiosk's figure
includes), and the size of the instance folder's logs, prints and database.

    .venv/bin/python benchmarks/demo_visits.py --visits 10000 [--json out.json]

The card goes into vpcd slot 0 ("Virtual PCD 00 00", the demo's own) unless
--slot 1, which takes the test runs' reader lock first; it refuses to start
while a card is in the slot (a demo someone runs).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
TEST_READER_LOCK = "/tmp/kiosk-sim-test-reader.lock"  # tests/conftest.py: slot 1's lock
POLL = 0.02  # seconds between two looks at the kiosk's screen
CLK_TCK = os.sysconf("SC_CLK_TCK")


class VisitFailed(Exception):
    def __init__(self, step: str, state: dict[str, Any] | None) -> None:
        self.step = step
        self.screen = (state or {}).get("screen")
        self.code = (state or {}).get("code")
        super().__init__(f"{step}: screen={self.screen} code={self.code}")


# --- /proc ----------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def pcscd_pid() -> int | None:
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                if (d / "comm").read_text().strip() == "pcscd":
                    return int(d.name)
    return None


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


# --- the demo -------------------------------------------------------------------


def free_ports_from(count: int = 5) -> int:
    """A first port with ``count`` free ones after it."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000)
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + count):
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise SystemExit("no free ports found")


@dataclass
class Demo:
    home: Path
    proc: subprocess.Popen[bytes]
    kiosk: str
    control: str
    status: dict[str, Any]
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def children(self) -> dict[str, int]:
        return dict(self.status["children"])

    def state(self) -> dict[str, Any]:
        return self.http.get(self.kiosk + "/api/state", timeout=10).json()  # type: ignore[no-any-return]

    def act(self, action: str, value: Any = None) -> None:
        r = self.http.post(
            self.kiosk + "/api/action", json={"action": action, "value": value}, timeout=10
        )
        r.raise_for_status()

    def card(self, path: str) -> None:
        r = self.http.post(self.control + path, timeout=30)
        if r.status_code != 200:
            raise VisitFailed(f"card control {path}: {r.status_code} {r.text[:200]}", None)

    def wait(self, want: str, step: str, timeout: float = 15.0) -> dict[str, Any]:
        """Polls the screen until it is ``want``; a screen that ends the visit fails it."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if state["screen"] == want:
                return state
            if state["screen"] in ("error", "cancelled", "locked", "out_of_service") or (
                state.get("code") and state["screen"] != "reading"
            ):
                raise VisitFailed(step, state)
            if time.monotonic() > deadline:
                raise VisitFailed(f"{step} (timeout waiting for {want})", state)
            time.sleep(POLL)


@contextlib.contextmanager
def running_demo(
    home: Path,
    *,
    slot: int = 0,
    ports_from: int | None = None,
    log_max_bytes: int | None = None,
    start_timeout: float = 120.0,
    print_files: bool = False,
) -> Iterator[Demo]:
    """`kiosk-sim demo` in ``home`` on free ports; stopped (SIGTERM) at the end. Without
    ``print_files`` no PDF is written: thousands of visits would fill the disk."""
    base = ports_from or free_ports_from()
    cmd = [
        sys.executable,
        "-m",
        "kiosk_sim.cli",
        "demo",
        "--home",
        str(home),
        "--ports-from",
        str(base),
        "--slot",
        str(slot),
    ]
    if log_max_bytes is not None:
        cmd += ["--log-max-bytes", str(log_max_bytes)]
    if not print_files:
        cmd.append("--no-print-files")
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KIOSK_SIM_HOME": str(home)}
    with (home / "demo.out").open("wb") as out:  # a file, never a pipe nobody reads
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, cwd=ROOT
        )
    control = f"http://127.0.0.1:{base + 4}"
    http = requests.Session()
    http.trust_env = False  # loopback only, never through a proxy
    status: dict[str, Any] = {"children": {}}
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                raise SystemExit(
                    f"kiosk-sim demo exited ({proc.returncode}):\n"
                    + (home / "demo.out").read_text(errors="replace")
                )
            try:
                status = http.get(control + "/api/status", timeout=2).json()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise SystemExit("kiosk-sim demo did not start in time") from None
                time.sleep(0.2)
        yield Demo(home, proc, f"http://127.0.0.1:{base + 3}", control, status, http)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        http.close()
        for pid in status["children"].values():  # a demo that failed to stop them: no leftovers
            with contextlib.suppress(OSError):
                # only if that pid is still our child's (not a new process that reused it)
                if str(home).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)


def issuable(demo: Demo) -> list[tuple[int, dict[str, Any]]]:
    """Demo cards that get a certificate: doses on record, in a municipality that issues,
    neither moved out nor deceased, and a PIN that is not locked."""
    offered = {m["code"] for m in demo.state().get("municipalities", [])}
    if not offered:  # the center tells them when a card is placed
        reset(demo)
        demo.card("/api/insert/0")
        offered = {m["code"] for m in demo.wait("menu", "card placed")["municipalities"]}
    return [
        (i, c)
        for i, c in enumerate(demo.status["cards"])
        if c["doses"]
        and c["municipality"] in offered
        and not c.get("pin_locked")
        and not any(w in c["label"] for w in ("moved out", "deceased"))
    ]


def reset(demo: Demo) -> None:
    """Back to an empty reader and the welcome screen, whatever happened."""
    with contextlib.suppress(VisitFailed, requests.RequestException):
        demo.card("/api/remove")
    deadline = time.monotonic() + 120  # a pcscd restart (a fault test's) takes a while
    while time.monotonic() < deadline:
        screen = demo.state()["screen"]
        if screen == "welcome":
            return
        if screen in ("error", "cancelled", "locked"):
            demo.act("ok")
        elif screen == "done":
            demo.act("taken")
        elif screen not in ("reading", "checking", "printing"):
            demo.act("cancel")
        time.sleep(0.1)
    raise SystemExit("the kiosk does not come back to its welcome screen")


def visit(demo: Demo, index: int, card: dict[str, Any]) -> None:
    """One resident's visit; raises VisitFailed with the step and the screen it ended on."""
    demo.card(f"/api/insert/{index}")
    demo.wait("menu", "card placed")
    demo.act("covid-certificate")
    demo.wait("pin", "menu")
    demo.act("pin", card["pin"])
    deadline = time.monotonic() + 15
    while (state := demo.state())["screen"] not in ("remove_card", "municipality"):
        if state["screen"] not in ("reading", "pin") or state.get("code"):
            raise VisitFailed("PIN and reading", state)
        if time.monotonic() > deadline:
            raise VisitFailed("PIN and reading (timeout)", state)
        time.sleep(POLL)
    demo.card("/api/remove")
    demo.wait("municipality", "remove card")
    demo.act("municipality", card["municipality"])
    demo.wait("type", "municipality")
    demo.act("domestic")
    demo.wait("copies", "type")
    demo.act("next")
    demo.wait("confirm", "copies")
    demo.act("next")
    demo.wait("payment", "confirm")
    demo.act("pay")
    done = demo.wait("done", "printing", timeout=30)
    if done["charged"] != done["fee"] or done["tray"] != 1:
        raise VisitFailed("done (charged or tray wrong)", done)
    demo.act("taken")
    demo.wait("welcome", "taken")


@dataclass
class Sample:
    at: int  # visits done
    rss_kib: dict[str, int]
    cpu_s: dict[str, float]


def sample(pids: dict[str, int], at: int) -> Sample:
    """RSS and CPU of each process; one that is gone (pcscd restarted by a fault test) is left out."""
    rss, cpu = {}, {}
    for n, p in pids.items():
        with contextlib.suppress(OSError):
            rss[n], cpu[n] = rss_kib(p), cpu_seconds(p)
    return Sample(at, rss, cpu)


def report(
    demo: Demo,
    pids: dict[str, int],
    samples: list[Sample],
    done: int,
    failed: Counter[str],
    seconds: float,
) -> dict[str, Any]:
    first, last = samples[0], samples[-1]
    half = min(samples, key=lambda s: abs(s.at - last.at / 2))
    visits = max(1, last.at - first.at)
    # a process missing from a sample is not measured (pcscd, when another test restarted it)
    measured = [n for n in pids if all(n in s.rss_kib for s in (first, half, last))]
    logs = demo.home / "logs"
    return {
        "visits": done + sum(failed.values()),
        "done": done,
        "failed": sum(failed.values()),
        "failures": dict(failed),
        "seconds": round(seconds, 1),
        "visits_per_s": round((done + sum(failed.values())) / seconds, 3) if seconds else None,
        "children_alive": {n: Path(f"/proc/{p}").exists() for n, p in pids.items() if n != "pcscd"},
        "rss_kib": {
            n: {
                "start": first.rss_kib[n],
                "half": half.rss_kib[n],
                "end": last.rss_kib[n],
                "growth_second_half_pct": round(
                    100 * (last.rss_kib[n] - half.rss_kib[n]) / max(1, half.rss_kib[n]), 2
                ),
            }
            for n in measured
        },
        "cpu_ms_per_visit": {
            n: round(1000 * (last.cpu_s[n] - first.cpu_s[n]) / visits, 1) for n in measured
        },
        "pcscd_restarted": "pcscd" in pids and pcscd_pid() != pids["pcscd"],
        "files": {
            "logs": {f.name: f.stat().st_size for f in sorted(logs.iterdir()) if f.is_file()},
            "logs_bytes": folder_bytes(logs),
            "prints_bytes": folder_bytes(demo.home / "prints"),
            "vrs_bytes": folder_bytes(demo.home / "vrs"),
            "instance_bytes": folder_bytes(demo.home),
        },
    }


def drive(
    demo: Demo,
    visits: int,
    *,
    progress_every: int = 0,
    progress: Any = None,
) -> dict[str, Any]:
    """``visits`` visits through ``demo``; the report (see the module's docstring)."""
    cards = issuable(demo)
    reset(demo)
    pids = {"demo": demo.proc.pid, **demo.children}
    if (p := pcscd_pid()) is not None:
        pids["pcscd"] = p
    samples = [sample(pids, 0)]
    failed: Counter[str] = Counter()
    pcscd_restarts: list[int] = []  # visits that failed while pcscd was restarted
    aborted: str | None = None
    last_pcscd = pids.get("pcscd")
    done = 0
    t0 = time.monotonic()
    for n in range(visits):
        index, card = cards[n % len(cards)]
        try:
            visit(demo, index, card)
            done += 1
        except (VisitFailed, requests.RequestException) as exc:
            failed[str(exc)] += 1
            print(f"visit {n + 1} failed: {exc}", file=sys.stderr, flush=True)
            try:
                reset(demo)
            except SystemExit as stuck:  # e.g. pcscd stopped for good: report what was done
                aborted = f"after visit {n + 1}: {stuck}"
                print(aborted, file=sys.stderr, flush=True)
                samples.append(sample(pids, n + 1))
                break
            # pcscd restarted meanwhile (a kiosk fault test on this machine does that): the
            # reader was really away, not the demo's doing; counted apart, and in failed
            if (now := pcscd_pid()) != last_pcscd:
                pcscd_restarts.append(n + 1)
                last_pcscd = now
        at = n + 1
        if at == visits // 2 or at == visits or (progress_every and at % progress_every == 0):
            samples.append(sample(pids, at))
            if progress is not None and at != visits:
                progress(
                    report(demo, pids, samples, done, failed, time.monotonic() - t0)
                    | {"failed_as_pcscd_restarted": pcscd_restarts}
                )
    rep = report(demo, pids, samples, done, failed, time.monotonic() - t0)
    return rep | {"failed_as_pcscd_restarted": pcscd_restarts, "aborted": aborted}


def card_in_slot(slot: int) -> bool:
    from card_reader.pcsc import list_readers

    name = f"Virtual PCD 00 {slot:02d}"
    return any(r.name == name and r.atr for r in list_readers())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--visits", type=int, default=1000)
    ap.add_argument("--slot", type=int, default=0, choices=(0, 1))
    ap.add_argument("--ports-from", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None, help="write the report here too")
    ap.add_argument("--progress-every", type=int, default=500, help="report every N visits")
    ap.add_argument("--keep", action="store_true", help="keep the throw-away home")
    args = ap.parse_args()

    with contextlib.ExitStack() as stack:
        if args.slot == 1:
            lock = stack.enter_context(open(TEST_READER_LOCK, "w"))
            fcntl.flock(lock, fcntl.LOCK_EX)  # a test run uses slot 1: wait for it
        if card_in_slot(args.slot):
            print(f"a card is in Virtual PCD 00 {args.slot:02d}: is a demo running?")
            return 1
        home = Path(tempfile.mkdtemp(prefix="kiosk-sim-visits-"))
        if not args.keep:
            stack.callback(shutil.rmtree, home, True)
        demo = stack.enter_context(running_demo(home, slot=args.slot, ports_from=args.ports_from))

        def progress(rep: dict[str, Any]) -> None:
            print(
                f"{rep['visits']} visits, {rep['failed']} failed, {rep['visits_per_s']}/s, "
                f"RSS MiB { ({n: round(v['end'] / 1024) for n, v in rep['rss_kib'].items()}) }",
                flush=True,
            )
            if args.json is not None:
                args.json.write_text(json.dumps({"partial": True, **rep}, indent=1))

        rep = drive(demo, args.visits, progress_every=args.progress_every, progress=progress)
        t = time.monotonic()
        demo.proc.send_signal(signal.SIGTERM)
        demo.proc.wait(30)
        rep["demo_stop_s"] = round(time.monotonic() - t, 2)
        rep["demo_exit_code"] = demo.proc.returncode
        rep["children_left_after_stop"] = [
            n for n, p in demo.children.items() if Path(f"/proc/{p}").exists()
        ]
    text = json.dumps(rep, indent=1)
    print(text)
    if args.json is not None:
        args.json.write_text(text)
    return 0 if rep["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
