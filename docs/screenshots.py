"""Screenshots of the kiosk's main screens for the README, from a running `kiosk-sim demo`.

.venv/bin/kiosk-sim demo &   # then:
.venv/bin/python docs/screenshots.py
"""

from __future__ import annotations

from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

from kiosk.browser import CHROMIUM, CHROMIUM_ARGS

OUT = Path(__file__).parent / "screenshots"
KIOSK, CONTROL = "http://127.0.0.1:8080", "http://127.0.0.1:8090"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        requests.post(f"{CONTROL}/remove", timeout=10)
        page.goto(KIOSK)
        page.wait_for_timeout(1500)
        if page.locator("[data-action=ok]").count():
            page.click("[data-action=ok]")  # a card taken out mid-flow leaves a "cancelled" screen
        page.wait_for_selector("main[data-screen=welcome]")
        page.screenshot(path=OUT / "1-welcome.png")
        requests.post(f"{CONTROL}/insert/0", timeout=30)
        page.wait_for_selector("main[data-screen=menu]")
        page.screenshot(path=OUT / "2-menu.png")
        page.click("[data-action=covid-certificate]")
        page.wait_for_selector("main[data-screen=pin]")
        for d in "1234":
            page.click(f"[data-action=digit][data-value='{d}']")
        page.screenshot(path=OUT / "3-pin.png")
        page.click("[data-action=pin-enter]")
        page.wait_for_selector("main[data-screen=remove_card]", timeout=20000)
        page.screenshot(path=OUT / "4-remove-card.png")
        requests.post(f"{CONTROL}/remove", timeout=10)
        page.wait_for_selector("main[data-screen=municipality]")
        page.screenshot(path=OUT / "5-municipality.png")
        page.click("[data-action=municipality][data-value='382051']")
        page.wait_for_selector("main[data-screen=type]")
        page.click("[data-action=lang]")
        page.wait_for_function("document.documentElement.lang === 'en'")
        page.screenshot(path=OUT / "6-type-english.png")
        page.click("[data-action=lang]")
        page.click("[data-action=overseas]")
        page.click("[data-action=next]")
        page.wait_for_selector("main[data-screen=confirm]")
        page.screenshot(path=OUT / "7-confirm.png")
        page.click("[data-action=next]")
        page.click("[data-action=pay]")
        page.wait_for_selector("main[data-screen=done]", timeout=30000)
        page.wait_for_timeout(800)
        page.screenshot(path=OUT / "8-take-certificate.png")
        page.click("[data-action=taken]")
        browser.close()


if __name__ == "__main__":
    main()
