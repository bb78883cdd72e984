"""The center as several workers sharing their sessions in Redis, over real mutual TLS.

VRS runs as ``kiosk-sim vrs serve`` on demo data; the centers are ``kiosk-sim center serve``
processes on a Redis this module starts (as the card tests start pcscd), each on a port of
its own (workers on several machines) or, with ``--workers``, several on one port.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from card_reader import CardWire, InMemoryTransport, TextApplication
from card_reader.softcard import SoftCard
from issuance_center import create_app
from issuance_center.cli import prepare
from issuance_center.errors import CenterError, Code
from issuance_center.redis_server import OwnRedis
from issuance_center.sessions import Claim, Step
from issuance_center.shared import KEY_ENV, PASSWORD_ENV, RedisSessionStore
from kiosk_sim.local import demo_data, free_port, spawn, stop, vrs_args
from kiosk_sim.simkiosks import demo_residents, soft_cards
from serving import CrlContext, DevCa, Link, LinkError, Server

ROOT = Path(__file__).resolve().parents[2]
NIIHAMA = "382051"
ISSUE = {"municipality_code": NIIHAMA, "certificate_type": "domestic", "copies": 2}


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]  # with the Redis password and the sealing key
    vrs_db: Path
    cards: list[tuple[SoftCard, str]]
    kiosk_cert: tuple[Path, Path]
    kiosk_ca: Path

    def link(self, url: str, size: int = 8) -> Link:
        return Link(url, ca=self.kiosk_ca, cert=self.kiosk_cert, size=size, read_timeout=20)

    def issuances(self) -> list[tuple[str, str]]:
        """(session ID as VRS got it, certificate IDs) of every issuance VRS recorded."""
        with sqlite3.connect(f"file:{self.vrs_db}?mode=ro", uri=True) as db:
            return db.execute("SELECT session_id, certificate_ids FROM issuances").fetchall()

    def certificates(self) -> int:
        with sqlite3.connect(f"file:{self.vrs_db}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM certificates").fetchone()[0])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, redis: OwnRedis) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("workers")
    env = {
        **os.environ,
        "KIOSK_SIM_HOME": str(home),
        "PYTHONPATH": str(ROOT),
        PASSWORD_ENV: redis.password,
        KEY_ENV: os.urandom(32).hex(),
    }
    demo_data(home, 40, env)
    vrs_port = free_port()
    vrs, _ = spawn(vrs_args(home / "vrs", vrs_port, free_port()), env, home / "vrs.log")
    env["VRS_URL"] = f"https://127.0.0.1:{vrs_port}"
    prepare(home)
    cards = soft_cards(home, demo_residents(home)[:4])
    kiosk_ca = DevCa.KIOSK.open(home)
    try:
        yield Deployment(
            home,
            env,
            home / "vrs" / "vrs.sqlite3",
            cards,
            kiosk_ca.issue("kiosk-K0001", "K0001"),
            kiosk_ca.cert_path,
        )
    finally:
        stop(vrs)


def center_args(d: Deployment, redis: OwnRedis, *extra: str) -> list[str]:
    home, vrs = str(d.home), d.env["VRS_URL"]
    return ["center", "serve", "--home", home, "--vrs", vrs, "--redis", redis.url, *extra]


@pytest.fixture(scope="module")
def workers(deployment: Deployment, redis: OwnRedis) -> Iterator[list[Link]]:
    """Two center processes on ports of their own, sharing the Redis: a link to each."""
    procs, links = [], []
    try:
        for i in range(2):
            port = free_port()
            proc, _ = spawn(
                center_args(deployment, redis, "--port", str(port)),
                deployment.env,
                deployment.home / f"center-{i}.log",
            )
            procs.append(proc)
            links.append(deployment.link(f"https://127.0.0.1:{port}"))
        yield links
    finally:
        for p in procs:
            stop(p)


def card_answer(d: Deployment, challenge: str, which: int = 0) -> dict[str, Any]:
    card, pin = d.cards[which]
    app = TextApplication(InMemoryTransport(card))  # type: ignore[arg-type]
    app.select()
    app.verify_pin(pin)
    return CardWire.of(app.read_card_files(base64.b64decode(challenge))).model_dump()


def opened(link: Link) -> tuple[str, str]:
    reply = link.request("POST", "/v1/sessions")
    assert reply.status == 201, reply.data
    return reply.data["session_id"], reply.data["challenge"]


def error(reply: Any) -> tuple[int, str]:
    return reply.status, (reply.data or {}).get("error", "")


def test_each_call_of_a_session_may_reach_another_worker(
    deployment: Deployment, workers: list[Link]
) -> None:
    a, b = workers
    sid, challenge = opened(a)
    answer = card_answer(deployment, challenge)
    assert b.request("POST", f"/v1/sessions/{sid}/card", answer).status == 200
    # the same answer again, on the other worker: the shared store knows it was taken
    assert error(a.request("POST", f"/v1/sessions/{sid}/card", answer)) == (422, "card_replayed")
    assert error(b.request("POST", f"/v1/sessions/{sid}/eligibility", {})) == (400, "bad_request")

    sid, challenge = opened(b)
    assert (
        a.request("POST", f"/v1/sessions/{sid}/card", card_answer(deployment, challenge)).status
        == 200
    )
    reply = b.request("POST", f"/v1/sessions/{sid}/eligibility", {"municipality_code": NIIHAMA})
    assert reply.status == 200 and reply.data["domestic"]
    before = len(deployment.issuances())
    reply = a.request("POST", f"/v1/sessions/{sid}/certificates", ISSUE)
    assert reply.status == 200 and len(reply.data["certificates"]) == 2
    assert len(deployment.issuances()) == before + 1
    # the session ended on one worker ends on every worker
    assert error(b.request("POST", f"/v1/sessions/{sid}/certificates", ISSUE)) == (
        404,
        "session_unknown",
    )
    # a cancel on one worker, seen by the other
    sid, _ = opened(a)
    assert b.request("DELETE", f"/v1/sessions/{sid}").status == 204
    assert error(a.request("DELETE", f"/v1/sessions/{sid}")) == (404, "session_unknown")


N = 8  # calls at once, spread over the two workers


def at_once(links: list[Link], method: str, path: str, body: Any) -> list[tuple[int, str]]:
    barrier = threading.Barrier(N)

    def call(i: int) -> tuple[int, str]:
        barrier.wait(10)
        return error(links[i % len(links)].request(method, path, body))

    with cf.ThreadPoolExecutor(N) as pool:
        return list(pool.map(call, range(N)))


def warm(links: list[Link]) -> None:
    for link in links:  # connections through their handshakes before the race
        for _ in range(N):
            link.request("GET", "/openapi.json")


def test_concurrent_card_calls_across_workers_verify_once(
    deployment: Deployment, workers: list[Link]
) -> None:
    warm(workers)
    sid, challenge = opened(workers[0])
    answer = card_answer(deployment, challenge)
    outcomes = at_once(workers, "POST", f"/v1/sessions/{sid}/card", answer)
    assert sum(o[0] == 200 for o in outcomes) == 1, outcomes
    # the others: busy (one was in flight), replayed (it was taken: that ends the session),
    # or unknown (ended by such a replay)
    refusals = {(409, "session_busy"), (422, "card_replayed"), (404, "session_unknown")}
    assert all(o in refusals for o in outcomes if o[0] != 200), outcomes


def test_concurrent_issue_calls_across_workers_issue_once(
    deployment: Deployment, workers: list[Link]
) -> None:
    warm(workers)
    sid, challenge = opened(workers[1])
    answer = card_answer(deployment, challenge, 1)
    assert workers[0].request("POST", f"/v1/sessions/{sid}/card", answer).status == 200
    before = deployment.issuances()
    outcomes = at_once(workers, "POST", f"/v1/sessions/{sid}/certificates", ISSUE)
    assert sum(o[0] == 200 for o in outcomes) == 1, outcomes
    # in flight: busy; done already: the session is gone
    refusals = {(409, "session_busy"), (404, "session_unknown")}
    assert all(o in refusals for o in outcomes if o[0] != 200), outcomes
    assert (409, "session_busy") in outcomes, outcomes
    assert len(deployment.issuances()) == len(before) + 1


class LapsedClaims(RedisSessionStore):
    """A worker whose claim lease lapsed while another still works: claims an issuance the
    other holds, and waits until both hold one, so that both ask VRS."""

    both: threading.Barrier

    def claim(self, sid: str, kiosk_id: str, step: Step) -> Claim:
        if step is not Step.ISSUE:
            return super().claim(sid, kiosk_id, step)
        while True:
            self._redis.delete(self._keys(sid)[1])  # the other's claim, as its lease lapsed
            try:
                claim = super().claim(sid, kiosk_id, step)
            except CenterError as exc:
                # the other worker claimed between this one's delete and its claim: again
                assert exc.code is Code.SESSION_BUSY
                continue
            self.both.wait(10)
            return claim


def test_vrs_issues_once_per_session_even_when_two_workers_ask(
    deployment: Deployment, redis: OwnRedis
) -> None:
    """The center's guard out of the way: VRS, where the data lives, refuses the second."""
    files = prepare(deployment.home, publish_crl=False)
    both = threading.Barrier(2)
    servers, links = [], []
    key = bytes.fromhex(deployment.env[KEY_ENV])
    for _ in range(2):
        store = LapsedClaims.connect(redis.url, redis.password, key, 600.0)
        store.both = both
        app = create_app(
            {
                "TRUST_STORE": files["trust"],
                "KIOSKS": files["registry"],
                "VRS_URL": deployment.env["VRS_URL"],
                "VRS_CLIENT_CERT": files["client_cert"],
                "VRS_CLIENT_KEY": files["client_key"],
                "VRS_CA": files["lgwan_ca"],
                "SESSIONS": store,
            }
        )
        tls = CrlContext(files["server_cert"], files["server_key"], files["kiosk_ca"], files["crl"])
        server = Server(app, "127.0.0.1", 0, tls, name="center").start()
        servers.append(server)
        links.append(deployment.link(f"https://127.0.0.1:{server.port}"))
    try:
        sid, challenge = opened(links[0])
        answer = card_answer(deployment, challenge, 2)
        assert links[1].request("POST", f"/v1/sessions/{sid}/card", answer).status == 200
        before = deployment.issuances()
        certificates = deployment.certificates()
        with cf.ThreadPoolExecutor(2) as pool:
            replies = list(
                pool.map(
                    lambda link: link.request("POST", f"/v1/sessions/{sid}/certificates", ISSUE),
                    links,
                )
            )
        statuses = sorted(r.status for r in replies)
        assert statuses == [200, 422], [r.data for r in replies]
        refused = next(r for r in replies if r.status == 422).data
        assert (refused["error"], refused["details"]) == (
            "vrs_refused",
            [{"error": "session_already_issued"}],
        )
        new = [i for i in deployment.issuances() if i not in before]
        assert len(new) == 1  # one session, one issuance: its two certificates, no more
        assert deployment.certificates() == certificates + 2
        issued = next(r for r in replies if r.status == 200).data["certificates"]
        assert new[0][1].split() == [c["certificate_id"] for c in issued]
    finally:
        for s in servers:
            s.stop()


def visit(d: Deployment, link: Link, which: int) -> str:
    """One resident's visit; its outcome ("issued", or where and how it failed)."""
    step = "session"
    try:
        reply = link.request("POST", "/v1/sessions")
        if reply.status != 201:
            return f"{step}:{reply.status}"
        sid = reply.data["session_id"]
        for step, path, body in (
            ("card", "card", card_answer(d, reply.data["challenge"], which)),
            ("eligibility", "eligibility", {"municipality_code": NIIHAMA}),
            ("certificates", "certificates", {**ISSUE, "copies": 1}),
        ):
            reply = link.request("POST", f"/v1/sessions/{sid}/{path}", body)
            if reply.status != 200:
                link.request("DELETE", f"/v1/sessions/{sid}")
                return f"{step}:{reply.status}:{(reply.data or {}).get('error')}"
        return "issued"
    except LinkError as exc:
        return f"{step}:{exc.code.value}"


def test_a_worker_killed_mid_load_loses_no_issuance(
    deployment: Deployment, redis: OwnRedis
) -> None:
    proc, line = spawn(
        center_args(deployment, redis, "--workers", "2", "--port", "0"),
        deployment.env,
        deployment.home / "center-workers.log",
    )
    try:
        url = line.split()[3]
        pids = [int(p) for p in line.split("pids ")[1].split(";")[0].split(",")]
        before = len(deployment.issuances())
        certificates = deployment.certificates()
        stop_load = threading.Event()
        outcomes: list[list[str]] = [[] for _ in range(4)]

        def kiosk(i: int) -> None:
            while not stop_load.is_set():
                link = deployment.link(url, size=2)  # new connections: spread over the workers
                outcomes[i].append(visit(deployment, link, i))
                link.close()

        threads = [threading.Thread(target=kiosk, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        killed_at = [len(o) for o in outcomes]
        os.kill(pids[0], signal.SIGKILL)
        time.sleep(3.0)
        stop_load.set()
        for t in threads:
            t.join(30)
        issued = sum(o.count("issued") for o in outcomes)
        for o, at in zip(outcomes, killed_at, strict=True):
            # whatever failed at the kill, the kiosk's next visits went through
            assert o[-2:] == ["issued", "issued"], o[at:]
        recorded = len(deployment.issuances()) - before
        # each reply the kiosks got is one issuance; beyond them, at most the one in flight
        # per kiosk at the kill, issued by VRS but its answer lost with the worker
        assert issued <= recorded <= issued + 4, (issued, recorded)
        assert deployment.certificates() - certificates == recorded  # one copy each
        # the supervisor started the killed worker again
        assert proc.poll() is None
    finally:
        stop(proc)
