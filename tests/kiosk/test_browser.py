"""The resident's flow in a real browser, through pcscd + vpcd, the center and VRS over TLS."""

from __future__ import annotations

import contextlib
import io
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from PIL import Image
from pyzbar import pyzbar

from card_reader import CardWire
from certs import KeySets, from_numeric, verify
from certs.vds import parse_seal
from issuance_center.vrs_client import VrsClient
from kiosk import runtime
from tests.helpers import CARD_REQUEST_FIELDS

from ..card_reader.test_pcsc import inserted, pcscd  # noqa: F401 - skips without pcscd
from .conftest import KioskUnderTest, System, Visit, paid, refunded

pytestmark = [pytest.mark.pcsc, pytest.mark.usefixtures("nothing_personal_written")]
NIIHAMA, MATSUYAMA, SAIJO = "382051", "382019", "382060"


def screen(page: Any, name: str, timeout: float = 15000) -> None:
    page.wait_for_selector(f"main[data-screen={name}]", timeout=timeout)


def enter_pin(page: Any, pin: str) -> None:
    screen(page, "pin")
    for d in pin:
        page.click(f"[data-action=digit][data-value='{d}']")
    page.click("[data-action=pin-enter]")


def through_pin(page: Any, pin: str) -> None:
    screen(page, "menu")
    page.click("[data-action=covid-certificate]")
    enter_pin(page, pin)


def choose_and_pay(page: Any, kind: str, copies: int = 1) -> None:
    screen(page, "municipality")
    page.click(f"[data-action=municipality][data-value='{NIIHAMA}']")
    screen(page, "type")
    page.click(f"[data-action={kind}]")
    screen(page, "copies")
    for _ in range(copies - 1):
        page.click("[data-action=copies-more]")
    page.click("[data-action=next]")
    screen(page, "confirm")
    page.click("[data-action=next]")
    screen(page, "payment")
    page.click("[data-action=pay]")


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def forgotten(system: System, visit: Visit, sessions: int = 1) -> None:
    """The center's own store no longer holds the session(s) the visit opened."""
    store = system.center.extensions["center"].sessions
    opened = visit.sessions()
    assert len(opened) == sessions, opened
    assert eventually(lambda: not any(sid in store for sid in opened)), "the center kept it"


def printed_codes(kiosk: KioskUnderTest) -> list[list[str]]:
    """Each tray page's QR values, read by zbar from the page image the kiosk shows as printed."""
    pages = []
    for i in range(len(kiosk.printer.tray)):
        png = requests.get(f"{kiosk.url}/api/tray/{i}.png", timeout=10).content
        pages.append([s.data.decode() for s in pyzbar.decode(Image.open(io.BytesIO(png)))])
    return pages


def printed_cards(kiosk: KioskUnderTest) -> list[str]:
    """Each tray page's SMART Health Card (an overseas page also carries the ICAO seal)."""
    values = []
    for codes in printed_codes(kiosk):
        (shc,) = [c for c in codes if c.startswith("shc:/")]
        values.append(from_numeric(shc))
    return values


def check_printed(system: System, kiosk: KioskUnderTest, n: int) -> list[dict[str, Any]]:
    keys = KeySets()
    keys.add_jwks(system.vrs_jwks(), "VRS")
    out = []
    jwss = printed_cards(kiosk)
    assert len(jwss) == n
    for jws in jwss:
        result = verify(jws, keys)
        assert result.valid, result.problems
        out.append(result.payload)
    return out


@pytest.mark.measure("M01")
@pytest.mark.measure("M04")
def test_domestic_issuance(system: System, kiosk: KioskUnderTest, page: Any) -> None:
    holder = system.people[1]  # Niihama, 2 doses, no passport data
    screen(page, "welcome")
    visit = kiosk.visit()
    with inserted(system.card(holder)):
        through_pin(page, holder.pin)
        screen(page, "remove_card")
        assert page.is_visible("#reminder")  # M07: the card is not forgotten
    screen(page, "municipality")
    shown = page.eval_on_selector_all(
        "[data-action=municipality]", "els => els.map(e => e.dataset.value)"
    )
    assert NIIHAMA in shown and SAIJO not in shown  # only municipalities offering the service
    choose_and_pay(page, "domestic")
    screen(page, "done", 30000)
    assert page.get_attribute("[data-charged]", "data-charged") == "120"
    assert visit.payments() == paid(120)
    forgotten(system, visit)  # the center closed the session with the issuance
    (payload,) = check_printed(system, kiosk, 1)
    patient = payload["vc"]["credentialSubject"]["fhirBundle"]["entry"][0]["resource"]
    assert patient["birthDate"] == holder.birth.isoformat()
    page.click("[data-action=taken]")
    screen(page, "welcome")
    assert eventually(visit.dropped)


def test_overseas_issuance(system: System, kiosk: KioskUnderTest, page: Any) -> None:
    holder = system.people[0]  # Niihama, 3 doses, passport data
    visit = kiosk.visit()
    with inserted(system.card(holder)):
        through_pin(page, holder.pin)
        screen(page, "remove_card")
    screen(page, "municipality")
    page.click(f"[data-action=municipality][data-value='{NIIHAMA}']")
    screen(page, "type")
    assert page.is_visible("[data-action=overseas]")
    page.click("[data-action=back]")
    choose_and_pay(page, "overseas", copies=2)
    screen(page, "done", 30000)
    assert page.get_attribute("[data-charged]", "data-charged") == "480"
    assert visit.payments() == paid(480)  # 2 × (overseas + domestic)
    payloads = check_printed(system, kiosk, 4)
    names = [
        len(p["vc"]["credentialSubject"]["fhirBundle"]["entry"][0]["resource"]["name"])
        for p in payloads
    ]
    assert sorted(names) == [1, 1, 2, 2]  # the overseas ones carry the romanized name
    # and the overseas pages the ICAO seal beside it, naming the printed certificate
    seals = [parse_seal(c) for codes in printed_codes(kiosk) for c in codes if c.startswith("{")]
    assert len(seals) == 2 and all(s["data"]["hdr"]["t"] == "icao.vacc" for s in seals)


def test_overseas_is_not_offered_without_passport_data(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    holder = system.people[1]
    with inserted(system.card(holder)):
        through_pin(page, holder.pin)
        screen(page, "remove_card")
    screen(page, "municipality")
    page.click(f"[data-action=municipality][data-value='{NIIHAMA}']")
    screen(page, "type")
    assert page.locator("[data-action=overseas]").count() == 0


@pytest.mark.measure("M30")
def test_wrong_pin_then_success(system: System, kiosk: KioskUnderTest, page: Any) -> None:
    holder = system.people[1]
    with inserted(system.card(holder)):
        through_pin(page, "0000" if holder.pin != "0000" else "1111")
        page.wait_for_selector("main[data-screen=pin][data-code=wrong_pin]")
        assert page.get_attribute("[data-tries]", "data-tries") == "2"
        assert "残り2回" in page.inner_text("#message")
        enter_pin(page, holder.pin)
        screen(page, "remove_card")


@pytest.mark.measure("M30")
@pytest.mark.security("A16")
def test_lock_after_three_wrong_pins(
    system: System, kiosk: KioskUnderTest, page: Any, tmp_path: Any, cases: Any
) -> None:
    """PIN guessing through the kiosk: the card's counter decides, no try is offered after it."""
    log = system.root / "logs" / "kiosk.log"
    logged_before = log.read_text(encoding="utf-8")
    holder = system.people[1]
    wrong = "0000" if holder.pin != "0000" else "1111"
    state = tmp_path / "card.json"
    with inserted(system.card(holder, state=state)):
        through_pin(page, wrong)
        for left in ("2", "1"):
            page.wait_for_selector(f"[data-tries='{left}']")
            if left == "1":
                break
            enter_pin(page, wrong)
        assert page.is_visible("[data-last-try]")  # warned before the try that locks it
        enter_pin(page, wrong)
        screen(page, "locked")
        assert page.locator("[data-action=digit]").count() == 0  # no further try offered
        assert "窓口" in page.inner_text("main")
    page.click("[data-action=ok]")
    screen(page, "welcome")
    # the same card again: straight to the municipal-window screen, no keypad
    with inserted(system.card(holder, state=state)):
        screen(page, "menu")
        page.click("[data-action=covid-certificate]")
        screen(page, "locked")
        assert page.locator("[data-action=digit]").count() == 0
        assert page.is_visible("#reminder")  # and do not forget the card
    cases(4)  # three guesses, then the locked card presented again
    # the refusal is logged (twice: after the third try, and for the locked card), nothing personal
    logged = log.read_text(encoding="utf-8")[len(logged_before) :]
    assert logged.count("screen=locked") == 2
    for secret in (*holder.secrets(), f"pin={wrong}", f"pin={holder.pin}"):
        assert secret not in logged


@pytest.mark.security("F01")  # between APDUs; at each APDU: test_faults.py
def test_card_removed_mid_flow_cancels(system: System, kiosk: KioskUnderTest, page: Any) -> None:
    holder = system.people[1]
    with inserted(system.card(holder)):
        screen(page, "menu")
        page.click("[data-action=covid-certificate]")
        screen(page, "pin")
        visit = kiosk.visit()
    page.wait_for_selector("main[data-screen=cancelled][data-code=card_removed]")
    forgotten(system, visit)
    assert eventually(visit.dropped) and visit.payments() == []
    page.click("[data-action=ok]")
    screen(page, "welcome")


@pytest.mark.security("F05")
def test_vrs_down_is_clear_and_free(system: System, kiosk: KioskUnderTest, page: Any) -> None:
    holder = system.people[1]
    with inserted(system.card(holder)):
        through_pin(page, holder.pin)
        screen(page, "remove_card")
    center = system.center.extensions["center"]
    real = center.vrs
    screen(page, "municipality")
    visit = kiosk.visit()
    page.click(f"[data-action=municipality][data-value='{NIIHAMA}']")
    screen(page, "type")
    page.click("[data-action=domestic]")
    screen(page, "copies")
    page.click("[data-action=next]")
    screen(page, "confirm")
    page.click("[data-action=next]")
    screen(page, "payment")
    # VRS goes away before the issuance: the center's link now leads nowhere
    cert, key = system.lgwan.issue("center-client", "issuance-center")
    center.vrs = VrsClient(
        "https://127.0.0.1:9", client_cert=(cert, key), ca_file=system.lgwan.cert_path
    )
    try:
        page.click("[data-action=pay]")
        page.wait_for_selector("main[data-screen=error][data-code=vrs_unavailable]", timeout=30000)
    finally:
        center.vrs = real
    assert "料金はかかりません" in page.inner_text("#message")
    assert visit.payments() == refunded(120)
    forgotten(system, visit)
    assert kiosk.printer.tray == []


@pytest.mark.security("F10")
def test_print_failure_charges_nothing(system: System, kiosk: KioskUnderTest, page: Any) -> None:
    holder = system.people[1]
    with inserted(system.card(holder)):
        through_pin(page, holder.pin)
        screen(page, "remove_card")
    kiosk.printer.fail_next = True
    screen(page, "municipality")
    visit = kiosk.visit()
    choose_and_pay(page, "domestic")
    page.wait_for_selector("main[data-screen=error][data-code=print_failed]", timeout=30000)
    message = kiosk.flow.state().message
    assert message is not None and "not charged" in message.en
    assert visit.payments() == refunded(120)
    forgotten(system, visit)  # closed by the issuance itself


def test_idle_timeout_returns_to_the_start(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    kiosk.flow.idle_timeout = 1.5
    holder = system.people[1]
    with inserted(system.card(holder)):
        screen(page, "menu")
        visit = kiosk.visit()
        page.wait_for_selector("main[data-screen=cancelled][data-code=timeout]", timeout=10000)
    screen(page, "welcome", 10000)
    forgotten(system, visit)
    assert eventually(visit.dropped)


@pytest.mark.measure("M07")
def test_reminders_repeat_until_the_certificate_is_taken(
    system: System, kiosk: KioskUnderTest, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kiosk import flow as flow_module

    monkeypatch.setattr(flow_module, "REMINDER_EVERY", 0.7)
    holder = system.people[1]
    with inserted(system.card(holder)):
        through_pin(page, holder.pin)
        screen(page, "remove_card")
        # the kiosk does not go on while the card is in the reader; it says so again and again
        time.sleep(1.6)
        assert page.inner_text("[data-voice]") == "カードのお取り忘れにご注意ください"
        assert page.get_attribute("main", "data-screen") == "remove_card"
    choose_and_pay(page, "domestic")
    screen(page, "done", 30000)
    first = page.get_attribute("main", "data-screen")
    time.sleep(1.6)
    assert first == "done" and page.is_visible("#reminder")
    assert page.inner_text("[data-voice]") == "証明書のお取り忘れにご注意ください"
    page.click("[data-action=taken]")
    screen(page, "welcome")
    assert not page.is_visible("#reminder")


def test_english_screens(system: System, kiosk: KioskUnderTest, page: Any) -> None:
    page.click("[data-action=lang]")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert "Place your My Number Card" in page.inner_text("main h1")
    page.click("[data-action=lang]")
    page.wait_for_function("document.documentElement.lang === 'ja'")


def test_a_replayed_card_answer_is_refused(system: System, kiosk: KioskUnderTest) -> None:
    """Files and a presence signature read for one session do not open another (M03 beside M05)."""
    import base64

    from card_reader import PcscTransport, TextApplication

    cert = tuple(map(str, system.kiosk_ca.issue("kiosk-K0001", "K0001")))
    s = requests.Session()
    s.trust_env = False
    s.cert, s.verify = cert, str(system.kiosk_ca.cert_path)
    first = s.post(system.center_url + "/v1/sessions", timeout=10).json()
    second = s.post(system.center_url + "/v1/sessions", timeout=10).json()
    holder = system.people[1]
    watcher = runtime(kiosk.app).watcher
    assert watcher is not None
    watcher.stop()  # this test talks to the card itself
    with inserted(system.card(holder)), PcscTransport("Virtual PCD 00 01") as t:
        app = TextApplication(t)
        app.select()
        app.verify_pin(holder.pin)
        files = app.read_card_files(base64.b64decode(first["challenge"]))
    body = CardWire.of(files).model_dump()
    resp = s.post(
        f"{system.center_url}/v1/sessions/{second['session_id']}/card", json=body, timeout=10
    )
    assert (resp.status_code, resp.json()["error"]) == (422, "card_replayed")
    ok = s.post(
        f"{system.center_url}/v1/sessions/{first['session_id']}/card", json=body, timeout=10
    )
    assert ok.status_code == 200


@pytest.mark.measure("M08")
@pytest.mark.measure("M02")
def test_the_kiosk_sends_only_the_chips_data_and_the_choices(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    sent: list[tuple[str, str, Any]] = []
    real = kiosk.flow.center._call

    def spy(method: str, path: str, body: Any = None) -> Any:
        sent.append((method, path.split("/")[-1], body))
        return real(method, path, body)

    kiosk.flow.center._call = spy
    holder = system.people[1]
    card = system.card(holder)
    with inserted(card):
        through_pin(page, holder.pin)
        screen(page, "remove_card")
    screen(page, "municipality")  # the watcher saw the card go
    # a choice the screen never offered, forced through the kiosk's own API, goes nowhere
    requests.post(
        f"{kiosk.url}/api/action", json={"action": "municipality", "value": SAIJO}, timeout=5
    )
    assert kiosk.flow.screen == "municipality"
    choose_and_pay(page, "domestic")
    screen(page, "done", 30000)
    bodies = {name: body for _m, name, body in sent if body is not None}
    assert set(bodies["card"]) == CARD_REQUEST_FIELDS
    import base64

    for fid, name in ((1, "ef0001"), (2, "ef0002"), (3, "ef0003"), (4, "ef0004"), (7, "ef0007")):
        chip = card._apps[bytes.fromhex("D3921000310001010408")].efs[fid].data
        assert (
            base64.b64decode(bodies["card"][name])
            == chip[: len(base64.b64decode(bodies["card"][name]))]
        )
    assert bodies["eligibility"] == {"municipality_code": NIIHAMA}
    assert bodies["certificates"] == {
        "municipality_code": NIIHAMA,
        "certificate_type": "domestic",
        "copies": 1,
    }
    assert [name for _m, name, _b in sent] == ["sessions", "card", "eligibility", "certificates"]


def fits_without_free_input(page: Any) -> None:
    """What a resident at a 1280×800 touch screen gets: all of it visible, nothing to type into."""
    box = page.evaluate(
        """() => {
          const m = document.querySelector('main');
          return {scroll: m.scrollHeight - m.clientHeight,
                  wide: document.documentElement.scrollWidth - innerWidth,
                  typed: document.querySelectorAll(
                    'input, textarea, select, [contenteditable]:not([contenteditable=false])').length,
                  lang: document.querySelectorAll('[data-action=lang]').length};
        }"""
    )
    assert box == {"scroll": 0, "wide": 0, "typed": 0, "lang": 1}, page.get_attribute(
        "main", "data-screen"
    )


@pytest.mark.measure("M02")
def test_every_screen_fits_the_kiosk_and_offers_no_free_input(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    holder = system.people[0]
    seen = []

    def check(name: str) -> None:
        screen(page, name, 30000)
        fits_without_free_input(page)
        seen.append(name)

    check("welcome")
    with inserted(system.card(holder)):
        check("menu")
        page.click("[data-action=covid-certificate]")
        check("pin")
        for d in "0000" if holder.pin != "0000" else "1111":
            page.click(f"[data-action=digit][data-value='{d}']")
        page.click("[data-action=pin-enter]")
        page.wait_for_selector("main[data-screen=pin][data-code=wrong_pin]")
        fits_without_free_input(page)
        enter_pin(page, holder.pin)
        check("remove_card")
    check("municipality")
    page.click(f"[data-action=municipality][data-value='{NIIHAMA}']")
    check("type")
    page.click("[data-action=overseas]")
    check("copies")
    page.click("[data-action=copies-more]")  # 2 × (overseas + domestic): four pages in the tray
    page.click("[data-action=next]")
    check("confirm")
    page.click("[data-action=next]")
    check("payment")
    page.click("[data-action=pay]")
    check("done")
    page.wait_for_function("[...document.querySelectorAll('.tray img')].every(i => i.complete)")
    fits_without_free_input(page)
    page.click("[data-action=lang]")  # the longer English words fit too
    page.wait_for_function("document.documentElement.lang === 'en'")
    fits_without_free_input(page)
    page.click("[data-action=taken]")
    check("welcome")
    assert page.evaluate("document.documentElement.lang") == "ja"  # the next resident: Japanese
    assert seen == [
        "welcome",
        "menu",
        "pin",
        "remove_card",
        "municipality",
        "type",
        "copies",
        "confirm",
        "payment",
        "done",
        "welcome",
    ]


def test_a_municipality_without_the_record_lets_the_resident_choose_again(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    holder = system.people[1]  # vaccinated in Niihama only
    with inserted(system.card(holder)):
        through_pin(page, holder.pin)
        screen(page, "remove_card")
    screen(page, "municipality")
    page.click(f"[data-action=municipality][data-value='{MATSUYAMA}']")
    page.wait_for_selector("main[data-screen=municipality][data-code=no_record]")
    assert "接種記録がありません" in page.inner_text("#message")
    page.click(f"[data-action=municipality][data-value='{NIIHAMA}']")
    screen(page, "type")
    assert not page.is_visible("#message")


@pytest.mark.measure("M06")
def test_an_untaken_certificate_is_wiped_from_the_kiosk_after_the_take_timeout(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    holder = system.people[1]
    with inserted(system.card(holder)):
        through_pin(page, holder.pin)
        screen(page, "remove_card")
    screen(page, "municipality")
    visit = kiosk.visit()
    choose_and_pay(page, "domestic")
    screen(page, "done", 30000)
    assert requests.get(f"{kiosk.url}/api/tray/0.png", timeout=10).status_code == 200
    kiosk.flow.take_timeout = 1.0  # the resident walked away without pressing "taken"
    screen(page, "welcome", 10000)
    assert kiosk.printer.tray == []
    assert requests.get(f"{kiosk.url}/api/tray/0.png", timeout=10).status_code == 404
    assert eventually(visit.dropped)
    assert visit.payments() == paid(120)  # the wipe takes nothing back: it was all printed


def certificate_ids(system: System) -> list[str]:
    with contextlib.closing(sqlite3.connect(system.root / "vrs" / "vrs.sqlite3")) as db:
        return [r[0] for r in db.execute("SELECT certificate_id FROM certificates")]


@pytest.mark.measure("M06")
def test_nothing_personal_in_what_the_kiosk_and_center_wrote(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    """A visit with a wrong PIN and a certificate; then every file under the kiosk's and the
    center's folders and their logs (the fixture ``nothing_personal_written`` reads them)."""
    log = system.root / "logs" / "kiosk.log"
    logged_before, issued_before = log.stat().st_size, len(certificate_ids(system))
    holder = system.people[0]
    with inserted(system.card(holder)):
        through_pin(page, "0000" if holder.pin != "0000" else "1111")
        page.wait_for_selector("main[data-screen=pin][data-code=wrong_pin]")
        enter_pin(page, holder.pin)
        screen(page, "remove_card")
    choose_and_pay(page, "overseas")
    screen(page, "done", 30000)
    page.click("[data-action=taken]")
    screen(page, "welcome")
    logged = log.read_bytes()[logged_before:]
    assert b"code=wrong_pin" in logged and b"screen=done" in logged  # the visit was logged
    # its two certificates (overseas and domestic) are among the IDs the fixture looks for
    assert len(certificate_ids(system)) == issued_before + 2
