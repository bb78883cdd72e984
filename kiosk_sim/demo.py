"""`kiosk-sim demo`: the whole system on this machine, one process per system.

VRS (with demo data), the center, the kiosk and a software card of a demo
resident in pcscd's first virtual reader; a small control page on loopback
inserts, removes and switches demo cards. Development CAs and keys are made on
first run in the instance folder ($KIOSK_SIM_HOME), never in the repository.

It runs all day: each child logs to its own rotated file in INSTANCE/logs
(never to a pipe that nobody reads: a full pipe blocks the child, and a blocked
child ignores SIGTERM), and the card is one long-lived emulator that takes
insert/remove commands on a Unix socket rather than a process per card.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from flask import Flask, Response, redirect, render_template_string, request
from flask_openapi3.types import ResponseDict
from pydantic import BaseModel, Field

from serving import add_home_option
from serving.api import api_app, error_model, refusals, reply
from serving.errors import ApiError
from serving.logs import BACKUPS, MAX_BYTES
from vrs.demo import MUNICIPALITIES

from .local import center_args, vrs_args

NAMES = {m.code: f"{m.name_ja} ({m.name_en})" for m in MUNICIPALITIES}
TOWNS = {m.code: m.name_en.removesuffix(" City") for m in MUNICIPALITIES}
ISSUING = {m.code for m in MUNICIPALITIES if m.offers_convenience_store}

PORTS = {"vrs": 8443, "center": 8444, "site": 8445, "kiosk": 8080, "control": 8090}
START_TIMEOUT = 60.0  # seconds a child may take until it serves
STOP_TIMEOUT = 4.5  # seconds children get after SIGTERM before they are killed (all within 5 s)
PAGE_CARDS = 200  # the control page lists at most these (the demo makes 41)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run the whole system with demo data and a software card")
    add_home_option(p)
    prints = p.add_mutually_exclusive_group()
    prints.add_argument(
        "--print-dir",
        type=Path,
        default=None,
        help="where the simulated printer puts a PDF of each printed page (default INSTANCE/prints)",
    )
    prints.add_argument(
        "--no-print-files",
        action="store_true",
        help="print to the kiosk's tray view only, no PDF on disk (long benchmark runs)",
    )
    p.add_argument(
        "--ports-from",
        type=int,
        default=None,
        metavar="PORT",
        help="VRS, center, vaccination site, kiosk and control page on PORT..PORT+4 "
        f"(default {', '.join(f'{k} {v}' for k, v in PORTS.items())})",
    )
    p.add_argument(
        "--slot",
        type=int,
        default=0,
        choices=(0, 1),
        help="the vpcd reader slot of the card (default 0: 'Virtual PCD 00 00'; tests use 1)",
    )
    p.add_argument(
        "--log-max-bytes", type=int, default=MAX_BYTES, help="each child's log rotates at this"
    )
    p.add_argument("--log-backups", type=int, default=BACKUPS, help="rotated logs kept per child")
    p.add_argument(
        "--trust-card-issuer",
        action="append",
        default=[],
        metavar="[KEYID=]FILE",
        help="passed to `center serve`: also trust this card issuer's key (repeatable)",
    )
    from .scale import add_options

    add_options(p)
    p.set_defaults(func=run)


def ports_from(base: int) -> dict[str, int]:
    if not 1024 <= base <= 65535 - len(PORTS):
        raise ValueError(f"--ports-from must be 1024..{65535 - len(PORTS)}")
    return {name: base + i for i, name in enumerate(PORTS)}


class DemoError(Exception):
    """Something the user must be told, without a traceback."""


class Demo:
    def __init__(
        self,
        home: Path,
        ports: dict[str, int] | None = None,
        *,
        slot: int = 0,
        log_max_bytes: int = MAX_BYTES,
        log_backups: int = BACKUPS,
        stop: threading.Event | None = None,
        trust_card_issuers: tuple[str, ...] = (),
    ) -> None:
        self.home = home
        self.trust_args = [a for t in trust_card_issuers for a in ("--trust-card-issuer", t)]
        self.ports = ports or dict(PORTS)
        self.slot = slot
        self.reader = f"Virtual PCD 00 {slot:02d}"
        self.logs = home / "logs"
        self.log_limits = ("--log-max-bytes", str(log_max_bytes), "--log-backups", str(log_backups))
        self.stop_event = stop or threading.Event()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.reported: set[str] = set()
        self.cards: list[dict[str, Any]] = []
        self.inserted: int | None = None
        self._card_lock = threading.Lock()
        # a short private folder: a Unix socket path may not exceed 107 bytes
        self._run_dir = Path(tempfile.mkdtemp(prefix="kiosk-sim-demo-"))
        self.card_socket = self._run_dir / "card.sock"

    # --- children

    def log_of(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def spawn(
        self,
        name: str,
        args: list[str],
        ready: Callable[[], bool],
        *,
        module: str = "kiosk_sim.cli",
        env: dict[str, str] | None = None,
    ) -> None:
        """Starts ``kiosk-sim ARGS --log-file logs/NAME.log`` (or ``python -m MODULE ARGS
        …``), with ``env`` added to this process's environment, and waits until ``ready()``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", module, *args, "--log-file", str(self.log_of(name))]
        # stdout and stderr (a few start-up lines) to a file of their own, truncated at each start
        with (self.logs / f"{name}.out").open("wb") as out:
            proc = subprocess.Popen(
                [*cmd, *self.log_limits],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                preexec_fn=end_with_parent,
                env={**os.environ, **env} if env else None,
            )
        self.procs[name] = proc
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if proc.poll() is not None:
                raise DemoError(
                    f"{name} exited (code {proc.returncode}) before it was ready; see "
                    f"{self.log_of(name)} and {self.logs / f'{name}.out'}"
                )
            if self.stop_event.is_set():
                raise DemoError("stopped while starting")
            if time.monotonic() > deadline:
                raise DemoError(
                    f"{name} did not start within {START_TIMEOUT:.0f} s; see {self.log_of(name)}"
                )
            time.sleep(0.05)

    def check_children(self) -> None:
        """Says once when a child has died, and where its log is."""
        for name, proc in self.procs.items():
            if name not in self.reported and proc.poll() is not None:
                self.reported.add(name)
                print(
                    f"kiosk-sim demo: {name} exited (code {proc.returncode}); see {self.log_of(name)}",
                    file=sys.stderr,
                    flush=True,
                )

    def shutdown(self) -> None:
        """SIGTERM to every child at once; whoever is still there after STOP_TIMEOUT is killed."""
        procs = [p for p in self.procs.values() if p.poll() is None]
        for p in procs:
            p.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for p in procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()
        shutil.rmtree(self._run_dir, ignore_errors=True)

    # --- the card

    def _card(self, message: dict[str, Any]) -> dict[str, Any]:
        from card_reader.softcard.slot import request as card_request

        try:
            reply = card_request(self.card_socket, message)
        except (OSError, ValueError) as exc:
            raise DemoError(
                f"the card emulator does not answer ({exc}); see {self.log_of('card')}"
            ) from None
        if not reply.get("ok"):
            raise DemoError(str(reply.get("message") or reply.get("error")))
        return reply

    def load_cards(self) -> None:
        """The demo cards of the instance, each with its situation and municipality's name,
        and a card whose PIN is locked (instances made before it had none)."""
        cards = json.loads((self.home / "vrs" / "demo" / "cards.json").read_text())
        # the domestic-only resident's card after three wrong PINs: its own chip state
        base = next((c for c in cards if "domestic only" in c["label"]), None)
        if base is not None and not any(c.get("pin_locked") for c in cards):
            stem = Path(base["profile"]).stem
            cards.append(
                {
                    **base,
                    "label": f"{base['label']}, PIN locked (3 wrong tries)",
                    "pin_locked": True,
                    "state": f"{stem}-locked-state.json",
                }
            )
        for c in cards:
            c["situation"] = situation(c)
            c["municipality_name"] = NAMES.get(c["municipality"], c["municipality"])
        self.cards = cards

    def insert(self, index: int) -> None:
        card = self.cards[index]
        name = card.get("state") or f"{Path(card['profile']).stem}-state.json"
        state = self.home / "cards" / name
        if card.get("pin_locked") and not state.exists():
            from card_reader.softcard.profile import CardState

            CardState.new(state).set_tries_left(0)
        profile = self.home / "vrs" / "demo" / card["profile"]
        with self._card_lock:
            self.inserted = None
            self._card({"op": "insert", "profile": str(profile), "state": str(state)})
            self.inserted = index

    def remove(self) -> None:
        with self._card_lock:
            self._card({"op": "remove"})
            self.inserted = None

    def _says(self, name: str, line: str) -> Callable[[], bool]:
        """Ready once the child printed ``line``, which the servers print once bound: a probe of
        the port could meet another program that holds it, and a TLS server would log a bare
        TCP probe as a refused handshake."""
        out = self.logs / f"{name}.out"
        return lambda: line in out.read_text(errors="replace")

    def _card_ready(self) -> bool:
        if not self.card_socket.exists():
            return False
        try:
            self._card({"op": "status"})
        except DemoError:
            return False
        return True

    # --- start

    def start(self, print_dir: Path | None) -> None:
        self.start_vrs()
        self.write_verify_files()
        self.start_others(print_dir)

    def start_vrs(self) -> None:
        vrs = self.home / "vrs"
        if not (vrs / "vrs.sqlite3").exists():
            subprocess.run(
                [sys.executable, "-m", "kiosk_sim.cli", "vrs", "demo-data", "--instance", str(vrs)],
                check=True,
                stdin=subprocess.DEVNULL,
            )
        self.load_cards()
        p = self.ports
        self.spawn("vrs", vrs_args(vrs, p["vrs"], p["site"]), self._says("vrs", "VRS listening"))

    # --- what a verifier needs: VRS's public keys, and the seal's CSCA once VRS serves it

    @property
    def verify_dir(self) -> Path:
        return self.home / "verify"

    def _fetch(self, path: str) -> tuple[int, bytes]:
        """GET ``path`` from VRS over mutual TLS, as an LGWAN client of the demo's own."""
        import requests

        from serving import DevCa

        lgwan = DevCa.LGWAN.open(self.home)
        cert = lgwan.issue("demo-client", "kiosk-sim-demo")
        try:
            with requests.Session() as http:
                http.trust_env = False  # loopback: never through a proxy from the environment
                r = http.get(
                    f"https://127.0.0.1:{self.ports['vrs']}{path}",
                    cert=(str(cert[0]), str(cert[1])),
                    verify=str(lgwan.cert_path),
                    timeout=10,
                )
        except requests.RequestException as exc:
            raise DemoError(f"VRS did not answer {path}: {exc}; see {self.log_of('vrs')}") from None
        return r.status_code, r.content

    def write_verify_files(self, fetch: Callable[[str], tuple[int, bytes]] | None = None) -> None:
        """INSTANCE/verify/jwks.json, and csca.pem where VRS serves one (404: not yet)."""
        fetch = fetch or self._fetch
        self.verify_dir.mkdir(parents=True, exist_ok=True)
        status, body = fetch("/.well-known/jwks.json")
        if status != 200:
            raise DemoError(f"VRS answered {status} for its key set; see {self.log_of('vrs')}")
        (self.verify_dir / "jwks.json").write_bytes(body)
        csca = self.verify_dir / "csca.pem"
        status, body = fetch("/.well-known/csca.pem")
        if status == 200:
            csca.write_bytes(body)
        elif status == 404:
            csca.unlink(missing_ok=True)  # one from an earlier run would no longer be VRS's
        else:
            raise DemoError(f"VRS answered {status} for its CSCA; see {self.log_of('vrs')}")

    def verify_args(self, certificate: str) -> list[str]:
        """`kiosk-sim cert verify`'s arguments that check ``certificate`` (a printed PDF,
        a picture of it, its QR code's value) against this demo's VRS."""
        args = ["cert", "verify", "--jwks", str(self.verify_dir / "jwks.json")]
        if (self.verify_dir / "csca.pem").exists():
            args += ["--csca", str(self.verify_dir / "csca.pem")]
        return [*args, certificate]

    def start_others(self, print_dir: Path | None) -> None:
        p = self.ports
        self.spawn(
            "center",
            center_args(self.home, p["center"], p["vrs"], *self.trust_args),
            self._says("center", "center listening"),
        )
        card_args = ["card", "emulate", "--instance", str(self.home), "--slot", str(self.slot)]
        self.spawn("card", [*card_args, "--control", str(self.card_socket)], self._card_ready)
        if _has_kiosk():
            args = [
                "kiosk",
                "serve",
                "--home",
                str(self.home),
                "--port",
                str(p["kiosk"]),
                "--center",
                f"https://127.0.0.1:{p['center']}",
                "--reader",
                self.reader,
            ]
            if print_dir is not None:
                args += ["--print-dir", str(print_dir)]
            self.spawn("kiosk", args, self._says("kiosk", "kiosk listening"))
        self.insert(0)


def end_with_parent() -> None:
    """In the child: SIGTERM when the demo dies, even by SIGKILL (Linux), so no child is left
    holding its port. Spawning happens on the main thread, which lives as long as the demo."""
    if sys.platform == "linux":
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _has_kiosk() -> bool:
    from kiosk_sim.cli import _present

    return _present("kiosk.cli")


def situation(card: dict[str, Any]) -> str:
    """What a demo card is for, in words: the demo data's label, or one made from its facts."""
    if card.get("label"):
        return str(card["label"])
    code = card["municipality"]
    town = TOWNS.get(code, code)
    if code not in ISSUING:
        town += " (no convenience-store issuance)"
    if not card["doses"]:
        return f"{town}, no doses"  # no certificate of either type
    kind = "passport data" if card.get("passport") else "domestic only"
    return f"{town}, {card['doses']} doses, {kind}"


CONTROL = """<!doctype html><meta charset="utf-8"><title>kiosk-sim demo control</title>
<style>body{font:16px system-ui,sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left}
tr.in{background:#e6f4ea}button{font-size:15px}</style>
<h1>Demo cards</h1>
<p>Insert a card, then use it at the <a href="{{ kiosk }}" target="kiosk" data-kiosk>kiosk screen</a>.</p>
<p>{{ message }}</p>
<form method="post" action="/remove"><button data-action="remove-card">Remove the card</button></form>
<table><tr><th></th><th>situation</th><th>municipality</th><th>PIN</th><th></th></tr>
{% for c in cards %}<tr class="{{ 'in' if loop.index0 == inserted else '' }}" data-card="{{ loop.index0 }}">
<td>{{ '▶' if loop.index0 == inserted else '' }}</td><td data-situation>{{ c.situation }}</td>
<td data-municipality>{{ c.municipality_name }}</td><td data-pin>{{ c.pin }}</td>
<td><form method="post" action="/insert/{{ loop.index0 }}"><button data-action="insert-card">Insert</button></form></td></tr>
{% endfor %}</table>"""


# --- the control page's API: its answers as typed models, described at /openapi.json


class ControlCode(StrEnum):
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    REQUEST_TOO_LARGE = "request_too_large"
    NO_SUCH_CARD = "no_such_card"
    CARD_UNAVAILABLE = "card_unavailable"  # the card emulator did not do it


class ControlError(ApiError):
    STATUS: ClassVar[Mapping[Any, int]] = {
        ControlCode.BAD_REQUEST: 400,
        ControlCode.NOT_FOUND: 404,
        ControlCode.METHOD_NOT_ALLOWED: 405,
        ControlCode.REQUEST_TOO_LARGE: 413,
        ControlCode.NO_SUCH_CARD: 404,
        ControlCode.CARD_UNAVAILABLE: 503,
    }


ControlErrorModel = error_model(ControlCode)


class DemoCard(BaseModel):
    """A demo card as the demo data lists it (``vrs/demo/cards.json``), with its words."""

    profile: str = Field(description="the card's profile, under INSTANCE/vrs/demo/")
    municipality: str = Field(description="the 6-digit code of the resident's municipality")
    label: str
    pin: str
    doses: int
    passport: bool
    coupon: str = ""
    situation: str = Field(description="what the card is for, in words")
    municipality_name: str
    pin_locked: bool = Field(default=False, description="present on the locked card only")
    state: str = Field(default="", description="its own chip state file (the locked card)")


class DemoStatus(BaseModel):
    cards: list[DemoCard]
    inserted: int | None = Field(description="the card in the reader, by its index")
    reader: str = Field(description="the PC/SC reader the card goes into")
    logs: str = Field(description="the folder of the children's logs")
    children: dict[str, int] = Field(description="each running child's process ID")


class Inserted(BaseModel):
    inserted: int | None = Field(description="the card now in the reader; null: none")


class CardIndex(BaseModel):
    index: int = Field(ge=0, description="the card, by its place in the list")


_HTML = {"text/html": {"schema": {"type": "string"}}}
_BACK: ResponseDict = {302: {"description": "back to the control page"}}


def control_app(demo: Demo) -> Flask:
    """The control page (HTML) and the same as JSON under /api for scripts."""
    app = api_app(
        "kiosk_sim.demo",
        title="kiosk-sim demo control",
        description="Inserts, removes and switches the demo's software card (loopback only).",
        error=ControlErrorModel,
        bad_request=lambda words: ControlError(ControlCode.BAD_REQUEST, words),
        log=logging.getLogger("kiosk_sim.demo"),  # 404, 405, 500: the one shape
    )
    problem: dict[str, str] = {}
    bad = refusals(ControlErrorModel)

    def page() -> str:
        message = problem.pop("message", None) or (
            "no card in the reader" if demo.inserted is None else "a card is in the reader"
        )
        return render_template_string(
            CONTROL,
            cards=demo.cards[:PAGE_CARDS],
            inserted=demo.inserted,
            message=message,
            kiosk=f"http://127.0.0.1:{demo.ports['kiosk']}/",
        )

    @app.get("/", responses={200: {"description": "the control page", "content": _HTML}, **bad})
    def index() -> str:
        """The control page"""
        return page()

    # a path whose index is no whole number is not one of the routes: 404
    @app.post("/insert/<int:index>", responses={**_BACK, **refusals(ControlErrorModel, 404)})
    def insert(path: CardIndex) -> Any:
        """The page's form: insert a card (one that is not listed: nothing)"""
        if path.index < len(demo.cards):
            try:
                demo.insert(path.index)
            except DemoError as exc:
                problem["message"] = f"the card was not inserted: {exc}"
        return redirect("/")

    @app.post("/remove", responses={**_BACK, **bad})
    def remove() -> Any:
        """The page's form: remove the card"""
        try:
            demo.remove()
        except DemoError as exc:
            problem["message"] = f"the card was not removed: {exc}"
        return redirect(request.referrer or "/")

    @app.get("/api/status", responses={200: DemoStatus, **bad})
    def status() -> Response:
        """The cards, the one in the reader, the children"""
        return reply(
            DemoStatus(
                cards=[DemoCard.model_validate(c) for c in demo.cards],
                inserted=demo.inserted,
                reader=demo.reader,
                logs=str(demo.logs),
                children={name: p.pid for name, p in demo.procs.items() if p.poll() is None},
            )
        )

    @app.post(
        "/api/insert/<int:index>",
        responses={200: Inserted, **refusals(ControlErrorModel, 404, 503)},
    )
    def api_insert(path: CardIndex) -> Response:
        """Insert a card (the one in the reader is taken out first)"""
        if path.index >= len(demo.cards):
            raise ControlError(ControlCode.NO_SUCH_CARD, f"cards are 0..{len(demo.cards) - 1}")
        try:
            demo.insert(path.index)
        except DemoError as exc:
            raise ControlError(ControlCode.CARD_UNAVAILABLE, str(exc)) from None
        return reply(Inserted(inserted=path.index))

    @app.post("/api/remove", responses={200: Inserted, **refusals(ControlErrorModel, 503)})
    def api_remove() -> Response:
        """Remove the card"""
        try:
            demo.remove()
        except DemoError as exc:
            raise ControlError(ControlCode.CARD_UNAVAILABLE, str(exc)) from None
        return reply(Inserted(inserted=None))

    return app


def run(args: argparse.Namespace) -> int:
    from issuance_center.cli import extra_issuers
    from serving import Server
    from serving import home as instance_home

    home = args.home or instance_home()
    try:
        ports = ports_from(args.ports_from) if args.ports_from is not None else dict(PORTS)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:  # said here, not as a center that exits before it serves
        extra_issuers(args.trust_card_issuer)
    except ValueError as exc:
        print(f"error: --trust-card-issuer {exc}", file=sys.stderr)
        return 2
    if args.scale:
        from .scale import run as run_scale

        return run_scale(args, home, ports)
    if (args.workers, args.kiosks, args.rate) != (None, None, None):
        print("error: --workers, --kiosks and --rate go with --scale", file=sys.stderr)
        return 2
    stop = threading.Event()
    # SIGTERM, or Ctrl-C (also a SIGINT that a background shell would otherwise ignore)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    prints = None if args.no_print_files else (args.print_dir or home / "prints")
    demo = Demo(
        home,
        ports,
        slot=args.slot,
        log_max_bytes=args.log_max_bytes,
        log_backups=args.log_backups,
        stop=stop,
        trust_card_issuers=tuple(args.trust_card_issuer),
    )
    print(f"kiosk-sim demo: logs in {demo.logs}/ (vrs, center, card, kiosk)", flush=True)
    if prints is not None:
        print(f"kiosk-sim demo: printed certificates go to {prints}/ as PDFs", flush=True)
    control: Server | None = None
    code = 0
    try:
        demo.start(prints)
        control = Server(
            control_app(demo), "127.0.0.1", ports["control"], None, name="demo-control", threads=4
        ).start()
        first = demo.cards[0]
        print("\nkiosk-sim demo is running:")
        if "kiosk" in demo.procs:
            print(f"  kiosk screen:  http://127.0.0.1:{ports['kiosk']}/   (open it in a browser)")
        print(
            f"  card control:  http://127.0.0.1:{ports['control']}/   (insert, remove, switch demo cards)"
        )
        print(f"  inserted card: {first['situation']} — PIN {first['pin']}  ({demo.reader})")
        print(
            f"  vaccination-site API (tablets, coupon numbers): https://127.0.0.1:{ports['site']}"
            f"/site/v1/  (tablet certificate: {home / 'pki' / 'site' / 'tablet-demo.crt'})"
        )
        print(f"  logs:          {demo.logs}/")
        if prints is not None:
            print(f"  printed PDFs:  {prints}/")
            example = str(prints / "certificate-….pdf")
        else:
            print("  printed PDFs:  none (--no-print-files): the kiosk's tray view only")
            example = "CERTIFICATE.pdf"
        program = Path(sys.executable).with_name("kiosk-sim")
        command = [str(program) if program.exists() else "kiosk-sim", *demo.verify_args(example)]
        print(f"  check a printed certificate (VRS's keys in {demo.verify_dir}/):")
        print(f"    {shlex.join(command)}")
        print("Ctrl-C stops everything.", flush=True)
        while not stop.wait(1.0):
            demo.check_children()
    except (DemoError, OSError, subprocess.CalledProcessError) as exc:
        if not stop.is_set():
            print(f"kiosk-sim demo: {exc}", file=sys.stderr, flush=True)
            code = 1
    finally:
        stopper = threading.Thread(target=control.stop, daemon=True) if control else None
        if stopper is not None:
            stopper.start()
        demo.shutdown()
        if stopper is not None:
            stopper.join(0.3)
    return code
