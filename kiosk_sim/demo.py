"""`kiosk-sim demo`: the whole system on this machine, one process per system.

VRS (with demo data), the center, the kiosk and a software card of a demo
resident in pcscd's first virtual reader; a small control page on loopback
inserts, removes and switches demo cards. Development CAs and keys are made on
first run in the instance folder ($KIOSK_SIM_HOME), never in the repository.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from flask import Flask, redirect, render_template_string, request

from card_reader.cli import default_instance

PORTS = {"vrs": 8443, "center": 8444, "site": 8445, "kiosk": 8080, "control": 8090}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole system with demo data and a software card")
    p.add_argument(
        "--home", type=Path, default=None, help="instance folder (default $KIOSK_SIM_HOME)"
    )
    p.add_argument(
        "--print-dir", type=Path, default=None, help="where the simulated printer puts PDFs"
    )
    p.set_defaults(func=run)


class Demo:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.cards: list[dict[str, Any]] = []
        self.inserted: int | None = None

    def spawn(self, name: str, *args: str, wait_for: str | None = None) -> None:
        cmd = [sys.executable, "-m", "kiosk_sim.cli", *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.procs[name] = proc  # type: ignore[assignment]
        if wait_for is None:
            return
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if wait_for in line:
                return
            if time.monotonic() > deadline:
                break
        raise SystemExit(f"{name} did not start (see `kiosk-sim {' '.join(args)}`)")

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()

    def insert(self, index: int) -> None:
        self.remove()
        card = self.cards[index]
        state = self.home / "cards" / f"{Path(card['profile']).stem}-state.json"
        self.spawn(
            "card",
            "card",
            "emulate",
            "--instance",
            str(self.home),
            "--profile",
            str(self.home / "vrs" / "demo" / card["profile"]),
            "--state",
            str(state),
            wait_for="inserted",
        )
        self.inserted = index

    def remove(self) -> None:
        self.stop("card")
        self.inserted = None

    def start(self, print_dir: Path | None) -> None:
        vrs = self.home / "vrs"
        if not (vrs / "vrs.sqlite3").exists():
            subprocess.run(
                [sys.executable, "-m", "kiosk_sim.cli", "vrs", "demo-data", "--instance", str(vrs)],
                check=True,
            )
        self.cards = json.loads((vrs / "demo" / "cards.json").read_text())
        self.spawn(
            "vrs",
            "vrs",
            "serve",
            "--instance",
            str(vrs),
            "--port",
            str(PORTS["vrs"]),
            "--site-port",
            str(PORTS["site"]),
            wait_for="listening",
        )
        self.spawn(
            "center",
            "center",
            "serve",
            "--home",
            str(self.home),
            "--port",
            str(PORTS["center"]),
            "--vrs",
            f"https://127.0.0.1:{PORTS['vrs']}",
            wait_for="listening",
        )
        if _has_kiosk():
            args = [
                "kiosk",
                "serve",
                "--home",
                str(self.home),
                "--port",
                str(PORTS["kiosk"]),
                "--center",
                f"https://127.0.0.1:{PORTS['center']}",
                "--reader",
                "Virtual PCD 00 00",
            ]
            if print_dir is not None:
                args += ["--print-dir", str(print_dir)]
            self.spawn("kiosk", *args, wait_for="listening")
        self.insert(0)

    def shutdown(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def _has_kiosk() -> bool:
    from kiosk_sim.cli import _present

    return _present("kiosk.cli")


CONTROL = """<!doctype html><meta charset="utf-8"><title>kiosk-sim demo control</title>
<style>body{font:16px system-ui,sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left}
tr.in{background:#e6f4ea}button{font-size:15px}</style>
<h1>Demo cards</h1><p>{{ message }}</p>
<form method="post" action="/remove"><button data-action="remove-card">Remove the card</button></form>
<table><tr><th></th><th>resident</th><th>municipality</th><th>PIN</th><th></th></tr>
{% for c in cards %}<tr class="{{ 'in' if loop.index0 == inserted else '' }}">
<td>{{ '▶' if loop.index0 == inserted else '' }}</td><td>{{ c.label or c.profile }}</td>
<td>{{ c.municipality }}</td><td>{{ c.pin }}</td>
<td><form method="post" action="/insert/{{ loop.index0 }}"><button data-action="insert-card">Insert</button></form></td></tr>
{% endfor %}</table>"""


def control_app(demo: Demo) -> Flask:
    app = Flask("kiosk_sim.demo")

    @app.get("/")
    def index() -> str:
        message = "no card in the reader" if demo.inserted is None else "a card is in the reader"
        return render_template_string(
            CONTROL, cards=demo.cards[:40], inserted=demo.inserted, message=message
        )

    @app.post("/insert/<int:index>")
    def insert(index: int) -> Any:
        if 0 <= index < len(demo.cards):
            demo.insert(index)
        return redirect("/")

    @app.post("/remove")
    def remove() -> Any:
        demo.remove()
        return redirect(request.referrer or "/")

    return app


def run(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    home = args.home or default_instance()
    demo = Demo(home)

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM, or SIGINT ignored by a background shell: stop everything

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        demo.start(args.print_dir)
        control = make_server("127.0.0.1", PORTS["control"], control_app(demo), threaded=True)
        first = demo.cards[0]
        print("\nkiosk-sim demo is running:")
        if "kiosk" in demo.procs:
            print(f"  kiosk screen:  http://127.0.0.1:{PORTS['kiosk']}/   (open it in a browser)")
        print(
            f"  card control:  http://127.0.0.1:{PORTS['control']}/   (insert, remove, switch demo cards)"
        )
        print(f"  inserted card: {first['label']} — PIN {first['pin']}")
        print(
            f"  vaccination-site API (tablets, coupon numbers): https://127.0.0.1:{PORTS['site']}"
            f"/site/v1/  (tablet certificate: {home / 'pki' / 'site' / 'tablet-demo.crt'})"
        )
        print("Ctrl-C stops everything.", flush=True)
        control.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        demo.shutdown()
    return 0
