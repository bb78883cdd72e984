"""`kiosk-sim demo` without the card reader: its control page, the locked card, and what a
verifier needs (VRS's key set on disk and the one command that checks a certificate)."""

from __future__ import annotations

import html
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask

from card_reader.softcard.profile import CardState
from certs import IssuerKey, build_bundle, sample, sign, vds_pki
from kiosk_sim import cli
from kiosk_sim.demo import PORTS, ControlCode, Demo, DemoError, control_app
from tests.helpers import call_in_process
from tests.hypothesis_profiles import fuzz
from vrs.demo import MUNICIPALITIES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance with the demo data, as `kiosk-sim demo` makes it at first run."""
    home = tmp_path_factory.mktemp("demo-home")
    assert cli.main(["vrs", "demo-data", "--instance", str(home / "vrs")]) == 0
    return home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo(home: Path) -> Iterator[Demo]:
    d = Demo(home, {name: free_port() for name in PORTS})
    d.load_cards()
    yield d
    d.shutdown()


def rows(page: str) -> list[dict[str, str]]:
    found = []
    for row in re.findall(r"<tr [^>]*data-card=.*?</tr>", page, re.S):
        cells = dict(re.findall(r"<td data-(\w+)>(.*?)</td>", row, re.S))
        found.append({k: html.unescape(v) for k, v in cells.items()})
    return found


def test_the_control_page_shows_each_cards_situation_municipality_and_pin(demo: Demo) -> None:
    page = demo_page(demo)
    shown = rows(page)
    assert len(shown) == len(demo.cards) == 41  # 40 residents and the locked card
    names = {f"{m.name_ja} ({m.name_en})" for m in MUNICIPALITIES}
    for row, card in zip(shown, demo.cards, strict=True):
        assert row["municipality"] in names  # a name, never the code 382051
        assert row["pin"] == card["pin"]
        assert row["situation"] and "resident-" not in row["situation"]
    situations = " | ".join(r["situation"] for r in shown)
    for words in (
        "domestic only",
        "passport data",
        "no doses",
        "moved out",
        "deceased",
        "Matsuyama",
        "Saijo (no convenience-store issuance)",
        "PIN locked",
    ):
        assert words in situations, words
    kiosk = f'href="http://127.0.0.1:{demo.ports["kiosk"]}/"'
    assert kiosk in page
    # and the same for scripts
    status = control_app(demo).test_client().get("/api/status").json
    assert [c["situation"] for c in status["cards"]] == [r["situation"] for r in shown]


def demo_page(demo: Demo) -> str:
    return control_app(demo).test_client().get("/").get_data(as_text=True)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`kiosk-sim ARGS` as a user runs it (this checkout's, as a module), its output kept."""
    return subprocess.run(
        [sys.executable, "-m", "kiosk_sim.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_the_control_page_refuses_in_the_one_error_shape(demo: Demo) -> None:
    """serving/errors.py's handlers: {error, message}, and a 405 says what is allowed."""
    client = control_app(demo).test_client()
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.json is not None
    assert missing.json["error"] == "not_found" and missing.json["message"]
    wrong = client.get("/api/remove")
    assert wrong.status_code == 405 and wrong.json is not None
    assert wrong.json["error"] == "method_not_allowed" and "POST" in wrong.headers["Allow"]


def test_the_locked_card_goes_in_locked_and_leaves_its_residents_own_card_alone(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(demo, "_card", lambda message: sent.append(message) or {"ok": True})
    locked = next(i for i, c in enumerate(demo.cards) if c.get("pin_locked"))
    own = next(i for i, c in enumerate(demo.cards) if c["label"].endswith("(domestic only)"))
    demo.insert(locked)
    demo.insert(own)
    locked_state, own_state = Path(sent[0]["state"]), Path(sent[1]["state"])
    assert sent[0]["profile"] == sent[1]["profile"]  # the same resident
    assert CardState.load(locked_state).tries_left == 0
    assert locked_state != own_state and not own_state.exists()  # made fresh by the emulator


def test_the_demo_writes_vrs_key_set_and_its_command_verifies_vrs_signatures(
    demo: Demo, tmp_path: Path
) -> None:
    demo.start_vrs()  # the real `vrs serve`, over mutual TLS
    demo.write_verify_files()
    jwks = json.loads((demo.verify_dir / "jwks.json").read_text())
    issuer = IssuerKey.load_or_create(demo.home / "vrs" / "shc-issuer.key.pem")
    assert jwks == issuer.jwks()
    # a certificate as VRS signs it, checked by the command the demo prints
    jws = sign(issuer, sample.ISS, build_bundle(sample.person(False), sample.doses(2)))
    (tmp_path / "certificate.jws").write_text(jws)
    args = demo.verify_args(str(tmp_path / "certificate.jws"))
    # and the ICAO seal's CSCA list, as VRS serves it
    csca = demo.verify_dir / "csca.pem"
    assert args[4:6] == ["--csca", str(csca)]
    assert csca.read_bytes() == vds_pki.load_or_create(demo.home / "vrs" / "vds-pki").csca_pem()
    done = run_cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("VALID")
    # one from another issuer is not
    other = sign(
        IssuerKey.generate(), sample.ISS, build_bundle(sample.person(False), sample.doses(2))
    )
    (tmp_path / "other.jws").write_text(other)
    done = run_cli(*demo.verify_args(str(tmp_path / "other.jws")))
    assert done.returncode == 1


def test_the_csca_joins_the_command_once_vrs_serves_one(demo: Demo) -> None:
    answers = {"/.well-known/jwks.json": (200, b'{"keys": []}')}

    def fetch(path: str) -> tuple[int, bytes]:
        return answers.get(path, (404, b""))

    demo.write_verify_files(fetch)
    assert "--csca" not in demo.verify_args("c.pdf")
    answers["/.well-known/csca.pem"] = (200, b"-----BEGIN CERTIFICATE-----\n")
    demo.write_verify_files(fetch)
    csca = demo.verify_dir / "csca.pem"
    assert csca.read_bytes() == b"-----BEGIN CERTIFICATE-----\n"
    assert demo.verify_args("c.pdf") == [
        "cert", "verify", "--jwks", str(demo.verify_dir / "jwks.json"), "--csca", str(csca), "c.pdf",
    ]  # fmt: skip
    del answers["/.well-known/csca.pem"]  # a VRS without it again: no stale CSCA offered
    demo.write_verify_files(fetch)
    assert not csca.exists() and "--csca" not in demo.verify_args("c.pdf")


# --- the control page's API, declared by its models (kiosk_sim/demo.py)


@pytest.fixture(scope="module")
def control(home: Path) -> Iterator[Flask]:
    """The control page of a demo whose card emulator is a double (it takes every command)."""
    d = Demo(home, {name: free_port() for name in PORTS})
    d.load_cards()
    d._card = lambda message: {"ok": True}  # type: ignore[method-assign]
    yield control_app(d)
    d.shutdown()


CONTROL_SPEC = control_app(Demo.__new__(Demo)).api_doc  # the views only: no demo behind it
control_schema = schemathesis.openapi.from_dict(CONTROL_SPEC)
CONTROL_OPERATIONS = {
    ("/", "get"),
    ("/insert/{index}", "post"),
    ("/remove", "post"),
    ("/api/status", "get"),
    ("/api/insert/{index}", "post"),
    ("/api/remove", "post"),
    ("/openapi.json", "get"),
}


@pytest.mark.security("B10")
@control_schema.parametrize()
@fuzz(25)
def test_no_input_breaks_the_control_page(
    case: schemathesis.Case, control: Flask, cases: Any
) -> None:
    cases()
    call_in_process(case, control, (c.value for c in ControlCode))


def test_the_control_page_describes_every_route_it_serves(control: Flask) -> None:
    served = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule), m.lower())
        for r in control.url_map.iter_rules()
        for m in r.methods or ()
        if m not in ("HEAD", "OPTIONS")
    }
    described = {(p, m) for p, item in CONTROL_SPEC["paths"].items() for m in item}
    assert served == described == CONTROL_OPERATIONS
    assert control.test_client().get("/openapi.json").json == CONTROL_SPEC


def test_the_status_says_each_card_as_its_model_does(control: Flask) -> None:
    status = control.test_client().get("/api/status").json
    assert status is not None
    fields = set(CONTROL_SPEC["components"]["schemas"]["DemoStatus"]["properties"])
    assert set(status) == fields == {"cards", "inserted", "reader", "logs", "children"}
    card = CONTROL_SPEC["components"]["schemas"]["DemoCard"]
    # what the benchmark and the demo's tests read of a card is said, and required
    assert {"profile", "municipality", "label", "pin", "doses", "situation"} <= set(
        card["required"]
    )
    locked = [c for c in status["cards"] if c.get("pin_locked")]
    assert len(locked) == 1 and locked[0]["state"].endswith("-locked-state.json")
    # an optional field is left out where the demo data has none (never null)
    assert all("pin_locked" not in c and "state" not in c for c in status["cards"][:-1])


def test_the_api_refuses_a_card_that_is_not_there_or_does_not_go_in(demo: Demo) -> None:
    client = control_app(demo).test_client()
    missing = client.post(f"/api/insert/{len(demo.cards)}")
    assert missing.status_code == 404 and missing.json == {
        "error": "no_such_card",
        "message": f"cards are 0..{len(demo.cards) - 1}",
    }

    def emulator_away(message: dict[str, Any]) -> dict[str, Any]:
        raise DemoError("the card emulator does not answer")

    demo._card = emulator_away  # type: ignore[method-assign]
    for path in ("/api/insert/0", "/api/remove"):
        away = client.post(path)
        assert away.status_code == 503 and away.json is not None
        assert away.json["error"] == "card_unavailable", path
    # the page's own forms go back to the page, saying why
    assert client.post("/insert/0").status_code == 302
    assert "the card was not inserted" in client.get("/").get_data(as_text=True)


def test_the_api_inserts_and_removes(demo: Demo) -> None:
    sent: list[dict[str, Any]] = []
    demo._card = lambda message: sent.append(message) or {"ok": True}  # type: ignore[method-assign]
    client = control_app(demo).test_client()
    assert client.post("/api/insert/2").json == {"inserted": 2}
    assert client.get("/api/status").json["inserted"] == 2  # type: ignore[index]
    assert client.post("/api/remove").json == {"inserted": None}
    assert [m["op"] for m in sent] == ["insert", "remove"]
