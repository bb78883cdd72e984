"""How the kiosk's own browser is started: Debian's chromium, headless, offline.

Used by the browser tests and the screenshot script; a real kiosk runs the
same flags without ``--headless`` in kiosk mode.
"""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
# no background networking: the machine's closed network refuses every such connection
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
