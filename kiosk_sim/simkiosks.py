"""Simulated kiosks: many kiosks issuing against a center, no card reader, no screen.

Each simulated kiosk has its own client certificate from the kiosk CA (registered in the
center's ``kiosks.json``) and its own ``serving.Link`` to the center, as the real kiosk's
center client. A visit: open a session, read a software My Number Card on the in-memory
transport (PIN, files, a card-presence signature over that session's challenge), submit
it, ask eligibility, issue one domestic certificate. No pcscd and no vpcd slot are used.

``benchmarks/load.py`` drives them for its figures; ``kiosk-sim demo --scale`` runs them
as a child process (``python -m kiosk_sim.simkiosks``) that writes a status file each
second (outcomes only: no personal data).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from card_reader.softcard import SoftCard

MUNICIPALITY = "382051"  # Niihama: offers convenience-store issuance in the demo data
CARDS_PER_KIOSK = 2
ISSUE = {"municipality_code": MUNICIPALITY, "certificate_type": "domestic", "copies": 1}


@dataclass(frozen=True)
class KioskSpec:
    id: str
    cert: str
    key: str


@dataclass(frozen=True)
class Setup:
    """What a kiosk process needs; plain paths so it crosses to a spawned process."""

    url: str
    ca: str
    home: str
    residents: tuple[tuple[str, str], ...]  # (profile file, PIN)


@dataclass
class Record:
    t_end: float  # time.monotonic(): the same clock in every process on Linux
    total_ms: float
    card_ms: float  # the card read (PIN, files, presence signature), inside total_ms
    steps_ms: tuple[float, float, float, float]  # session, card, eligibility, certificates
    outcome: str  # "issued", or "<step>:<status or error>": no personal data


class Failed(Exception):
    pass


class Kiosk:
    def __init__(self, spec: KioskSpec, setup: Setup, cards: list[tuple[Any, str]]) -> None:
        from serving import Link

        # as the real kiosk's CenterClient: its own pool, one visit at a time plus cancels
        self.link = Link(
            setup.url, ca=setup.ca, cert=(spec.cert, spec.key), size=4, read_timeout=30.0
        )
        self.cards = cards
        self.rng = random.Random(spec.id)

    def issue(self, due: float | None = None) -> Record:
        """One visit. ``due`` (perf_counter) is when a paced visit was due to start: its
        latency counts from then, so a visit queued behind a slow one shows the wait
        (no coordinated omission)."""
        from card_reader import CardWire, InMemoryTransport, TextApplication
        from serving import LinkError

        card, pin = self.rng.choice(self.cards)
        steps = [0.0, 0.0, 0.0, 0.0]
        t0 = time.perf_counter() if due is None else due
        card_ms = 0.0
        step = "session"

        def call(i: int, method: str, path: str, body: Any = None, ok: int = 200) -> Any:
            t = time.perf_counter()
            reply = self.link.request(method, path, body)
            steps[i] = (time.perf_counter() - t) * 1e3
            if reply.status != ok:
                err = reply.data.get("error") if isinstance(reply.data, dict) else None
                raise Failed(f"{reply.status}:{err}")
            return reply.data

        try:
            s = call(0, "POST", "/v1/sessions", ok=201)
            sid = s["session_id"]
            step = "card_read"
            t = time.perf_counter()
            app = TextApplication(InMemoryTransport(card))
            app.select()
            app.verify_pin(pin)
            wire = CardWire.of(app.read_card_files(base64.b64decode(s["challenge"]))).model_dump()
            card_ms = (time.perf_counter() - t) * 1e3
            step = "card"
            call(1, "POST", f"/v1/sessions/{sid}/card", wire)
            step = "eligibility"
            e = call(
                2, "POST", f"/v1/sessions/{sid}/eligibility", {"municipality_code": MUNICIPALITY}
            )
            if not e.get("domestic"):
                raise Failed("not_eligible")
            step = "certificates"
            r = call(3, "POST", f"/v1/sessions/{sid}/certificates", ISSUE)
            outcome = "issued" if len(r["certificates"]) == 1 else f"{step}:count"
        except Failed as exc:
            outcome = f"{step}:{exc}"
        except LinkError as exc:
            outcome = f"{step}:{exc.code.value}"
        except Exception as exc:  # counted as a failure, whatever broke; the type only
            outcome = f"{step}:{type(exc).__name__}"
        total = (time.perf_counter() - t0) * 1e3
        return Record(
            time.monotonic(), total, card_ms, (steps[0], steps[1], steps[2], steps[3]), outcome
        )

    def close(self) -> None:
        self.link.close()


def make_cards(setup: Setup, kiosk_id: str) -> list[tuple[SoftCard, str]]:
    picked = random.Random(kiosk_id).sample(setup.residents, CARDS_PER_KIOSK)
    return soft_cards(Path(setup.home), picked)


def soft_cards(home: Path, residents: Iterable[tuple[str, str]]) -> list[tuple[SoftCard, str]]:
    """Each (profile file, PIN) as a new software card of the instance's card issuer."""
    from card_reader.softcard import CardState, DevCardIssuer, Profile, SoftCard

    issuer = DevCardIssuer.of_instance(home)
    return [
        (SoftCard.personalized(Profile.load(Path(p)), issuer, CardState.new()), pin)
        for p, pin in residents
    ]


def kiosk_process(
    setup: Setup, specs: list[KioskSpec], go: Any, stop: Any, out: Any, every: float = 0.0
) -> None:
    """A process of kiosks, a thread each: issue from ``go`` until ``stop``, then report.

    ``every`` 0: back to back (a closed loop). Otherwise each kiosk starts a visit every
    ``every`` seconds on a fixed schedule (an open loop, as residents arrive whatever the
    servers do), at a random phase so the kiosks do not start in step; a visit whose
    time came while the kiosk was still busy starts at once and counts the wait."""
    logging.basicConfig(  # urllib3's warnings and the like land where the scan looks
        filename=Path(setup.home) / "kiosks.log", level=logging.WARNING
    )
    records: list[Record] = []
    lock = threading.Lock()

    def done(mine: list[Record]) -> None:
        with lock:
            records.extend(mine)

    threads = start_kiosks(setup, specs, go, stop, every, done)
    out.put(("ready", os.getpid()))
    for t in threads:
        t.join()
    out.put(("records", [dataclasses.astuple(r) for r in records]))


def start_kiosks(
    setup: Setup,
    specs: list[KioskSpec],
    go: Any,
    stop: Any,
    every: float,
    done: Any,
) -> list[threading.Thread]:
    """A thread per kiosk, issuing from ``go`` until ``stop`` (events); each gives its
    records to ``done(records)`` (or, given ``done.each``, each record as it ends)."""
    kiosks = [Kiosk(s, setup, make_cards(setup, s.id)) for s in specs]
    each = getattr(done, "each", None)

    def run(k: Kiosk) -> None:
        go.wait()
        mine: list[Record] = []
        due = time.perf_counter() + k.rng.uniform(0, every)
        while not stop.is_set():
            if every:
                stop.wait(max(0.0, due - time.perf_counter()))
                if stop.is_set():
                    break
                r = k.issue(due)
                due += every
            else:
                r = k.issue()
            if each is not None:
                each(r)
            else:
                mine.append(r)
        k.close()
        done(mine)

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in kiosks]
    for t in threads:
        t.start()
    return threads


# --- for `kiosk-sim demo --scale`: kiosks of an instance, as a child process -------------


def kiosk_ids(count: int) -> list[str]:
    return [f"S{i:04d}" for i in range(1, count + 1)]


def instance_setup(home: Path, url: str) -> Setup:
    """The instance's kiosk CA, and its demo residents (``demo_residents``)."""
    from serving import DevCa

    return Setup(url, str(DevCa.KIOSK.open(home).cert_path), str(home), demo_residents(home))


def demo_residents(home: Path) -> tuple[tuple[str, str], ...]:
    """(profile file, PIN) of the instance's first 20 demo residents of Niihama who can get
    a domestic certificate (from ``vrs demo-data``'s cards.json)."""
    demo = home / "vrs" / "demo"
    index = json.loads((demo / "cards.json").read_text())
    usable = [
        c for c in index if c["municipality"] == MUNICIPALITY and not c["label"] and c["doses"]
    ]
    if len(usable) < CARDS_PER_KIOSK:
        raise ValueError(f"{demo / 'cards.json'} has too few residents for simulated kiosks")
    return tuple((str(demo / c["profile"]), str(c["pin"])) for c in usable[:20])


def instance_specs(home: Path, count: int) -> list[KioskSpec]:
    """Each simulated kiosk's certificate from the instance's kiosk CA (made once)."""
    from serving import DevCa

    ca = DevCa.KIOSK.open(home)
    specs = []
    for kid in kiosk_ids(count):
        cert, key = ca.issue(f"kiosk-{kid}", kid)
        specs.append(KioskSpec(kid, str(cert), str(key)))
    return specs


class Tally:
    """Outcomes so far, written to a status file each second (no personal data)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.outcomes: dict[str, int] = {}
        self.started = time.time()

    def each(self, r: Record) -> None:
        with self.lock:
            self.outcomes[r.outcome] = self.outcomes.get(r.outcome, 0) + 1

    def __call__(self, records: list[Record]) -> None:
        for r in records:
            self.each(r)

    def write(self) -> None:
        with self.lock:
            data = {"since": self.started, "at": time.time(), "outcomes": dict(self.outcomes)}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m kiosk_sim.simkiosks",
        description="Simulated kiosks of an instance issuing against its center (no reader).",
    )
    ap.add_argument("--home", type=Path, required=True, help="the instance (kiosk CA, demo cards)")
    ap.add_argument("--center", required=True, help="the center's URL")
    ap.add_argument("--kiosks", type=int, default=8)
    ap.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="visits started per second, all kiosks (0: back to back)",
    )
    ap.add_argument(
        "--status", type=Path, required=True, help="a JSON file of outcomes, each second"
    )
    from serving import setup_logging
    from serving.logs import add_log_options

    add_log_options(ap)
    args = ap.parse_args(argv)
    if args.kiosks < 1 or args.rate < 0:
        ap.error("--kiosks ≥ 1 and --rate ≥ 0")
    setup_logging(args.log_file, max_bytes=args.log_max_bytes, backups=args.log_backups)
    log = logging.getLogger("kiosk_sim.simkiosks")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        setup = instance_setup(args.home, args.center)
        specs = instance_specs(args.home, args.kiosks)
    except (OSError, ValueError) as exc:
        print(f"simulated kiosks: {exc}", file=sys.stderr)
        return 1
    tally = Tally(args.status)
    go = threading.Event()
    go.set()
    every = len(specs) / args.rate if args.rate else 0.0
    start_kiosks(setup, specs, go, stop, every, tally)
    print(f"simulated kiosks issuing: {len(specs)} kiosks against {args.center}", flush=True)
    while not stop.wait(1.0):
        tally.write()
    tally.write()
    log.info("op=stop outcomes=%s", json.dumps(tally.outcomes, sort_keys=True))
    # the kiosk threads are daemons: a visit in flight ends with the process
    return 0


if __name__ == "__main__":
    sys.exit(main())
