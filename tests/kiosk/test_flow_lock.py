"""The kiosk's flow with a card in memory and a center double: fast checks of what no fault
may do to the screen (the real reader, center and browser: test_faults.py, test_browser.py).

- No card I/O runs under the flow's lock: while an APDU or the closing of the card's link
  hangs, the screen's state, the buttons, the card watcher and the timers still answer.
- A background job that fails in a way nobody foresaw ends its visit on ``error`` with
  ``internal_error``: nothing charged, the center's session cancelled once, the card's link
  closed, and a log line with the exception's type only.
"""

from __future__ import annotations

import base64
import gc
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from card_reader import InMemoryTransport, Transport
from card_reader.softcard import CardState, DevCardIssuer, Profile, SoftCard
from kiosk.flow import Flow
from kiosk.payment import SimulatedTerminal

HOLDER = Profile.demo()
NIIHAMA = "382051"
# what an exception's text may carry (what the card or the center sent): never logged
SECRET = f"{HOLDER.my_number} {HOLDER.name}"
WAIT = 5.0  # the bound on anything that must happen (a loaded 2-core machine is slow)
PROMPT = 2.0  # the bound on a call that must not wait for the card


# --- doubles


def fresh(exc: Exception) -> Exception:
    """A new exception like ``exc``: the one a test set up would keep the traceback of each
    raise, and with it the frames of the kiosk's job (and its visit, which must be let go)."""
    return type(exc)(*exc.args)


class Gate:
    """Where a card step stops until the test lets it go."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.open = threading.Event()

    def pass_(self) -> None:
        self.reached.set()
        assert self.open.wait(30), "the test never let the card go on"


class SlowReader(Transport):
    """The card in memory behind a reader that can hang at an APDU or on close, or fail."""

    def __init__(self, card: Any) -> None:
        self._inner = InMemoryTransport(card)
        self.count = 0  # APDUs sent
        self.hang_at: int | None = None
        self.hang = Gate()
        self.raise_at: tuple[int, Exception] | None = None
        self.hang_on_close = False
        self.closing = Gate()
        self.closed = threading.Event()

    @property
    def atr(self) -> bytes:
        return self._inner.atr

    def transmit(self, apdu: bytes) -> bytes:
        self.count += 1
        if self.count == self.hang_at:
            self.hang.pass_()
        if self.raise_at is not None and self.count == self.raise_at[0]:
            raise fresh(self.raise_at[1])
        return self._inner.transmit(apdu)

    def close(self) -> None:
        if self.hang_on_close:
            self.closing.pass_()
        self._inner.close()
        self.closed.set()


class FakeCenter:
    """The center's client as the flow sees it; ``fail[name]`` is raised by that call."""

    def __init__(self) -> None:
        self.fail: dict[str, Exception] = {}
        self.opened: list[str] = []
        self.cancelled: list[str] = []

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail:
            raise fresh(self.fail[name])

    def open_session(self) -> dict[str, Any]:
        self._maybe_fail("open_session")
        sid = f"session-{len(self.opened)}"
        self.opened.append(sid)
        return {
            "session_id": sid,
            "challenge": base64.b64encode(b"c" * 32).decode(),
            "municipalities": [{"code": NIIHAMA, "name_ja": "新居浜市", "name_en": "Niihama"}],
        }

    def submit_card(self, sid: str, card: Any) -> None:
        self._maybe_fail("submit_card")

    def eligibility(self, sid: str, municipality: str) -> dict[str, Any]:
        self._maybe_fail("eligibility")
        return {"domestic": True, "overseas": False}

    def issue(self, sid: str, municipality: str, kind: str, copies: int) -> list[dict[str, Any]]:
        self._maybe_fail("issue")
        printable = {
            "certificate_type": kind,
            "certificate_id": "certificate-id",
            "issue_date": "2024-04-01",
            "name": HOLDER.name,
            "birth_date": "1980-04-01",
            "doses": [{"number": 1, "date": "2021-06-01", "product": "p", "lot": "l"}],
            "municipality_ja": "新居浜市",
            "municipality_en": "Niihama City",
            "mayor_ja": "新居浜市長",
            "mayor_en": "Mayor of Niihama City",
            "qr_value": "shc:/0",
        }
        return [{"printable": printable}] * copies

    def cancel(self, sid: str) -> None:
        self.cancelled.append(sid)  # the real client returns at once too (its own thread sends)


class TrayPrinter:
    def __init__(self) -> None:
        self.tray: list[Any] = []
        self.fail: Exception | None = None

    def print_page(self, page: Any) -> None:
        if self.fail is not None:
            raise fresh(self.fail)
        self.tray.append(page)

    def clear(self) -> None:
        self.tray.clear()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the kiosk under test


class Kiosk:
    def __init__(self, new_card: Callable[[], Any]) -> None:
        self.new_card = new_card
        self.center = FakeCenter()
        self.printer = TrayPrinter()
        self.terminal = SimulatedTerminal()
        self.clock = Clock()
        self.readers: list[SlowReader] = []
        self.connect_fails: Exception | None = None
        self.flow = Flow(
            self.center,  # type: ignore[arg-type]
            self.printer,
            "memory",
            idle_timeout=60.0,
            clock=self.clock,
            connect=self._connect,
            terminal=self.terminal,
        )
        self.next_reader = SlowReader(new_card())

    def _connect(self, _reader: str) -> Transport:
        if self.connect_fails is not None:
            raise fresh(self.connect_fails)
        reader, self.next_reader = self.next_reader, SlowReader(self.new_card())
        self.readers.append(reader)
        return reader

    def payments(self) -> list[tuple[str, int]]:
        """The payment terminal's records: (kind, yen)."""
        return [(r.kind, r.amount) for r in self.terminal.records]

    def until(self, *screens: str) -> str:
        deadline = time.monotonic() + WAIT
        while self.flow.screen not in screens:
            assert time.monotonic() < deadline, (self.flow.screen, screens)
            time.sleep(0.005)
        return self.flow.screen

    def to_pin(self) -> None:
        self.flow.card_event(True)
        self.until("menu")
        self.flow.act("covid-certificate")
        self.until("pin")

    def to_municipality(self) -> None:
        self.to_pin()
        self.flow.act("pin", HOLDER.pin)
        self.until("remove_card")
        self.flow.card_event(False)
        self.until("municipality")

    def to_payment(self) -> None:
        self.to_municipality()
        self.flow.act("municipality", NIIHAMA)
        self.until("type")
        for action in ("domestic", "next", "next"):
            self.flow.act(action)
        self.until("payment")

    def release_all(self) -> None:
        for r in [*self.readers, self.next_reader]:
            r.hang.open.set()
            r.closing.open.set()


@pytest.fixture(scope="module")
def new_card(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Any]:
    issuer = DevCardIssuer.load_or_create(tmp_path_factory.mktemp("card-issuer"))
    key = rsa.generate_private_key(65537, 2048)
    return lambda: SoftCard.personalized(HOLDER, issuer, CardState(key, 3))


@pytest.fixture
def kiosk(new_card: Callable[[], Any]) -> Iterator[Kiosk]:
    k = Kiosk(new_card)
    k.flow.start()  # its closer's thread, as the kiosk's runtime starts it
    yield k
    k.release_all()  # a test that failed leaves no thread hanging on a gate
    k.flow.stop()


def promptly(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, which must return within PROMPT seconds (it must not wait for the card)."""
    out: list[Any] = []
    done = threading.Event()

    def run() -> None:
        out.append(fn(*args))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(PROMPT), f"{getattr(fn, '__name__', fn)} waited for the card's I/O"
    return out[0]


def jobs_done() -> None:
    """Every background job of the flow has ended (each on a thread of its own, "kiosk-job-…")."""
    deadline = time.monotonic() + WAIT
    while any(t.name.startswith("kiosk-job-") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a job is still running"
        time.sleep(0.005)


def the_screen_answers(flow: Flow, screen: str) -> None:
    """While the card hangs: the screen's state, a button, the watcher's look and the timer."""
    assert promptly(flow.state).screen == screen
    promptly(flow.act, "lang", "en")
    promptly(flow.act, "lang", "ja")
    promptly(flow.tick)
    assert promptly(flow.state).lang == "ja"


# --- no card I/O under the lock


# APDU 1 is the SELECT when the card is placed, 2 the tries left (spends nothing), 3 the VERIFY
@pytest.mark.parametrize(
    ("step", "apdu", "after"),
    [("placed", 1, "menu"), ("tries", 2, "pin"), ("pin", 3, "remove_card")],
)
def test_the_screen_answers_while_an_apdu_hangs(
    kiosk: Kiosk, step: str, apdu: int, after: str
) -> None:
    flow, reader = kiosk.flow, kiosk.next_reader
    reader.hang_at = apdu
    promptly(flow.card_event, True)
    if step != "placed":
        kiosk.until("menu")
        promptly(flow.act, "covid-certificate")
    if step == "pin":
        kiosk.until("pin")
        promptly(flow.act, "pin", HOLDER.pin)
    assert reader.hang.reached.wait(WAIT)
    the_screen_answers(flow, "reading")  # "please wait", and the kiosk is not frozen behind it
    promptly(flow.card_event, True)  # the watcher's news gets in too
    reader.hang.open.set()
    kiosk.until(after)
    assert flow.state().tries == (None if step == "placed" else 3)


def test_the_card_taken_while_an_apdu_hangs_ends_the_visit_at_once(kiosk: Kiosk) -> None:
    """The watcher's "card gone" is not held up by the APDU in flight, and the job that comes
    back afterwards drops its result: the visit stays ended."""
    flow, reader = kiosk.flow, kiosk.next_reader
    reader.hang_at = 2
    flow.card_event(True)
    kiosk.until("menu")
    promptly(flow.act, "covid-certificate")
    assert reader.hang.reached.wait(WAIT)
    promptly(flow.card_event, False)
    st = promptly(flow.state)
    assert (st.screen, st.code, st.tries) == ("cancelled", "card_removed", None)
    assert kiosk.center.cancelled == ["session-0"]
    assert reader.closed.wait(WAIT)  # let go of at once (a PC/SC link: once the APDU is back)
    reader.hang.open.set()
    jobs_done()
    st = flow.state()
    assert (st.screen, st.code, st.tries) == ("cancelled", "card_removed", None)
    assert kiosk.center.cancelled == ["session-0"]  # once


# every way a visit ends while the card's link is still open, each from its own thread
ENDS: dict[str, tuple[Callable[[Kiosk], None], str, str | None]] = {
    "card taken": (lambda k: k.flow.card_event(False), "cancelled", "card_removed"),
    "cancel": (lambda k: k.flow.act("cancel"), "cancelled", None),
    "reader gone": (lambda k: k.flow.reader_event(False), "error", "reader_unavailable"),
}


def idle(k: Kiosk) -> None:
    k.clock.now += 61
    k.flow.tick()


ENDS["idle timeout"] = (idle, "cancelled", "timeout")


@pytest.mark.parametrize("end", list(ENDS))
def test_closing_the_cards_link_does_not_hold_the_screen(kiosk: Kiosk, end: str) -> None:
    flow, reader = kiosk.flow, kiosk.next_reader
    reader.hang_on_close = True  # pcscd slow to let the card go
    kiosk.to_pin()
    do, screen, code = ENDS[end]
    promptly(do, kiosk)
    assert reader.closing.reached.wait(WAIT)  # the close is under way, and hangs
    st = promptly(flow.state)
    assert (st.screen, st.code) == (screen, code)
    the_screen_answers(flow, screen)
    assert kiosk.center.cancelled == ["session-0"]
    reader.closing.open.set()
    assert reader.closed.wait(WAIT)


def test_the_link_is_closed_off_the_lock_when_the_card_is_taken_after_the_read(
    kiosk: Kiosk,
) -> None:
    flow, reader = kiosk.flow, kiosk.next_reader
    reader.hang_on_close = True
    kiosk.to_pin()
    flow.act("pin", HOLDER.pin)
    kiosk.until("remove_card")
    promptly(flow.card_event, False)
    assert reader.closing.reached.wait(WAIT)
    assert promptly(flow.state).screen == "municipality"
    promptly(flow.act, "municipality", NIIHAMA)
    kiosk.until("type")
    reader.closing.open.set()
    assert reader.closed.wait(WAIT)
    assert kiosk.center.cancelled == []  # the visit goes on: its session stays


# --- a fault nobody foresaw, in each kind of job


def fail_connect(k: Kiosk) -> None:
    k.connect_fails = RuntimeError(SECRET)
    k.flow.card_event(True)


def fail_open_session(k: Kiosk) -> None:
    k.center.fail["open_session"] = ValueError(SECRET)
    k.flow.card_event(True)


def fail_tries(k: Kiosk) -> None:
    k.next_reader.raise_at = (2, RuntimeError(SECRET))
    k.flow.card_event(True)
    k.until("menu")
    k.flow.act("covid-certificate")


def fail_verify(k: Kiosk) -> None:
    k.next_reader.raise_at = (3, RuntimeError(SECRET))
    k.to_pin()
    k.flow.act("pin", HOLDER.pin)


def fail_submit(k: Kiosk) -> None:
    k.center.fail["submit_card"] = ValueError(SECRET)
    k.to_pin()
    k.flow.act("pin", HOLDER.pin)


def fail_check(k: Kiosk) -> None:
    k.to_municipality()
    k.center.fail["eligibility"] = ValueError(SECRET)
    k.flow.act("municipality", NIIHAMA)


def fail_issue(k: Kiosk) -> None:
    k.to_payment()
    k.center.fail["issue"] = ValueError(SECRET)
    k.flow.act("pay")


# job, how it fails, whether a session was open by then (to be cancelled)
FAULTS = {
    "open: connect": ("open", fail_connect, False),
    "open: center": ("open", fail_open_session, False),
    "tries: card": ("tries", fail_tries, True),
    "read: card": ("read", fail_verify, True),
    "read: center": ("read", fail_submit, True),
    "check: center": ("check", fail_check, True),
    "issue: center": ("issue", fail_issue, True),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_an_unforeseen_fault_in_a_job_ends_the_visit_with_nothing_charged(
    kiosk: Kiosk, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    job, make_it_fail, had_session = FAULTS[fault]
    caplog.set_level(logging.INFO, logger="kiosk")
    visit = weakref.ref(kiosk.flow._txn)  # on welcome: the transaction that serves the card
    make_it_fail(kiosk)
    kiosk.until("error")  # not "please wait" for ever
    st = kiosk.flow.state()
    assert st.code == "internal_error"
    assert st.message is not None
    assert "料金はかかりません" in st.message.ja and "not charged" in st.message.en
    # the issuance fails after the resident paid: the amount held then is released
    assert kiosk.payments() == ([("authorisation", 120), ("void", 120)] if job == "issue" else [])
    assert (st.tray, kiosk.printer.tray) == (0, [])
    assert kiosk.center.cancelled == (["session-0"] if had_session else [])  # once
    for reader in kiosk.readers:
        assert reader.closed.wait(WAIT)
    jobs_done()
    gc.collect()
    assert visit() is None, "the kiosk still holds the visit"
    failed = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    exc_type = "RuntimeError" if "card" in fault or "connect" in fault else "ValueError"
    assert failed == [f"job={job} failed: {exc_type}"]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback, no exception text
    assert HOLDER.my_number not in caplog.text and HOLDER.name not in caplog.text
    # the kiosk is ready for the next resident
    kiosk.connect_fails = None
    kiosk.center.fail.clear()
    kiosk.next_reader = SlowReader(kiosk.new_card())
    kiosk.flow.act("ok")
    kiosk.to_pin()
    assert kiosk.flow.state().tries == 3


def test_an_unforeseen_fault_after_the_visit_ended_changes_nothing(
    kiosk: Kiosk, caplog: pytest.LogCaptureFixture
) -> None:
    """The card was taken while the tries were read; the job then fails: the visit stays
    ended as the resident was told (card removed), and its session is not cancelled twice."""
    flow, reader = kiosk.flow, kiosk.next_reader
    reader.hang_at = 2
    reader.raise_at = (2, RuntimeError(SECRET))
    flow.card_event(True)
    kiosk.until("menu")
    flow.act("covid-certificate")
    assert reader.hang.reached.wait(WAIT)
    flow.card_event(False)
    reader.hang.open.set()
    jobs_done()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "job=tries failed: RuntimeError"
    ]
    st = flow.state()
    assert (st.screen, st.code) == ("cancelled", "card_removed")
    assert kiosk.center.cancelled == ["session-0"]
    assert reader.closed.wait(WAIT)


def test_a_printer_failing_in_its_own_way_is_a_print_failure(kiosk: Kiosk) -> None:
    """The printer (CUPS, a driver) may raise anything: that is print_failed, nothing charged."""
    kiosk.to_payment()
    kiosk.printer.fail = RuntimeError("paper jam")
    kiosk.flow.act("pay")
    kiosk.until("error")
    assert kiosk.flow.state().code == "print_failed"
    assert kiosk.payments() == [("authorisation", 120), ("void", 120)]
    assert kiosk.center.cancelled == []  # the center closed the session with the issuance


def test_a_whole_visit_in_memory(kiosk: Kiosk) -> None:
    """The doubles above make a certificate when nothing fails (so the faults are the faults)."""
    kiosk.to_payment()
    kiosk.flow.act("pay")
    kiosk.until("done")
    assert kiosk.payments() == [("authorisation", 120), ("capture", 120)]
    assert (kiosk.flow.state().charged, len(kiosk.printer.tray)) == (120, 1)
    kiosk.flow.act("taken")
    assert kiosk.flow.screen == "welcome" and kiosk.center.cancelled == []
    assert kiosk.payments() == [("authorisation", 120), ("capture", 120)]  # nothing voided
