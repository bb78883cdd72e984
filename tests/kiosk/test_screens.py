"""What a first-time resident sees and can do on the kiosk's screens, in chromium (issue 12, 1–6).

Each test walks the real flow (pcscd + vpcd, the center and VRS over TLS) and checks what a
resident would notice: what is on the screen, whether it is cut off, what a button does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from ..card_reader.test_pcsc import inserted, pcscd  # noqa: F401 - skips without pcscd
from .conftest import KioskUnderTest, System

pytestmark = pytest.mark.pcsc
NIIHAMA, MATSUYAMA, SAIJO = "382051", "382019", "382060"
SIZES = [(1280, 800), (1024, 768)]  # the kiosk's screen, and the smaller one it must fit too
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def screen(page: Any, name: str, timeout: float = 15000) -> None:
    page.wait_for_selector(f"main[data-screen={name}]", timeout=timeout)


def set_lang(page: Any, lang: str) -> None:
    if page.evaluate("document.documentElement.lang") != lang:
        page.click("[data-action=lang]")
        page.wait_for_function(f"document.documentElement.lang === '{lang}'")


def through_pin(page: Any, pin: str) -> None:
    screen(page, "menu")
    page.click("[data-action=covid-certificate]")
    screen(page, "pin")
    for d in pin:
        page.click(f"[data-action=digit][data-value='{d}']")
    page.click("[data-action=pin-enter]")


def to_municipalities(system: System, page: Any, who: int) -> None:
    """Resident ``who`` of the test data has been read and has taken the card back."""
    holder = system.people[who]
    with inserted(system.card(holder)):
        through_pin(page, holder.pin)
        screen(page, "remove_card")
    screen(page, "municipality")


def to_copies(page: Any, kind: str) -> None:
    page.click(f"[data-action=municipality][data-value='{NIIHAMA}']")
    screen(page, "type")
    page.click(f"[data-action={kind}]")
    screen(page, "copies")


def pay(page: Any) -> None:
    page.click("[data-action=next]")
    screen(page, "confirm")
    page.click("[data-action=next]")
    screen(page, "payment")
    page.click("[data-action=pay]")
    screen(page, "done", 30000)


def settle(page: Any) -> None:
    """Two frames: what a resize or a new state changes has been laid out and drawn."""
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def fully_shown(page: Any, selector: str) -> list[str]:
    """The elements of ``selector`` that a resident cannot see whole, and why (none: all fine)."""
    return page.eval_on_selector_all(
        selector,
        """els => els.flatMap((e, i) => {
          const r = e.getBoundingClientRect();
          const bad = [];
          if (r.width < 40 || r.height < 40) bad.push('tiny');
          if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight)
            bad.push('outside the screen');
          // not hidden under something else, nor clipped by a scrolling box around it
          const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
          if (hit !== e && !e.contains(hit)) bad.push('covered');
          for (let p = e.parentElement; p; p = p.parentElement) {
            const q = p.getBoundingClientRect(), s = getComputedStyle(p);
            if (s.overflow !== 'visible' && (r.right > q.right + 1 || r.bottom > q.bottom + 1))
              bad.push('clipped by ' + p.tagName);
          }
          if (e.tagName === 'IMG' && !(e.complete && e.naturalWidth)) bad.push('not loaded');
          return bad.map((b) => `#${i + 1}: ${b}`);
        })""",
    )


def lines_of(page: Any, selector: str) -> int:
    """How many lines the text of ``selector`` takes on the screen."""
    return page.eval_on_selector(
        selector,
        """e => { const r = document.createRange(); r.selectNodeContents(e);
                  return new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size; }""",
    )


# --- 1. the final screen shows every printed page, and says how many


def test_the_final_screen_shows_all_six_pages_of_three_overseas_copies(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    to_municipalities(system, page, 0)  # Niihama, passport data: overseas + domestic
    to_copies(page, "overseas")
    page.click("[data-action=copies-more]")
    page.click("[data-action=copies-more]")
    page.wait_for_selector("[data-copies='3']")
    pay(page)
    assert len(kiosk.printer.tray) == 6
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        for lang, count in (("ja", "6枚"), ("en", "6 pages")):
            set_lang(page, lang)
            page.wait_for_function("[...document.querySelectorAll('.tray img')].length === 6")
            page.wait_for_function(
                "[...document.querySelectorAll('.tray img')].every(i => i.complete)"
            )
            settle(page)
            where = f"{width}x{height} {lang}"
            assert fully_shown(page, ".tray img") == [], where
            assert count in page.inner_text("main"), where
            assert fully_shown(page, "[data-action=taken]") == [], where
            # 受け取りました on one line, as a button's word should be (item 6)
            assert lines_of(page, "[data-action=taken]") == 1, where


# --- 2. a card left in the reader


def test_a_card_placed_before_taken_starts_the_next_visit(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    to_municipalities(system, page, 1)
    to_copies(page, "domestic")
    nxt = system.people[5]
    with inserted(system.card(nxt)):  # the next resident puts their card down early
        pay(page)
        page.click("[data-action=taken]")
        # straight into the next visit with that card: no "place your card" while it lies there
        screen(page, "menu")
        assert page.inner_text("main h1") == "発行する証明書を選んでください"
        assert kiosk.flow.state().card_present is True
        page.click("[data-action=covid-certificate]")
        screen(page, "pin")
        assert page.get_attribute("[data-tries]", "data-tries") == "3"  # the new card answers


def test_a_card_left_after_ok_is_not_asked_for_again(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    holder = system.people[1]
    wrong = "0000" if holder.pin != "0000" else "1111"
    with inserted(system.card(holder, tries_left=1)):
        through_pin(page, wrong)  # the last try: the PIN locks
        screen(page, "locked")
        page.click("[data-action=ok]")
        screen(page, "welcome")
        words = {}
        for lang in ("en", "ja"):
            set_lang(page, lang)
            words[lang] = page.inner_text("main")
        assert "place your" not in words["en"].lower()
        assert "置いてください" not in words["ja"]
        # it says plainly to take the card, and how to use it again
        assert "take it" in words["en"].lower() and "lift it and place it again" in words["en"]
        assert "お取りください" in words["ja"] and "置き直して" in words["ja"]
    page.wait_for_function("!document.querySelector('#reminder:not([hidden])')")
    assert page.inner_text("main h1") == "マイナンバーカードを読み取り機に置いてください"


# --- 3. a municipality that does not offer the service


@pytest.mark.measure("M04")
def test_a_municipality_without_the_service_is_shown_as_such(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    to_municipalities(system, page, 6)  # a Saijo resident
    saijo = page.locator(f"[data-not-offering='{SAIJO}']")
    assert saijo.is_visible() and saijo.is_disabled()
    assert "西条市" in saijo.inner_text()
    text = saijo.inner_text()
    assert "コンビニ交付" in text and "西条市の窓口" in text
    set_lang(page, "en")
    text = saijo.inner_text()
    assert "Saijo City" in text and "convenience" in text and "Saijo City office" in text
    assert page.locator("[data-action=municipality]").count() == 3  # those that can be chosen
    saijo.click(force=True)  # a press on it does nothing
    time.sleep(0.5)
    assert page.get_attribute("main", "data-screen") == "municipality"


# --- 4. no record, no doses


def test_no_doses_and_no_record_say_different_things(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    to_municipalities(system, page, 2)  # on Niihama's ledger, no dose recorded
    said: dict[str, dict[str, str]] = {}
    for code, where in (("no_record", MATSUYAMA), ("no_doses", NIIHAMA)):
        page.click(f"[data-action=municipality][data-value='{where}']")
        page.wait_for_selector(f"main[data-screen=municipality][data-code={code}]")
        said[code] = {}
        for lang in ("ja", "en"):
            set_lang(page, lang)
            said[code][lang] = page.inner_text("#message")
        set_lang(page, "ja")
    assert said["no_record"]["ja"] != said["no_doses"]["ja"]
    assert said["no_record"]["en"] != said["no_doses"]["en"]
    assert "窓口" in said["no_doses"]["ja"] and "office" in said["no_doses"]["en"]


# --- 5. the copies screen


def looks(page: Any, selector: str) -> tuple[str, str]:
    return page.eval_on_selector(
        selector, "e => [getComputedStyle(e).color, getComputedStyle(e).opacity]"
    )


def test_the_copies_screen_shows_its_limits_and_what_a_copy_costs(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    to_municipalities(system, page, 0)
    to_copies(page, "domestic")
    fewer, more = "[data-action=copies-fewer]", "[data-action=copies-more]"
    assert page.is_disabled(fewer) and page.is_enabled(more)
    assert looks(page, fewer) != looks(page, more)  # and it looks it
    assert "最大5部" in page.inner_text("main")
    assert "1部120円" in page.inner_text("main")
    for _ in range(4):
        page.click(more)
    page.wait_for_selector("[data-copies='5']")
    assert page.is_disabled(more) and page.is_enabled(fewer)
    assert looks(page, fewer) != looks(page, more)
    page.click("[data-action=back]")
    screen(page, "type")
    page.click("[data-action=overseas]")
    screen(page, "copies")
    for _ in range(4):
        page.click(fewer)
    page.wait_for_selector("[data-copies='1']")
    text = page.inner_text("main")
    assert "1部240円" in text and "120円" not in text
    assert page.inner_text(".fee") == "料金: 240円"  # what one copy costs is what it costs
    set_lang(page, "en")
    text = page.inner_text("main")
    assert "¥240 a copy" in text and "¥120" not in text and "up to 5" in text


# --- 6. small points


@pytest.fixture
def console(page: Any) -> Iterator[list[str]]:
    """Every console error and uncaught exception of the page, from its load on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.reload()
    yield errors


def test_a_whole_visit_logs_no_console_error(
    system: System, kiosk: KioskUnderTest, page: Any, console: list[str]
) -> None:
    screen(page, "welcome")
    to_municipalities(system, page, 1)
    to_copies(page, "domestic")
    pay(page)
    page.click("[data-action=taken]")
    screen(page, "welcome")
    page.wait_for_timeout(500)
    assert console == []
    icon = page.evaluate("fetch(document.querySelector('link[rel=icon]').href).then(r => r.status)")
    assert icon == 200


def test_a_long_voice_line_wraps_instead_of_being_cut(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    page.set_viewport_size({"width": 1024, "height": 768})
    to_municipalities(system, page, 1)
    page.click(f"[data-action=municipality][data-value='{MATSUYAMA}']")  # no record there
    page.wait_for_selector("main[data-screen=municipality][data-code=no_record]")
    for lang in ("ja", "en"):
        set_lang(page, lang)
        page.wait_for_function("document.querySelector('[data-voice]').textContent.length > 40")
        voice = page.eval_on_selector(
            "[data-voice]",
            "e => [e.scrollWidth - e.clientWidth, e.scrollHeight - e.clientHeight]",
        )
        assert voice == [0, 0], lang  # every word of it on the screen
        assert lines_of(page, "[data-voice]") > 1, lang
        assert fully_shown(page, "[data-action=municipality]") == [], lang


def test_full_width_digits_from_a_keyboard_are_pin_digits(
    system: System, kiosk: KioskUnderTest, page: Any
) -> None:
    holder = system.people[1]
    cdp = page.context.new_cdp_session(page)
    with inserted(system.card(holder)):
        screen(page, "menu")
        page.click("[data-action=covid-certificate]")
        screen(page, "pin")
        # what a keyboard in full-width mode sends (Playwright's own keyboard knows no "１")
        for d in holder.pin.translate(FULL_WIDTH):
            for kind in ("keyDown", "keyUp"):
                cdp.send("Input.dispatchKeyEvent", {"type": kind, "key": d, "text": d})
        page.wait_for_selector("[data-pin-length='4']")
        page.keyboard.press("Backspace")  # and the usual keys: corrected, half width, Enter
        page.wait_for_selector("[data-pin-length='3']")
        page.keyboard.type(holder.pin[-1])
        page.wait_for_selector("[data-pin-length='4']")
        page.keyboard.press("Enter")
        screen(page, "remove_card")
