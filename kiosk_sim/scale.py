"""`kiosk-sim demo --scale`: VRS on PostgreSQL, the center as workers, simulated kiosks.

Everything of the scale demo lives in ``INSTANCE/scale/`` (its own PKI, VRS instance,
center files and logs), apart from the plain demo's: the two may run side by side on
different ports (``--ports-from``). It starts, in this order:

1. the VRS instance's own PostgreSQL cluster (``vrs/pg.py``, as ``bin/pg start``: a Unix
   socket in ``scale/vrs/pg/`` only, generated passwords), and synthetic demo data in it
   at the first run (``vrs demo-data``); VRS gets the database's URL in its environment
   (``$VRS_DATABASE_URL``), never on a command line that ``ps`` shows;
2. ``vrs serve`` on that database;
3. ``center serve --workers N``: N processes on one port (SO_REUSEPORT), sessions in a
   Redis the center starts for them (no persistence, Unix socket, generated password);
4. K simulated kiosks (``kiosk_sim/simkiosks.py``, the load benchmark's kiosks), each with
   its own kiosk CA certificate, registered in the center's ``kiosks.json``. They read
   software cards in memory: no pcscd, no vpcd slot.

Ctrl-C or SIGTERM stops the kiosks, then the center (its workers and its Redis) and VRS,
then the cluster, within 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from serving.logs import BACKUPS, MAX_BYTES

from .demo import PORTS, Demo, DemoError, end_with_parent
from .local import center_args, demo_data_command, vrs_args

RESIDENTS = 200  # synthetic residents of the scale demo's VRS (Niihama's give the kiosks cards)
KIOSK_STOP = 1.0  # seconds the kiosks get after SIGTERM (their visits in flight are dropped)
SERVERS_STOP = 3.0  # seconds after the first SIGTERM by which VRS and the center are gone
PG_STOP = 1  # seconds PostgreSQL gets to stop fast before it is stopped immediately
REPORT_EVERY = 5.0  # seconds between two lines of outcomes


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "--scale",
        "VRS on PostgreSQL (a cluster of the instance's own), the center as several workers"
        " behind one port with their own Redis, and many simulated kiosks (no card reader);"
        " all in INSTANCE/scale",
    )
    g.add_argument("--scale", action="store_true", help="run the scale demo")
    g.add_argument(
        "--workers",
        type=_bounded(1, 16, "whole number"),
        default=None,
        help="center worker processes on the one port (default 2)",
    )
    g.add_argument(
        "--kiosks",
        type=_bounded(1, 1000, "whole number"),
        default=None,
        help="simulated kiosks (default 20)",
    )
    g.add_argument(
        "--rate",
        type=_bounded(0, 1000, "number", float),
        default=None,
        help="visits started per second over all kiosks (default 20; 0: back to back)",
    )


def _bounded(
    low: float, high: float, what: str, kind: type[int] | type[float] = int
) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {what}: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"between {low:g} and {high:g}")
        return value

    return parse


class ScaleDemo(Demo):
    def __init__(
        self,
        home: Path,
        ports: dict[str, int] | None = None,
        *,
        workers: int = 2,
        kiosks: int = 20,
        rate: float = 20.0,
        log_max_bytes: int = MAX_BYTES,
        log_backups: int = BACKUPS,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(
            home / "scale", ports, log_max_bytes=log_max_bytes, log_backups=log_backups, stop=stop
        )
        from vrs.pg import Cluster

        self.workers = workers
        self.kiosks = kiosks
        self.rate = rate
        self.vrs_dir = self.home / "vrs"
        self.cluster = Cluster.of_instance(self.vrs_dir)
        self.status_file = self.home / "kiosks-status.json"
        self.center_line = ""

    # --- start

    def start_database(self) -> dict[str, str]:
        """The cluster, started (made at the first run) and its demo data: VRS's environment."""
        from vrs.pg import ClusterError
        from vrs.storage import DATABASE_ENV

        self.home.mkdir(parents=True, exist_ok=True)
        try:
            self.cluster.start()
            env = {DATABASE_ENV: self.cluster.url()}
            self._guard_cluster()
        except ClusterError as exc:
            raise DemoError(f"PostgreSQL: {exc}") from None
        if not (self.vrs_dir / "master.key").exists():
            done = subprocess.run(
                demo_data_command(self.vrs_dir, RESIDENTS),
                env={**_environ(), **env},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                words = (done.stderr or done.stdout).strip().splitlines()[-1:]
                raise DemoError(
                    f"the demo data could not be made: {' '.join(words)}"
                    f" (remove {self.vrs_dir} to start afresh)"
                )
        return env

    def _guard_cluster(self) -> None:
        """``bin/pg hold``: a child that gets SIGTERM when this process dies, even by SIGKILL,
        and then stops the cluster, which pg_ctl started as no child of this one."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / "pg-guard.out").open("wb") as out:
            self.procs["pg-guard"] = subprocess.Popen(
                [sys.executable, "-m", "vrs.pg", "hold", str(self.vrs_dir)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                preexec_fn=end_with_parent,
            )

    def register_kiosks(self) -> None:
        """The simulated kiosks' certificates and the center's registry of exactly them."""
        from issuance_center.kiosks import Kiosk, KioskRegistry

        from .simkiosks import instance_specs

        specs = instance_specs(self.home, self.kiosks)
        (self.home / "center").mkdir(parents=True, exist_ok=True)
        KioskRegistry.write(
            self.home / "center" / "kiosks.json",
            [Kiosk(s.id, "simulated kiosk (demo --scale)", True) for s in specs],
        )

    def start(self, print_dir: Path | None = None) -> None:
        p = self.ports
        env = self.start_database()
        self.spawn(
            "vrs",
            vrs_args(self.vrs_dir, p["vrs"], p["site"]),
            self._says("vrs", "VRS listening"),
            env=env,
        )
        self.register_kiosks()
        self.spawn(
            "center",
            center_args(self.home, p["center"], p["vrs"], "--workers", str(self.workers)),
            self._says("center", "center listening"),
        )
        out = (self.logs / "center.out").read_text(errors="replace")
        self.center_line = next(line for line in out.splitlines() if "listening" in line)
        self.status_file.unlink(missing_ok=True)
        self.spawn(
            "kiosks",
            [
                "--home",
                str(self.home),
                "--center",
                f"https://127.0.0.1:{p['center']}",
                "--kiosks",
                str(self.kiosks),
                "--rate",
                f"{self.rate:g}",
                "--status",
                str(self.status_file),
            ],
            self._says("kiosks", "simulated kiosks issuing"),
            module="kiosk_sim.simkiosks",
        )

    # --- while it runs

    def outcomes(self) -> dict[str, int]:
        try:
            return dict(json.loads(self.status_file.read_text())["outcomes"])
        except (OSError, ValueError, KeyError):
            return {}

    # --- stop

    def shutdown(self) -> None:
        """The kiosks, then the center and VRS, then PostgreSQL: all within 5 s."""
        t0 = time.monotonic()
        kiosks = self.procs.get("kiosks")
        if kiosks is not None and kiosks.poll() is None:
            kiosks.terminate()
            _wait(kiosks, t0 + KIOSK_STOP)
        servers = [
            p for n, p in self.procs.items() if n not in ("kiosks", "pg-guard") and p.poll() is None
        ]
        for p in servers:
            p.terminate()
        for p in servers:
            _wait(p, t0 + SERVERS_STOP)
        guard = self.procs.pop("pg-guard", None)
        self.procs.clear()
        try:
            self.cluster.stop(timeout=PG_STOP)
        except Exception as exc:  # psycopg's, the OS's: said, never a traceback
            print(f"kiosk-sim demo: PostgreSQL did not stop: {exc}", file=sys.stderr, flush=True)
        if guard is not None:  # its stop finds the cluster stopped already
            guard.terminate()
            _wait(guard, time.monotonic() + 2.0)
        shutil.rmtree(self._run_dir, ignore_errors=True)


def _wait(p: subprocess.Popen[bytes], deadline: float) -> None:
    try:
        p.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def _environ() -> dict[str, str]:
    return dict(os.environ)


def run(args: argparse.Namespace, home: Path, ports: dict[str, int]) -> int:
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    demo = ScaleDemo(
        home,
        ports,
        workers=args.workers or 2,
        kiosks=args.kiosks or 20,
        rate=20.0 if args.rate is None else args.rate,
        log_max_bytes=args.log_max_bytes,
        log_backups=args.log_backups,
        stop=stop,
    )
    print(
        f"kiosk-sim demo --scale: in {demo.home}/, logs in {demo.logs}/ (vrs, center,"
        " center-w*, kiosks); PostgreSQL's in "
        f"{demo.cluster.log}",
        flush=True,
    )
    code = 0
    try:
        demo.start()
        print("\nkiosk-sim demo --scale is running:")
        print(
            f"  VRS:      https://127.0.0.1:{ports['vrs']}  on PostgreSQL ({demo.cluster.folder})"
        )
        print(f"  center:   {demo.center_line.strip()}")
        rate = f"{demo.rate:g} visits/s" if demo.rate else "back to back"
        print(f"  kiosks:   {demo.kiosks} simulated kiosks, {rate} (no card reader)")
        print(f"  logs:     {demo.logs}/")
        print("Ctrl-C stops everything.", flush=True)
        last, before = time.monotonic(), 0
        while not stop.wait(1.0):
            demo.check_children()
            if time.monotonic() - last >= REPORT_EVERY:
                outcomes = demo.outcomes()
                issued = outcomes.pop("issued", 0)
                rate_now = (issued - before) / (time.monotonic() - last)
                failed = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "none"
                print(f"  issued {issued} ({rate_now:.1f}/s); failed: {failed}", flush=True)
                last, before = time.monotonic(), issued
    except (DemoError, OSError, subprocess.CalledProcessError) as exc:
        if not stop.is_set():
            print(f"kiosk-sim demo: {exc}", file=sys.stderr, flush=True)
            code = 1
    finally:
        demo.shutdown()
    return code


__all__ = ["PORTS", "ScaleDemo", "add_options", "run"]
