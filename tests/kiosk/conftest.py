"""The whole system for the browser tests, on loopback, through the real parts.

VRS and the center run over mutual TLS with their development CAs, the kiosk
serves its screen over HTTP on 127.0.0.1, the software card goes into pcscd's
"Virtual PCD 00 01" reader through vpcd, and Debian's chromium (Playwright)
is the kiosk's browser. Logs of the kiosk and the center go to files, so the
privacy test can search everything they wrote.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import io
import logging
import sqlite3
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from card_reader.softcard import CardState, DevCardIssuer, Profile, SoftCard
from certs import IssuerKey
from issuance_center import create_app as center_app
from issuance_center.kiosks import Kiosk, KioskRegistry
from kiosk import create_app as kiosk_app
from kiosk import runtime
from kiosk.browser import CHROMIUM, CHROMIUM_ARGS
from kiosk.center import CenterClient
from kiosk.flow import Flow
from kiosk.payment import SimulatedTerminal
from kiosk.printer import SimulatedPrinter
from serving import CA, Server, mutual_tls_context
from vrs import Vrs
from vrs import create_app as vrs_app
from vrs.crypto import MasterKey
from vrs.demo import MUNICIPALITIES, Resident, profile, residents
from vrs.storage import SQLiteStorage

from ..card_reader.test_pcsc import READER
from ..vrs.conftest import ledger


@dataclass
class System:
    root: Path
    people: list[Resident]
    issuer: DevCardIssuer
    vrs_url: str
    center_url: str
    center: Any  # the center's Flask app
    lgwan: CA
    kiosk_ca: CA
    card_key: Any

    def card(self, who: Resident, tries_left: int = 3, state: Path | None = None) -> SoftCard:
        p = Profile.from_dict(profile(who))
        if state is not None and state.exists():
            return SoftCard.personalized(p, self.issuer, CardState.load(state))
        st = CardState(self.card_key, tries_left, state)
        st.save()
        return SoftCard.personalized(p, self.issuer, st)

    def vrs_jwks(self) -> dict[str, Any]:
        cert = tuple(map(str, self.lgwan.issue("center-client", "issuance-center")))
        s = requests.Session()
        s.trust_env = False
        return s.get(
            self.vrs_url + "/.well-known/jwks.json",
            cert=cert,
            verify=str(self.lgwan.cert_path),
            timeout=5,
        ).json()


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    root = tmp_path_factory.mktemp("system")
    logs = root / "logs"
    logs.mkdir()
    handlers = []
    for name in ("kiosk", "issuance_center"):
        h = logging.FileHandler(logs / f"{name}.log", encoding="utf-8")
        h.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logging.getLogger(name).addHandler(h)
        logging.getLogger(name).setLevel(logging.DEBUG)
        handlers.append((name, h))

    people = list(residents(8, seed=5))
    issuer = DevCardIssuer.load_or_create(root / "card-issuer")
    # VRS
    (root / "vrs").mkdir()
    vrs = Vrs(
        SQLiteStorage(root / "vrs" / "vrs.sqlite3"),
        MasterKey.load_or_create(root / "vrs" / "master.key"),
        IssuerKey.generate(),
        "https://vrs.test/issuer",
    )
    for m in MUNICIPALITIES:
        vrs.add_municipality(m)
        vrs.area(m.code).import_csv(io.StringIO(ledger(people, m.code)))
    lgwan = CA(root / "pki" / "lgwan", "LGWAN CA (test)")
    vrs_cert, vrs_key = lgwan.issue("vrs", "vrs", server=True)
    vrs_server = Server(
        vrs_app({"VRS": vrs}),
        "127.0.0.1",
        0,
        mutual_tls_context(vrs_cert, vrs_key, lgwan.cert_path),
    ).start()
    vrs_url = f"https://127.0.0.1:{vrs_server.port}"
    # the center
    kiosk_ca = CA(root / "pki" / "kiosk", "Kiosk CA (test)")
    center_home = root / "center"
    center_home.mkdir()
    KioskRegistry.write(center_home / "kiosks.json", [Kiosk("K0001", "Test store", True)])
    issuer.trust_store().save(center_home / "trust-store.json")
    capp, center_server = start_center(root, lgwan, kiosk_ca, vrs_url)
    yield System(
        root,
        people,
        issuer,
        vrs_url,
        f"https://127.0.0.1:{center_server.port}",
        capp,
        lgwan,
        kiosk_ca,
        rsa.generate_private_key(65537, 2048),
    )
    center_server.stop()
    vrs_server.stop()
    for name, h in handlers:
        logging.getLogger(name).removeHandler(h)
        h.close()


def start_center(
    root: Path, lgwan: CA, kiosk_ca: CA, vrs_url: str, **config: Any
) -> tuple[Any, Any]:
    """A center (Flask app, server) on a free port, with the system's files: a fresh memory."""
    client_cert, client_key = lgwan.issue("center-client", "issuance-center")
    capp = center_app(
        {
            "TRUST_STORE": root / "center" / "trust-store.json",
            "KIOSKS": root / "center" / "kiosks.json",
            "VRS_URL": vrs_url,
            "VRS_CLIENT_CERT": client_cert,
            "VRS_CLIENT_KEY": client_key,
            "VRS_CA": lgwan.cert_path,
            **config,
        }
    )
    c_cert, c_key = kiosk_ca.issue("center", "center", server=True)
    server = Server(
        capp, "127.0.0.1", 0, mutual_tls_context(c_cert, c_key, kiosk_ca.cert_path)
    ).start()
    return capp, server


@dataclass
class KioskUnderTest:
    url: str
    app: Any
    printer: SimulatedPrinter
    terminal: SimulatedTerminal
    opened: list[str]  # the center sessions the kiosk opened, in order

    @property
    def flow(self) -> Flow:
        return self.app.extensions["kiosk_flow"]

    def visit(self) -> Visit:
        return Visit(self.flow, self.opened)


def record_sessions(center: CenterClient) -> list[str]:
    """The IDs of the sessions ``center`` opens from now on (the client, wrapped in place)."""
    opened: list[str] = []
    real = center.open_session

    def open_session() -> dict[str, Any]:
        session = real()
        opened.append(session["session_id"])
        return session

    center.open_session = open_session  # type: ignore[method-assign]
    return opened


class Visit:
    """One resident's visit, remembered without keeping any of it alive: a reference held
    here would hide a kiosk that holds on to it. Taken while the visit is under way, or on
    "welcome" just before its card is placed (the transaction waiting there serves it)."""

    def __init__(self, flow: Flow, opened: list[str]) -> None:
        self._opened = opened
        self._terminal = flow.terminal
        t = flow._txn
        self._txn = weakref.ref(t)
        sid = (t.session or {}).get("session_id")
        self._first_session = opened.index(sid) if sid else len(opened)
        self._first_record = len(self._terminal.records)  # type: ignore[attr-defined]

    def dropped(self) -> bool:
        """Nothing in the kiosk holds the visit any more (not the screen, a job or a timer)."""
        gc.collect()
        return self._txn() is None

    def sessions(self) -> list[str]:
        """The center sessions the kiosk opened since the visit began."""
        return self._opened[self._first_session :]

    def payments(self) -> list[tuple[str, int]]:
        """The payment terminal's records since the visit began: (kind, yen), one payment's."""
        records = self._terminal.records[self._first_record :]  # type: ignore[attr-defined]
        assert len({r.ref for r in records}) <= 1, records
        return [(r.kind, r.amount) for r in records]


def paid(yen: int) -> list[tuple[str, int]]:
    return [("authorisation", yen), ("capture", yen)]


def refunded(yen: int) -> list[tuple[str, int]]:
    """The amount held when the resident paid, released: nothing taken."""
    return [("authorisation", yen), ("void", yen)]


@contextlib.contextmanager
def running_kiosk(system: System, center_url: str, **config: Any) -> Iterator[KioskUnderTest]:
    """Kiosk K0001 on the test reader, talking to the center at ``center_url``."""
    cert, key = system.kiosk_ca.issue("kiosk-K0001", "K0001")
    printer = SimulatedPrinter(system.root / "kiosk" / "prints")
    terminal = SimulatedTerminal()
    app = kiosk_app(
        {
            "CENTER_URL": center_url,
            "CERT": cert,
            "KEY": key,
            "CA": system.kiosk_ca.cert_path,
            "READER": READER,
            "PRINTER_OBJ": printer,
            "PAYMENT": terminal,
            "IDLE_TIMEOUT": 60,
            **config,
        }
    )
    opened = record_sessions(app.extensions["kiosk_flow"].center)
    threads = runtime(app).start()  # as `kiosk serve` does: the watcher, closer, canceller
    server = Server(app, "127.0.0.1", 0, None, name="kiosk").start()
    # urllib3 logs each retry with its exception, whose traceback holds the calling frames
    # (a kiosk job's, with its visit); pytest keeps every record until the test ends, which
    # would keep a visit alive that the kiosk let go of (Visit.dropped)
    urllib3_log = logging.getLogger("urllib3")
    level = urllib3_log.level
    urllib3_log.setLevel(logging.ERROR)
    try:
        yield KioskUnderTest(f"http://127.0.0.1:{server.port}", app, printer, terminal, opened)
    finally:
        urllib3_log.setLevel(level)
        server.stop()
        threads.stop()


@pytest.fixture
def kiosk(system: System) -> Iterator[KioskUnderTest]:
    with running_kiosk(system, system.center_url) as k:
        yield k


@pytest.fixture
def nothing_personal_written(system: System) -> Iterator[None]:
    """After each test: no resident's data and no certificate ID in any file the kiosk or the
    center wrote (their folders and logs; the simulated printer's PDFs are the output), M06."""
    yield
    written = [
        p
        for d in ("kiosk", "center", "logs")
        for p in (system.root / d).rglob("*")
        if p.is_file() and "prints" not in p.parts
    ]
    blob = b"".join(p.read_bytes() for p in written)
    assert b"screen=" in blob, "the kiosk's log is where this check looks"
    with contextlib.closing(sqlite3.connect(system.root / "vrs" / "vrs.sqlite3")) as db:
        cert_ids = [r[0] for r in db.execute("SELECT certificate_id FROM certificates")]
    for r in system.people:
        for secret in (*r.secrets(), base64.b64encode(r.my_number.encode()).decode()):
            assert secret.encode() not in blob, secret
    for cid in cert_ids:
        assert cid.encode() not in blob, cid


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is needed (bin/setup installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, kiosk: KioskUnderTest) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    pg = ctx.new_page()
    pg.set_default_timeout(15000)
    pg.goto(kiosk.url)
    yield pg
    ctx.close()
