"""A bounded load test on loopback: many simulated kiosks issuing against the center and VRS.

    .venv/bin/python benchmarks/load.py [--kiosks 8] [--seconds 30]

VRS and the center run as their own processes over mutual TLS (as in
`kiosk-sim demo`), on free loopback ports, in a throw-away home. Each simulated
kiosk is a thread with software cards on the in-memory transport (pcscd would
be the bottleneck, and is measured by bench_card.py): open a session, read and
sign, submit, ask eligibility, issue one domestic certificate. The run stops by
itself; it reports issued/failed counts, p50/p99 latency, the processes' memory
at start and end, and searches everything the center wrote for personal data.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from card_reader import InMemoryTransport, TextApplication, to_wire
from card_reader.softcard import CardState, DevCardIssuer, Profile, SoftCard
from kiosk_sim.tls import CA


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk_sim.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening" in line:
            return proc
    raise SystemExit(f"could not start: {args}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiosks", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--residents", type=int, default=200)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {**os.environ, "KIOSK_SIM_HOME": str(home)}
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
                str(args.residents),
            ],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        vrs_port, center_port = free_port(), free_port()
        vrs = spawn(["vrs", "serve", "--instance", str(home / "vrs"), "--port", str(vrs_port)], env)
        center = spawn(
            [
                "center",
                "serve",
                "--home",
                str(home),
                "--port",
                str(center_port),
                "--vrs",
                f"https://127.0.0.1:{vrs_port}",
            ],
            env,
        )
        try:
            return run(home, f"https://127.0.0.1:{center_port}", args, vrs.pid, center.pid)
        finally:
            for p in (center, vrs):
                p.terminate()
                p.wait(10)


def run(home: Path, url: str, args: argparse.Namespace, vrs_pid: int, center_pid: int) -> int:
    issuer = DevCardIssuer.load_or_create(home / "card-issuer")
    index = json.loads((home / "vrs" / "demo" / "cards.json").read_text())
    # residents of Niihama who can get a domestic certificate
    usable = [c for c in index if c["municipality"] == "382051" and not c["label"] and c["doses"]]
    profiles = [Profile.load(home / "vrs" / "demo" / c["profile"]) for c in usable[:20]]
    kiosk_ca = CA(home / "pki" / "kiosk", "Kiosk CA (development)")
    from issuance_center.kiosks import Kiosk, KioskRegistry

    ids = [f"L{i:04d}" for i in range(args.kiosks)]
    KioskRegistry.write(home / "center" / "kiosks.json", [Kiosk(k, "load", True) for k in ids])
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds
    mem_start = (rss_mb(vrs_pid), rss_mb(center_pid))

    def kiosk(kid: str) -> None:
        http = requests.Session()
        http.trust_env = False
        http.cert = tuple(map(str, kiosk_ca.issue(f"kiosk-{kid}", kid)))
        http.verify = str(kiosk_ca.cert_path)
        rng = random.Random(kid)
        cards = [SoftCard.personalized(p, issuer, CardState.new()) for p in rng.sample(profiles, 3)]
        while time.monotonic() < deadline:
            profile_card = rng.choice(cards)
            t0 = time.perf_counter()
            try:
                s = http.post(url + "/v1/sessions", timeout=30).json()
                app = TextApplication(InMemoryTransport(profile_card))
                app.select()
                app.verify_pin(
                    next(
                        p.pin for p in profiles if p.my_number == profile_card_number(profile_card)
                    )
                )
                f = app.read_card_files(base64.b64decode(s["challenge"]))
                body = to_wire(f)
                sid = s["session_id"]
                http.post(f"{url}/v1/sessions/{sid}/card", json=body, timeout=30).raise_for_status()
                e = http.post(
                    f"{url}/v1/sessions/{sid}/eligibility",
                    json={"municipality_code": "382051"},
                    timeout=30,
                )
                r = http.post(
                    f"{url}/v1/sessions/{sid}/certificates",
                    timeout=30,
                    json={
                        "municipality_code": "382051",
                        "certificate_type": "domestic",
                        "copies": 1,
                    },
                )
                ok = (
                    e.status_code == 200
                    and r.status_code == 200
                    and len(r.json()["certificates"]) == 1
                )
                outcome = "issued" if ok else f"failed:{r.status_code}"
            except Exception as exc:  # a failed issuance is counted, whatever broke
                outcome = f"failed:{type(exc).__name__}"
            with lock:
                latencies.append((time.perf_counter() - t0) * 1e3)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

    threads = [threading.Thread(target=kiosk, args=(k,)) for k in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mem_end = (rss_mb(vrs_pid), rss_mb(center_pid))
    lat = sorted(latencies)
    print(f"{args.kiosks} kiosks for {args.seconds:g} s: {outcomes}")
    print(
        f"issuance latency (session → certificate, card read included): p50 {statistics.median(lat):.0f} ms, "
        f"p99 {lat[int(len(lat) * 0.99)]:.0f} ms, {len(lat) / args.seconds:.1f} issuances/s"
    )
    print(
        f"memory VRS {mem_start[0]:.0f} → {mem_end[0]:.0f} MB, center {mem_start[1]:.0f} → {mem_end[1]:.0f} MB"
    )
    # what the center wrote: its folder (registry, trust store) must hold no resident's data
    written = b"".join(p.read_bytes() for p in (home / "center").rglob("*") if p.is_file())
    leaked = [
        p.my_number
        for p in profiles
        if p.my_number.encode() in written or p.name.encode() in written
    ]
    print(f"personal data in the center's files: {'none' if not leaked else len(leaked)}")
    return 0 if set(outcomes) == {"issued"} and not leaked else 1


def profile_card_number(card: SoftCard) -> str:
    from card_reader import files

    app = card._apps[files.AID]
    return files.parse_my_number(app.efs[files.EF_MY_NUMBER].data)


if __name__ == "__main__":
    sys.exit(main())
