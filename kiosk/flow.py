"""One resident's transaction at the kiosk, screen by screen.

Card placed → choose the certificate → PIN → the card is read and checked by
the center → remove the card → municipality → type → copies → check → pay →
print → take the certificate. Every end (success, cancel, error, timeout)
wipes the transaction: nothing of it outlives it in memory, and nothing is
ever written to disk or logged (M06).

Slow steps (the card, the center, the printer) run off the lock in a
background job while the screen says "please wait", so the screen, the card
watcher and the timers never freeze behind a slow or dead link; a job whose
visit ended meanwhile drops its result. No card I/O runs under the lock: not
the tries left (a job), not closing the card's PC/SC link (the closer's thread),
not the center's cancel (its client's canceller). A job that fails in a way
nobody foresaw still ends its visit, on the error screen, with nothing charged.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from card_reader import (
    CardError,
    ErrorCode,
    PcscTransport,
    PinError,
    TextApplication,
    Transport,
    pin_is_well_formed,
    wait_for_card_state,
)
from certs import printable_from_json

from . import messages
from .center import CenterClient
from .errors import Code, KioskError
from .models import Kind, Lang, Municipality, Screen, State, Words
from .payment import PaymentTerminal, SimulatedTerminal
from .printer import Printer

log = logging.getLogger("kiosk")

FEE_YEN = 120
MAX_COPIES = 5
REMINDER_EVERY = 6.0  # seconds between spoken reminders (card, certificate)
# screens where taking the card away ends the transaction (the chip is not read yet)
NEEDS_CARD = {"menu", "pin", "reading"}
# screens where a placed card starts a new visit
STARTS = {"welcome", "cancelled", "error", "locked"}
# a background job is running: no cancel, no idle timeout (each job has its own bound).
# "reading" is the card's: its tries left, then the PIN check and the read.
WAITING = {"reading", "checking", "printing"}
# VRS's "not here" answers for one municipality: the resident may still choose another
# (each municipality issues its own certificate for the doses it gave)
TRY_ANOTHER_MUNICIPALITY = {
    "no_record",
    "no_doses",
    "moved_out",
    "municipality_not_offered",
    "service_not_offered",
    "no_such_municipality",
}


class Transaction:
    """What one resident's visit holds; dropped whole at its end."""

    def __init__(self) -> None:
        self.session: dict[str, Any] | None = None
        self.cancelled: str | None = None  # the session ID already cancelled at the center
        self.transport: Transport | None = None
        self.app: TextApplication | None = None
        self.tries: int | None = None
        self.municipality: str | None = None
        self.eligibility: dict[str, Any] | None = None
        self.kind: Kind | None = None
        # the center's lists for this visit (its session), as the screen shows them
        self.municipalities: list[Municipality] = []
        self.not_offering: list[Municipality] = []
        self.copies = 1
        self.sheets = 0
        self.payment: str | None = None  # the terminal's authorisation, until captured or voided
        self.charged = 0  # what the terminal captured, for the final screen

    def take_card(self) -> Transport | None:
        """The chip's part is over (or the transaction is): the reader link, for the closer."""
        transport, self.transport, self.app = self.transport, None, None
        return transport


def offered(session: dict[str, Any]) -> tuple[list[Municipality], list[Municipality]]:
    """The municipalities a center session offers, and those it names as not offering the
    service; a center whose lists cannot be read is one the kiosk cannot understand."""
    try:
        offering, not_offering = (
            [Municipality.model_validate(m) for m in session.get(key) or []]
            for key in ("municipalities", "not_offering")
        )
    except (ValidationError, TypeError):
        raise KioskError(Code.CENTER_UNAVAILABLE) from None
    return offering, not_offering


def open_pcsc(reader: str) -> Transport:
    return PcscTransport(reader, wait=1.0, timeout=5.0)


class Closer:
    """One long-lived thread that closes card links, so that no caller waits for PC/SC.

    Closing talks to pcscd (and waits for an APDU still in flight), which a hung reader
    or pcscd can stall; the screen, the card watcher and the timers must not stall with it.
    ``start`` starts the thread (``Flow.start``); links given before wait for it.
    """

    def __init__(self) -> None:
        self._links: queue.SimpleQueue[Transport | None] = queue.SimpleQueue()  # None: stop
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="card-closer", daemon=True)
            self._thread.start()

    def stop(self, wait: float = 1.0) -> None:
        """The thread ends once it has closed the links given before (waited for ``wait`` s)."""
        self._links.put(None)
        if self._thread is not None:
            self._thread.join(wait)

    def close(self, transport: Transport | None) -> None:
        if transport is not None:
            self._links.put(transport)

    def _run(self) -> None:
        while (transport := self._links.get()) is not None:
            try:
                transport.close()
            except Exception as exc:  # the link is dropped either way; the next one still closes
                log.error("card close failed: %s", type(exc).__name__)


class Flow:
    def __init__(
        self,
        center: CenterClient,
        printer: Printer,
        reader: str,
        idle_timeout: float = 60.0,
        take_timeout: float = 180.0,
        clock: Callable[[], float] = time.monotonic,
        connect: Callable[[str], Transport] = open_pcsc,
        terminal: PaymentTerminal | None = None,
    ) -> None:
        self.center = center
        self.terminal = terminal or SimulatedTerminal()
        self.connect = connect  # opens the card in the reader (tests: a software card in memory)
        self.printer = printer
        self.reader = reader
        self.idle_timeout = idle_timeout
        # how long the card / certificate reminders go on before the kiosk gives up and
        # wipes the transaction anyway (the printed pages must not wait for the next person)
        self.take_timeout = take_timeout
        self.clock = clock
        self.lang: Lang = "ja"
        self.card_present = False
        self.reader_ok = True  # the card watcher says when the reader or pcscd is away
        self._lock = threading.RLock()
        self._txn = Transaction()
        self._gen = 0  # which transaction a background job belongs to
        self._closer = Closer()
        self._set("welcome")

    def start(self) -> None:
        """Starts the thread that closes card links (``KioskRuntime.start``, or a test)."""
        self._closer.start()

    def stop(self) -> None:
        self._closer.stop()

    # --- state

    def _set(self, screen: Screen, message: messages.Text | None = None) -> None:
        self.screen = screen
        self.message = message
        self.entered = self.last_activity = self.clock()
        log.info(
            "screen=%s%s",
            screen,
            f" code={message.get('code')}" if message and "code" in message else "",
        )

    def _end(self, screen: Screen, code: str | None = None, **fields: object) -> None:
        """Every end of a transaction comes here: wipe it, then show how it ended."""
        txn, self._txn = self._txn, Transaction()
        self._gen += 1
        self._discard(txn)
        self.printer.clear()
        if screen == "welcome" and not self.reader_ok:
            screen, code = "out_of_service", "out_of_service"
        msg = {**messages.error_text(code, **fields), "code": code} if code else None
        self._set(screen, msg)

    def _discard(self, t: Transaction) -> None:
        """Lets go of what a visit holds: the reader link, the resident's money held by the
        terminal and the center session (each once)."""
        self._release_card(t)
        ref, t.payment = t.payment, None
        if ref is not None:
            self.terminal.void(ref)  # returns at once: nothing waits under the lock
        sid = (t.session or {}).get("session_id")
        if sid is not None and sid != t.cancelled:
            t.cancelled = sid
            # returns at once: the center client sends it (and again, while the center does
            # not answer) on its own thread, so a slow center does not freeze the screen
            self.center.cancel(sid)

    def _release_card(self, t: Transaction) -> None:
        """Drops the visit's reader link now; the closer's thread closes it."""
        self._closer.close(t.take_card())

    def _fail(self, gen: int, t: Transaction, exc: CardError | KioskError) -> None:
        """A step failed: end the visit with the words for why, unless it had ended already."""
        with self._lock:
            if gen != self._gen:
                return self._discard(t)
            if isinstance(exc, KioskError):
                return self._end("error", exc.code)
            # the card taken away or reset: nothing is wrong with it, the visit is just over
            gone = exc.code in (ErrorCode.CARD_REMOVED, ErrorCode.CARD_RESET)
            self._end("cancelled" if gone else "error", messages.card_code(exc.code))

    def state(self) -> State:
        with self._lock:
            now = self.clock()
            t = self._txn
            reminder = None
            repeat = 0
            if self.screen in ("remove_card", "done") or (
                self.card_present and self.screen in ("welcome", "locked", "error", "cancelled")
            ):
                reminder = (
                    messages.REMINDER_CERTIFICATE
                    if self.screen == "done"
                    else messages.REMINDER_CARD
                )
                repeat = int((now - self.entered) / REMINDER_EVERY)
            text = messages.SCREENS[self.screen]
            if self.screen == "welcome" and self.card_present:
                # a card left after a visit ended: "place your card" would contradict the reminder
                text = messages.CARD_LEFT
            if reminder and repeat:
                voice = reminder  # said again and again until the resident acts (M07)
            elif self.message:
                voice = {
                    "ja": f"{self.message['ja']}。{text['ja']}",
                    "en": f"{self.message['en']}. {text['en']}",
                }
            else:
                voice = text
            code = (self.message or {}).get("code")
            return State(
                screen=self.screen,
                lang=self.lang,
                text=Words(**text),
                message=Words(ja=self.message["ja"], en=self.message["en"])
                if self.message
                else None,
                code=Code.of(code) if code else None,
                reminder=Words(**reminder) if reminder else None,
                voice=Words(**voice),
                voice_id=f"{self.screen}:{id(self.message)}:{repeat}",
                card_present=self.card_present,
                tries=t.tries,
                copies=t.copies,
                kind=t.kind,
                fee=FEE_YEN,
                copy_fee=FEE_YEN * self._pages_per_copy(t),
                max_copies=MAX_COPIES,
                total=self._total(t),
                charged=t.charged,
                municipality=t.municipality,
                overseas_allowed=bool(t.eligibility and t.eligibility.get("overseas")),
                municipalities=t.municipalities,
                not_offering=t.not_offering,
                tray=len(getattr(self.printer, "tray", [])) if self.screen == "done" else 0,
            )

    @staticmethod
    def _pages_per_copy(t: Transaction) -> int:
        return 2 if t.kind == "overseas" else 1  # overseas comes with a domestic one

    @classmethod
    def _total(cls, t: Transaction) -> int:
        return FEE_YEN * t.copies * cls._pages_per_copy(t)

    # --- the card

    def card_event(self, present: bool) -> None:
        with self._lock:
            self.card_present = present
            if present and self.screen in STARTS:
                self._start()
            elif not present and self.screen in NEEDS_CARD:
                self._end("cancelled", "card_removed")
            elif not present and self.screen == "remove_card":
                self._release_card(self._txn)
                self._set("municipality")

    def reader_event(self, available: bool) -> None:
        """The reader was unplugged or pcscd went away (False), or it is back (True)."""
        with self._lock:
            self.reader_ok = available
            if available:
                if self.screen == "out_of_service":
                    self._set("welcome")
                return
            self.card_present = False
            if self.screen in NEEDS_CARD:
                self._end("error", "reader_unavailable")
            elif self.screen == "welcome":
                self._end("welcome")  # nobody is here: the screen says the kiosk is out of service
            # after the read the visit needs no reader; on remove_card the watcher's next
            # look (once the reader is back) says whether the card is still there

    def _start(self) -> None:
        if self.screen != "welcome":
            self._end("welcome")
        self._set("reading")
        self._background("open", self._open)

    def _open(self, t: Transaction, gen: int) -> None:
        """The card was placed: select its text application and open a center session."""
        try:
            t.transport = self.connect(self.reader)
            t.app = TextApplication(t.transport)
            t.app.select()
            t.session = self.center.open_session()
            t.municipalities, t.not_offering = offered(t.session)
        except (CardError, KioskError) as exc:
            return self._fail(gen, t, exc)
        with self._lock:
            if gen != self._gen:
                return self._discard(t)  # the card was taken away meanwhile
            self._set("menu")

    # --- the resident's actions

    def act(self, action: str, value: Any = None) -> None:
        with self._lock:
            self.last_activity = self.clock()
            handler = getattr(self, f"_on_{self.screen}", None)
            if action == "lang":
                self.lang = "en" if value == "en" else "ja"
            elif action == "cancel" and self.screen not in ("welcome", "out_of_service", *WAITING):
                self._end("cancelled", "payment_cancelled" if self.screen == "payment" else None)
            elif action == "ok" and self.screen in ("error", "cancelled", "locked"):
                self._end("welcome")
            elif handler is not None:
                handler(action, value)

    def _on_menu(self, action: str, value: Any) -> None:
        if action != "covid-certificate":
            return
        self._set("reading")  # asking the card is I/O: never under the lock
        self._background("tries", self._read_tries)

    def _read_tries(self, t: Transaction, gen: int) -> None:
        app = t.app
        try:
            if app is None:  # the visit ended before this job began (anything else is a bug)
                raise KioskError(Code.INTERNAL_ERROR)
            tries = app.pin_tries_left()  # spends nothing
        except (CardError, KioskError) as exc:
            return self._fail(gen, t, exc)
        with self._lock:
            if gen != self._gen:
                return
            t.tries = tries
            # a locked PIN gets no keypad at all (M30)
            self._set("locked" if tries == 0 else "pin")

    def _on_pin(self, action: str, value: Any) -> None:
        if action != "pin" or not pin_is_well_formed(value):
            return  # the keypad sends exactly 4 digits; anything else is never sent to the card
        self._set("reading")
        self._background("read", lambda t, gen: self._read_card(t, gen, value))

    def _read_card(self, t: Transaction, gen: int, pin: str) -> None:
        app, session = t.app, t.session
        try:
            if app is None or session is None:  # the visit ended before this job began
                raise KioskError(Code.INTERNAL_ERROR)
            app.verify_pin(pin)
            card = app.read_card_files(base64.b64decode(session["challenge"]))
            self.center.submit_card(session["session_id"], card)
        except PinError as exc:
            with self._lock:
                if gen != self._gen:
                    return
                t.tries = exc.tries_left
                if exc.code is ErrorCode.PIN_BLOCKED:
                    return self._set("locked")
                return self._set(
                    "pin",
                    {**messages.error_text("wrong_pin", tries=exc.tries_left), "code": "wrong_pin"},
                )
        except (CardError, KioskError) as exc:
            return self._fail(gen, t, exc)
        with self._lock:
            if gen != self._gen:
                return
            if self.card_present:
                self._set("remove_card")
            else:
                self._release_card(t)
                self._set("municipality")

    def _on_municipality(self, action: str, value: Any) -> None:
        t = self._txn
        allowed = {m.code for m in t.municipalities}
        if action != "municipality" or value not in allowed:
            return
        self._set("checking")
        self._background("check", lambda t, gen: self._check(t, gen, value))

    def _check(self, t: Transaction, gen: int, municipality: str) -> None:
        """Asks the center (and VRS behind it) which certificates this municipality can issue."""
        try:
            if t.session is None:  # the visit ended before this job began
                raise KioskError(Code.INTERNAL_ERROR)
            eligibility = self.center.eligibility(t.session["session_id"], municipality)
        except KioskError as exc:
            with self._lock:
                if gen == self._gen and exc.code in TRY_ANOTHER_MUNICIPALITY:
                    msg = {**messages.error_text(exc.code), "code": exc.code}
                    return self._set("municipality", msg)
            return self._fail(gen, t, exc)
        with self._lock:
            if gen != self._gen:
                return
            t.eligibility, t.municipality = eligibility, municipality
            self._set("type")

    def _on_type(self, action: str, value: Any) -> None:
        t = self._txn
        if action == "domestic" or (
            action == "overseas" and t.eligibility and t.eligibility.get("overseas")
        ):
            t.kind = "domestic" if action == "domestic" else "overseas"
            self._set("copies")
        elif action == "back":
            self._set("municipality")

    def _on_copies(self, action: str, value: Any) -> None:
        t = self._txn
        if action == "copies-more":
            t.copies = min(MAX_COPIES, t.copies + 1)
        elif action == "copies-fewer":
            t.copies = max(1, t.copies - 1)
        elif action == "next":
            self._set("confirm")
        elif action == "back":
            self._set("type")

    def _on_confirm(self, action: str, value: Any) -> None:
        if action == "next":
            self._set("payment")
        elif action == "back":
            self._set("copies")

    def _on_payment(self, action: str, value: Any) -> None:
        if action != "pay":
            return
        self._set("printing")
        self._background("issue", self._issue_and_print)

    def _issue_and_print(self, t: Transaction, gen: int) -> None:
        # the amount is held when the resident pays and captured only after the last page:
        # whatever fails before (the center, VRS, the printer, a bug), the hold is voided
        try:
            if t.session is None or not t.municipality or not t.kind:  # the visit ended
                raise KioskError(Code.INTERNAL_ERROR)
            ref = self.terminal.authorise(self._total(t))
            with self._lock:
                t.payment = ref  # from here, every end of the visit voids it (_discard)
                if gen != self._gen:
                    return self._discard(t)
            issued = self.center.issue(t.session["session_id"], t.municipality, t.kind, t.copies)
        except KioskError as exc:
            return self._fail(gen, t, exc)
        t.session = None  # the center closed it with the issuance
        # an answer the kiosk cannot read is not the printer's fault: internal_error (the job)
        pages = [printable_from_json(cert["printable"]) for cert in issued]
        try:
            for page in pages:
                self.printer.print_page(page)
        except Exception as exc:  # a printer (CUPS, a driver) fails in ways of its own
            if not isinstance(exc, KioskError):
                log.error("print failed: %s", type(exc).__name__)
            code = exc.code if isinstance(exc, KioskError) else "print_failed"
            # Voided even when some copies came out (1 of 3): the resident paid for all of
            # them, a printer that jammed cannot be trusted to say which page it finished,
            # and the screen says "not charged" after every failure. Nothing, never a guess.
            with self._lock:
                if gen == self._gen:
                    self._end("error", code)
            return
        with self._lock:
            if gen != self._gen:
                return
            t.payment = None
            self.terminal.capture(ref)  # every page is printed
            t.sheets = len(issued)
            t.charged = self._total(t)
            self._set("done")

    def _on_done(self, action: str, value: Any) -> None:
        if action == "taken":
            self._next_resident()

    def _next_resident(self) -> None:
        """The certificate is taken (or given up on): the next resident starts, in Japanese,
        with the card they may have placed meanwhile (the watcher saw it come on this screen,
        so it would otherwise lie there unused until lifted and placed again)."""
        self.lang = "ja"
        self._end("welcome")
        if self.card_present and self.screen == "welcome":
            self._start()

    # --- time

    def tick(self) -> None:
        with self._lock:
            idle = self.clock() - self.last_activity
            if self.screen in ("done", "remove_card"):
                # the reminders repeat; only after take_timeout does the kiosk wipe anyway
                if idle >= self.take_timeout:
                    if self.screen == "done":
                        self._next_resident()
                    else:
                        self._end("cancelled", "timeout")
                return
            if self.screen in ("welcome", "out_of_service", *WAITING):
                return
            if idle >= self.idle_timeout:
                if self.screen in ("error", "cancelled", "locked"):
                    self.lang = "ja"
                    self._end("welcome")
                else:
                    self._end("cancelled", "timeout")

    def _background(self, name: str, job: Callable[[Transaction, int], None]) -> None:
        """Runs ``job(transaction, generation)`` off the lock, for the visit under way now."""
        t, gen = self._txn, self._gen

        def run() -> None:
            try:
                job(t, gen)
            except Exception as exc:
                # a fault nobody foresaw must not leave "please wait" up for ever. The type
                # only: an exception's text may hold what the card or the center sent (M06)
                log.error("job=%s failed: %s", name, type(exc).__name__)
                with self._lock:
                    if gen != self._gen:
                        return self._discard(t)
                    self._end("error", "internal_error")

        threading.Thread(target=run, name=f"kiosk-job-{name}", daemon=True).start()


class CardWatcher:
    """Watches the reader through pcscd and tells the flow when a card comes or goes."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="card-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def _run(self) -> None:
        present, available = False, True
        while not self._stop.is_set():
            try:
                changed = wait_for_card_state(self.flow.reader, not present, 0.25)
            except CardError:
                # the reader was unplugged or pcscd is away: say so once, look again shortly
                if available:
                    available, present = False, False
                    self.flow.reader_event(False)
                self._stop.wait(0.5)
            else:
                if not available:
                    available = True
                    self.flow.reader_event(True)
                    if not changed:
                        self.flow.card_event(False)  # no card came back with the reader
                if changed:
                    present = not present
                    self.flow.card_event(present)
            self.flow.tick()
