"""A card holder enrolled from the reader, seen by the center and VRS, then erased; a card
from another issuer refused as ``unknown_issuer`` until the center trusts that issuer.

Real parts throughout: the card goes through pcscd and vpcd (the test slot), VRS runs as
``kiosk-sim vrs serve`` and the center as ``kiosk-sim center serve``, over mutual TLS. The
card's issuer is a second DevCardIssuer, standing for a real card's: the center does not
know it unless given its key with ``--trust-card-issuer``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from card_reader import CardWire, InMemoryTransport, TextApplication
from card_reader.mynumber import mask
from card_reader.softcard import CardState, DevCardIssuer, Profile, SoftCard
from issuance_center.cli import prepare
from kiosk_sim.local import center_args, demo_data, free_port, spawn, stop, vrs_args
from serving import DevCa, Link
from vrs import open_vrs

from .card_reader.test_pcsc import READER, inserted, pcscd  # noqa: F401  (pcscd: autouse)

pytestmark = pytest.mark.pcsc

ROOT = Path(__file__).resolve().parents[1]
NIIHAMA = "382051"
# a holder the demo data does not have (its numbers come from a seeded generator)
HOLDER = Profile(
    my_number="987654321093",
    name="登録\u3000試子",
    address="愛媛県新居浜市見本町１丁目２番３号",
    birth_date="19851224",
    sex="2",
    pin="4321",
)


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    vrs_url: str
    kiosk_cert: tuple[Path, Path]
    kiosk_ca: Path
    other: DevCardIssuer  # the card's issuer, unknown to the instance's center


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("enroll")
    env = {**os.environ, "KIOSK_SIM_HOME": str(home), "PYTHONPATH": str(ROOT)}
    demo_data(home, 8, env)
    vrs_port = free_port()
    vrs, _ = spawn(vrs_args(home / "vrs", vrs_port, -1), env, home / "vrs.log")
    prepare(home)
    kiosk_ca = DevCa.KIOSK.open(home)
    other = DevCardIssuer.load_or_create(tmp_path_factory.mktemp("other") / "card-issuer")
    try:
        yield Deployment(
            home,
            env,
            f"https://127.0.0.1:{vrs_port}",
            kiosk_ca.issue("kiosk-K0001", "K0001"),
            kiosk_ca.cert_path,
            other,
        )
    finally:
        stop(vrs)


@pytest.fixture(scope="module")
def card(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> SoftCard:
    state = tmp_path_factory.mktemp("card") / "state.json"
    key = rsa.generate_private_key(65537, 2048)
    return SoftCard.personalized(HOLDER, deployment.other, CardState(key, 3, state))


def kiosk_sim(d: Deployment, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk_sim.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=d.home,
        env=d.env,
    )


def enroll(d: Deployment, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return kiosk_sim(
        d, "vrs", "enroll-from-card", "--instance", str(d.home / "vrs"), *args, stdin=stdin
    )


def said(out: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in out.stderr, out.stderr
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def tries_left(d: Deployment) -> int:
    probe = kiosk_sim(d, "card", "probe", "--reader", READER, "--json")
    return int(said(probe)["pin_tries_left"])


@dataclass
class Center:
    link: Link
    card: SoftCard

    def visit(self) -> tuple[str, tuple[int, dict[str, Any]]]:
        """A session, the card's answer to its challenge: the session ID, the center's reply."""
        opened = self.link.request("POST", "/v1/sessions")
        assert opened.status == 201, opened.data
        sid = opened.data["session_id"]
        self.card.power_on()  # out of the reader: in the kiosk's hand, so to speak
        app = TextApplication(InMemoryTransport(self.card))
        app.select()
        app.verify_pin(HOLDER.pin)
        files = app.read_card_files(base64.b64decode(opened.data["challenge"]))
        reply = self.link.request(
            "POST", f"/v1/sessions/{sid}/card", CardWire.of(files).model_dump()
        )
        return sid, (reply.status, reply.data or {})

    def eligibility(self, sid: str) -> tuple[int, dict[str, Any]]:
        reply = self.link.request(
            "POST", f"/v1/sessions/{sid}/eligibility", {"municipality_code": NIIHAMA}
        )
        return reply.status, reply.data or {}


@contextlib.contextmanager
def center(d: Deployment, card: SoftCard, *extra: str) -> Iterator[Center]:
    port = free_port()
    proc, _ = spawn(
        center_args(d.home, port, int(d.vrs_url.rsplit(":", 1)[1]), *extra),
        d.env,
        d.home / f"center-{port}.log",
    )
    link = Link(f"https://127.0.0.1:{port}", ca=d.kiosk_ca, cert=d.kiosk_cert, size=2)
    try:
        yield Center(link, card)
    finally:
        link.close()
        stop(proc)


def other_issuer_pem(d: Deployment) -> Path:
    path = d.home / "other-issuer.pem"
    path.write_bytes(
        d.other.root_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def test_a_card_holder_is_enrolled_found_by_the_center_and_erased(
    deployment: Deployment, card: SoftCard
) -> None:
    d = deployment
    with inserted(card):
        # an unknown municipality is refused before the PIN: no try spent
        out = enroll(d, "--reader", READER, "--municipality", "999999", "--json", stdin="4321\n")
        assert out.returncode == 1
        assert said(out)["error"] == "no_such_municipality"
        assert tries_left(d) == 3
        wrong = enroll(d, "--reader", READER, "--municipality", NIIHAMA, "--json", stdin="0000\n")
        assert (wrong.returncode, said(wrong)) == (
            1,
            {"error": "wrong_pin", "message": "wrong PIN; 2 tries left"},
        )
        ok = enroll(d, "--reader", READER, "--municipality", NIIHAMA, "--json", stdin="4321\n")
        assert ok.returncode == 0, ok.stderr
        assert said(ok) == {"enrolled": mask(HOLDER.my_number), "municipality": NIIHAMA, "doses": 3}
        again = enroll(d, "--reader", READER, "--municipality", NIIHAMA, stdin="4321\n")
        assert again.returncode == 1
        assert again.stderr.splitlines() == [
            "PIN tries left: 3",
            f"error: this card's holder already has a record in municipality {NIIHAMA}; "
            f"`kiosk-sim vrs erase {NIIHAMA}` removes it",
        ]
        assert HOLDER.my_number not in again.stderr + ok.stdout + ok.stderr

    # the record is sealed like every other: the database holds neither number nor name
    database = (d.home / "vrs" / "vrs.sqlite3").read_bytes()
    assert HOLDER.my_number.encode() not in database
    assert HOLDER.name.encode() not in database

    with center(d, card, "--trust-card-issuer", str(other_issuer_pem(d))) as c:
        sid, (status, _) = c.visit()
        assert status == 200
        assert c.eligibility(sid) == (
            200,
            {"municipality_code": NIIHAMA, "domestic": True, "overseas": False},
        )
        erased = kiosk_sim(
            d, "vrs", "erase", NIIHAMA, "--instance", str(d.home / "vrs"), "--json",
            stdin=HOLDER.my_number + "\n",
        )  # fmt: skip
        assert erased.returncode == 0, erased.stderr
        sid, (status, _) = c.visit()
        assert status == 200
        status, data = c.eligibility(sid)
        assert (status, data["error"], data["details"]) == (
            422,
            "vrs_refused",
            [{"error": "no_record"}],
        )

    person = said(erased)["erased"]
    log = open_vrs(d.home / "vrs").storage.oplog(NIIHAMA, 10)
    erasures = [
        (e["actor"], e["target"], e["outcome"]) for e in log if e["action"] == "records.erase"
    ]
    assert erasures == [("cli", person, "ok")]
    gone = kiosk_sim(
        d, "vrs", "erase", NIIHAMA, "--instance", str(d.home / "vrs"), stdin=HOLDER.my_number + "\n"
    )
    assert (gone.returncode, gone.stderr) == (
        1,
        f"error: no such person in municipality {NIIHAMA}\n",
    )


def test_a_card_from_an_unknown_issuer_is_refused_as_such(
    deployment: Deployment, card: SoftCard
) -> None:
    with center(deployment, card) as c:
        _sid, (status, data) = c.visit()
        assert (status, data["error"], data["details"]) == (
            422,
            "unknown_issuer",
            [{"error": "unknown_issuer"}],
        )


def test_enroll_says_what_is_wrong_with_the_reader(deployment: Deployment) -> None:
    nosuch = enroll(deployment, "--reader", "nosuch", "--municipality", NIIHAMA)
    assert nosuch.returncode == 1
    assert nosuch.stderr.startswith("error: no reader named 'nosuch'; readers: ")
    assert "Traceback" not in nosuch.stderr
    empty = enroll(deployment, "--reader", READER, "--municipality", NIIHAMA, "--json")
    assert (empty.returncode, said(empty)["error"]) == (1, "no_card")


@pytest.mark.parametrize("content", ["missing", "not pem", "ec key"])
def test_the_center_refuses_an_unusable_issuer_file_at_start(
    deployment: Deployment, tmp_path: Path, content: str
) -> None:
    path = tmp_path / "issuer.pem"
    if content == "not pem":
        path.write_text("hello")
    elif content == "ec key":
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        path.write_bytes(
            key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    for command in (
        ["center", "serve", "--home", str(deployment.home), "--port", "0"],
        ["demo", "--home", str(deployment.home)],
    ):
        out = kiosk_sim(deployment, *command, "--trust-card-issuer", str(path))
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr
        assert f"--trust-card-issuer {path}: " in out.stderr


def test_workers_trust_the_issuer_given_to_their_supervisor(
    deployment: Deployment, card: SoftCard
) -> None:
    pem = str(other_issuer_pem(deployment))
    with center(deployment, card, "--workers", "2", "--trust-card-issuer", pem) as c:
        for _ in range(3):
            _sid, (status, data) = c.visit()
            assert status == 200, data
