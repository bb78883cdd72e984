"""Screenshots of the kiosk's screens for the README, from a running `kiosk-sim demo`.

.venv/bin/kiosk-sim demo &   # then:
.venv/bin/python docs/screenshots.py [--kiosk URL] [--control URL]

Each screen at the kiosk's 1280×800 (NAME.png) and at 1024×768, which it must fit
too (NAME-1024.png). The visit is the demo's first card (Niihama, passport data,
PIN 1234): overseas, three copies, so the last screen shows six printed pages.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import sync_playwright

from kiosk.browser import CHROMIUM, CHROMIUM_ARGS

OUT = Path(__file__).parent / "screenshots"
SIZES = {"": (1280, 800), "-1024": (1024, 768)}
NIIHAMA = "382051"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiosk", default="http://127.0.0.1:8080", help="the demo's kiosk screen")
    ap.add_argument("--control", default="http://127.0.0.1:8090", help="the demo's control page")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)

    def card(action: str) -> None:
        requests.post(f"{args.control}/api/{action}", timeout=30).raise_for_status()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})

        def screen(name: str, timeout: float = 20000) -> None:
            page.wait_for_selector(f"main[data-screen={name}]", timeout=timeout)

        def shot(name: str) -> None:
            for suffix, (width, height) in SIZES.items():
                page.set_viewport_size({"width": width, "height": height})
                page.wait_for_timeout(400)  # laid out again, the tray's pages fitted
                page.screenshot(path=OUT / f"{name}{suffix}.png")
            page.set_viewport_size({"width": 1280, "height": 800})

        def press(action: str, value: Any = None) -> None:
            value_part = "" if value is None else f"[data-value='{value}']"
            page.click(f"[data-action={action}]{value_part}")

        card("remove")
        page.goto(args.kiosk)
        page.wait_for_timeout(1500)
        if page.locator("[data-action=ok]").count():
            press("ok")  # a card taken out mid-flow leaves a "cancelled" screen
        screen("welcome")
        shot("1-welcome")
        card("insert/0")
        screen("menu")
        shot("2-menu")
        press("covid-certificate")
        screen("pin")
        for d in "12":
            press("digit", d)
        shot("3-pin")
        for d in "34":
            press("digit", d)
        press("pin-enter")
        screen("remove_card")
        shot("4-remove-card")
        card("remove")
        screen("municipality")
        shot("5-municipality")  # with Saijo, which does not offer the service
        press("municipality", NIIHAMA)
        screen("type")
        press("lang")
        page.wait_for_function("document.documentElement.lang === 'en'")
        shot("6-type-english")
        press("lang")
        page.wait_for_function("document.documentElement.lang === 'ja'")
        press("overseas")
        screen("copies")
        press("copies-more")
        press("copies-more")
        page.wait_for_selector("[data-copies='3']")
        shot("7-copies")
        press("next")
        screen("confirm")
        shot("8-confirm")
        press("next")
        screen("payment")
        press("pay")
        screen("done", 60000)
        page.wait_for_function("[...document.querySelectorAll('.tray img')].every(i => i.complete)")
        shot("9-take-certificate")
        press("taken")
        screen("welcome")
        browser.close()


if __name__ == "__main__":
    main()
