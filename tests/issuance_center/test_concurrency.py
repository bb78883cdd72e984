"""Calls on one session at the same moment, over the center's real mutual-TLS server.

N kiosk connections fire the same call past a barrier. The slow part of the call (verifying
the card, asking VRS) is held at a gate until the other N-1 have their answers, so the calls
really overlap: exactly one gets through, the others are told ``session_busy`` (409), and VRS
sees one call. A broken guard lets every caller reach the gate; then no answer comes, the gate
opens at its deadline and N calls get through.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from card_reader import CardWire, InMemoryTransport, TextApplication
from card_reader.softcard import Profile
from issuance_center import api, create_app
from issuance_center.kiosks import Kiosk, KioskRegistry
from issuance_center.sessions import SessionStore
from serving import Server, mutual_tls_context

from ..card_reader.conftest import CardFactory
from .conftest import FakeVrs

HOLDER = Profile.demo()
N = 8  # callers at once; the center's server has more workers than that
WAIT = 10.0  # for the losers' answers: only a broken guard (or a stuck server) waits this long
NIIHAMA = {"municipality_code": "382051"}
ISSUE = {**NIIHAMA, "certificate_type": "domestic", "copies": 1}


class Gate:
    """Holds each caller of the slow part until the test opens it (or its deadline passes)."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.entered = threading.Event()  # someone is held
        self._lock = threading.Lock()
        self.passed = 0

    def hold(self) -> None:
        with self._lock:
            self.passed += 1
        self.entered.set()
        self.opened.wait(WAIT * 2)


class SlowVrs(FakeVrs):
    """The fake VRS, slow on the calls that matter: each waits at the gate."""

    def __init__(self, gate: Gate) -> None:
        super().__init__()
        self.gate = gate

    def eligibility(self, code: str, my_number: str) -> dict[str, Any]:
        self.gate.hold()
        return super().eligibility(code, my_number)

    def issue(
        self, code: str, my_number: str, kind: str, copies: int, *, session_id: str
    ) -> dict[str, Any]:
        self.gate.hold()
        return super().issue(code, my_number, kind, copies, session_id=session_id)

    def named(self, op: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.calls if name == op]


@dataclass
class Center:
    url: str
    vrs: SlowVrs
    sessions: SessionStore
    kiosks: list[requests.Session]  # N kiosk connections, already through their handshakes

    def open_session(self) -> tuple[str, bytes]:
        resp = self.kiosks[0].post(f"{self.url}/v1/sessions", timeout=WAIT)
        assert resp.status_code == 201, resp.text
        return resp.json()["session_id"], base64.b64decode(resp.json()["challenge"])

    def post(self, sid: str, step: str, payload: dict[str, Any]) -> requests.Response:
        return self.kiosks[0].post(
            f"{self.url}/v1/sessions/{sid}/{step}", json=payload, timeout=WAIT
        )


def card_answer(card: CardFactory, challenge: bytes) -> dict[str, str]:
    app = TextApplication(InMemoryTransport(card()))  # type: ignore[arg-type]
    app.select()
    app.verify_pin(HOLDER.pin)
    return CardWire.of(app.read_card_files(challenge)).model_dump()


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.opened.set()  # nothing stays held after a failed test


@pytest.fixture
def center(pki: dict[str, Any], tmp_path: Path, issuer: Any, gate: Gate) -> Iterator[Center]:
    kiosks = tmp_path / "kiosks.json"
    KioskRegistry.write(kiosks, [Kiosk("K0001", "Store 1", True)])
    vrs = SlowVrs(gate)
    app = create_app({"TRUST": issuer.trust_store(), "KIOSKS": kiosks, "VRS": vrs})
    cert, key = pki["server"]
    tls = mutual_tls_context(cert, key, pki["kiosk_ca"])
    server = Server(app, "127.0.0.1", 0, tls, name="center", threads=N + 4).start()
    url = f"https://localhost:{server.port}"
    clients = []
    for _ in range(N):
        s = requests.Session()
        s.trust_env = False
        s.cert = tuple(map(str, pki["kiosk"]))
        s.verify = str(pki["kiosk_ca"])
        assert s.get(f"{url}/openapi.json", timeout=WAIT).status_code == 200  # handshake now
        clients.append(s)
    try:
        yield Center(url, vrs, app.extensions["center"].sessions, clients)
    finally:
        gate.opened.set()
        for s in clients:
            s.close()
        server.stop()


def race(center: Center, gate: Gate, sid: str, step: str, payload: dict[str, Any]) -> list[Any]:
    """The same call from every kiosk connection at once; returns (status, body) of each."""
    barrier = threading.Barrier(N)

    def call(s: requests.Session) -> tuple[int, dict[str, Any]]:
        barrier.wait(WAIT)
        resp = s.post(f"{center.url}/v1/sessions/{sid}/{step}", json=payload, timeout=WAIT * 3)
        return resp.status_code, resp.json()

    with cf.ThreadPoolExecutor(N) as pool:
        futures = [pool.submit(call, s) for s in center.kiosks]
        try:  # the one that got through is held at the gate until the others have answers
            for answered, _ in enumerate(cf.as_completed(futures, timeout=WAIT), 1):
                if answered == N - 1:
                    break
        except cf.TimeoutError:
            pass  # more than one is held: a broken guard
        gate.opened.set()
        return [f.result() for f in futures]


def one_through(answers: list[Any]) -> dict[str, Any]:
    """Exactly one 200; every other caller a 409 session_busy with a reason. The 200's body."""
    ok = [body for status, body in answers if status == 200]
    refused = [(status, body.get("error")) for status, body in answers if status != 200]
    assert len(ok) == 1 and refused == [(409, "session_busy")] * (N - 1), answers
    assert all(body["message"] for status, body in answers if status != 200)
    return ok[0]


def test_one_card_answer_is_verified_once(
    center: Center, gate: Gate, card: CardFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    verify: Callable[..., Any] = api.verify_card

    def slow_verify(*args: Any, **kwargs: Any) -> Any:
        gate.hold()
        return verify(*args, **kwargs)

    monkeypatch.setattr(api, "verify_card", slow_verify)
    sid, challenge = center.open_session()
    answer = card_answer(card, challenge)

    assert one_through(race(center, gate, sid, "card", answer)) == {"ok": True}
    assert gate.passed == 1  # the card's answer was verified once
    # the one verification stands: the session goes on with the card's own My Number
    resp = center.post(sid, "eligibility", NIIHAMA)
    assert resp.status_code == 200, resp.text
    assert center.vrs.named("eligibility") == [("382051", HOLDER.my_number)]
    # and the same answer once more, now nothing is in flight, is still a replay
    again = center.post(sid, "card", answer)
    assert (again.status_code, again.json()["error"]) == (422, "card_replayed")
    assert len(center.sessions) == 0


def test_one_eligibility_call_at_a_time(center: Center, gate: Gate, card: CardFactory) -> None:
    sid, challenge = center.open_session()
    assert center.post(sid, "card", card_answer(card, challenge)).status_code == 200

    body = one_through(race(center, gate, sid, "eligibility", NIIHAMA))
    assert body == {"municipality_code": "382051", "domestic": True, "overseas": True}
    assert center.vrs.named("eligibility") == [("382051", HOLDER.my_number)]
    # the session was released, not spent: the visit goes on to its issuance
    assert center.post(sid, "eligibility", NIIHAMA).status_code == 200
    assert center.post(sid, "certificates", ISSUE).status_code == 200
    assert len(center.vrs.named("issue")) == 1


def test_one_certificate_per_session(center: Center, gate: Gate, card: CardFactory) -> None:
    sid, challenge = center.open_session()
    assert center.post(sid, "card", card_answer(card, challenge)).status_code == 200

    body = one_through(race(center, gate, sid, "certificates", ISSUE))
    assert [c["certificate_id"] for c in body["certificates"]] == ["C-1"]
    assert center.vrs.named("issue") == [("382051", HOLDER.my_number, "domestic", 1)]
    # the issuance ended the session: the My Number is dropped, nothing more can be issued
    assert len(center.sessions) == 0
    after = center.post(sid, "certificates", ISSUE)
    assert (after.status_code, after.json()["error"]) == (404, "session_unknown")
    assert len(center.vrs.named("issue")) == 1


def test_a_cancel_while_the_card_is_verified_keeps_no_number(
    center: Center, gate: Gate, card: CardFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified = threading.Event()
    verify: Callable[..., Any] = api.verify_card

    def slow_verify(*args: Any, **kwargs: Any) -> Any:
        gate.hold()
        result = verify(*args, **kwargs)
        verified.set()
        return result

    monkeypatch.setattr(api, "verify_card", slow_verify)
    sid, challenge = center.open_session()
    answer = card_answer(card, challenge)
    with cf.ThreadPoolExecutor(1) as pool:
        submitted = pool.submit(center.post, sid, "card", answer)
        assert gate.entered.wait(WAIT), "the card call never reached its verification"
        cancel = center.kiosks[1].delete(f"{center.url}/v1/sessions/{sid}", timeout=WAIT)
        assert cancel.status_code == 204  # a cancel is never refused as busy
        gate.opened.set()
        resp = submitted.result(timeout=WAIT)
    assert verified.is_set()
    assert (resp.status_code, resp.json()["error"]) == (404, "session_unknown")
    assert len(center.sessions) == 0  # the verified number was not put back
