"""A bounded load test on loopback: many simulated kiosks issuing against the center and VRS.

    .venv/bin/python benchmarks/load.py [--kiosks 8] [--seconds 30] [--json FILE]

VRS and the center run as their own processes over mutual TLS (as in
`kiosk-sim demo`), on free loopback ports, in a throw-away home. Each simulated
kiosk is a thread with software cards on the in-memory transport (pcscd would
be the bottleneck, and is measured by bench_card.py): open a session, read and
sign, submit, ask eligibility, issue one domestic certificate. The run stops by
itself; it reports issued/failed counts, p50/p99 latency, the processes' memory
sampled every second (start, peak, end, growth over the second half), and
searches everything the center and the kiosks wrote (files and the center's
log) for the residents' personal data. The figures also go to
``.test-results/load.json`` for `kiosk-sim security`.
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
from kiosk_sim.tls import CA

from card_reader import InMemoryTransport, TextApplication, to_wire
from card_reader.softcard import CardState, DevCardIssuer, Profile, SoftCard


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def spawn(args: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk_sim.cli", *args],
        stdout=subprocess.PIPE,
        stderr=log.open("w") if log else subprocess.DEVNULL,
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
    ap.add_argument(
        "--json",
        type=Path,
        default=Path(__file__).resolve().parents[1] / ".test-results" / "load.json",
    )
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
            log=home / "center.log",
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
    start = time.monotonic()
    deadline = start + args.seconds
    memory: list[tuple[float, float, float]] = []  # (seconds, VRS MB, center MB)

    def sample_memory() -> None:
        while time.monotonic() < deadline:
            memory.append((time.monotonic() - start, rss_mb(vrs_pid), rss_mb(center_pid)))
            time.sleep(1.0)

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
    threads.append(threading.Thread(target=sample_memory))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    memory.append((time.monotonic() - start, rss_mb(vrs_pid), rss_mb(center_pid)))
    lat = sorted(latencies)
    issued = outcomes.get("issued", 0)
    failed = sum(n for o, n in outcomes.items() if o != "issued")
    p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99)]
    print(f"{args.kiosks} kiosks for {args.seconds:g} s: {outcomes}")
    print(
        f"issuance latency (session → certificate, card read included): p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms, {len(lat) / args.seconds:.1f} issuances/s"
    )
    mem = {}
    for col, name in ((1, "vrs"), (2, "center")):
        series = [m[col] for m in memory]
        half = [m[col] for m in memory if m[0] >= args.seconds / 2] or series[-1:]
        mem[name] = {
            "start_mb": round(series[0], 1),
            "peak_mb": round(max(series), 1),
            "end_mb": round(series[-1], 1),
            "second_half_growth_mb": round(half[-1] - half[0], 1),
        }
        m = mem[name]
        print(
            f"memory {name}: {m['start_mb']:.0f} → peak {m['peak_mb']:.0f} → {m['end_mb']:.0f} MB "
            f"(second half {m['second_half_growth_mb']:+.1f} MB)"
        )
    # Everything but VRS's own encrypted store: the center's folder (registry,
    # trust store), the kiosks' certificates, the center's log.
    searched = [p for p in home.rglob("*") if p.is_file() and (home / "vrs") not in p.parents]
    written = b"".join(p.read_bytes() for p in searched)
    secrets = [
        s.encode()
        for p in profiles
        for s in (p.my_number, p.name, *p.name.split("\u3000"), p.address, p.birth_date)
    ]
    leaked = sum(1 for s in secrets if s in written)
    print(
        f"personal data in {len(searched)} files the center and kiosks wrote "
        f"({len(written) // 1024} KB, center log included): {leaked or 'none'}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "kiosks": args.kiosks,
                "seconds": args.seconds,
                "issued": issued,
                "failed": failed,
                "outcomes": outcomes,
                "p50_ms": round(p50, 1),
                "p99_ms": round(p99, 1),
                "per_second": round(len(lat) / args.seconds, 1),
                "memory": mem,
                "files_searched": len(searched),
                "secrets_searched": len(secrets),
                "personal_data_found": leaked,
                "when": time.strftime("%Y-%m-%d"),
                "cpus": os.cpu_count(),
            },
            indent=1,
        )
    )
    return 0 if failed == 0 and issued and not leaked else 1


def profile_card_number(card: SoftCard) -> str:
    from card_reader import files

    app = card._apps[files.AID]
    return files.parse_my_number(app.efs[files.EF_MY_NUMBER].data)


if __name__ == "__main__":
    sys.exit(main())
