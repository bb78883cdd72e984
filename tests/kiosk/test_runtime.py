"""Creating the kiosk's app starts no thread; its runtime starts (and stops) them all.

Issue 13: app factories start no threads, the server or the CLI does (``kiosk serve``
calls ``runtime(app).start()``), so a test that only builds an app has no side effect.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from kiosk import create_app, runtime
from serving import CA

THREADS = {"card-watcher", "card-closer", "kiosk-cancels"}


def names() -> set[str]:
    return {t.name for t in threading.enumerate()}


def kiosk_config(tmp_path: Path) -> dict[str, object]:
    ca = CA(tmp_path / "kiosk-ca", "Kiosk CA (test)")
    cert, key = ca.issue("kiosk-K0001", "K0001")
    # nothing listens at the center's port; the reader does not exist
    return {
        "CENTER_URL": "https://127.0.0.1:9",
        "CERT": cert,
        "KEY": key,
        "CA": ca.cert_path,
        "READER": "no such reader",
    }


def test_creating_the_app_starts_no_thread(tmp_path: Path) -> None:
    config = kiosk_config(tmp_path)
    before = set(threading.enumerate())
    app = create_app(config)
    assert set(threading.enumerate()) == before
    app.extensions["kiosk_flow"].card_event(False)  # nor does the flow by itself
    assert set(threading.enumerate()) == before
    runtime(app).center.close()  # (its link's pool: no thread either)


def test_the_runtime_starts_the_watcher_closer_and_canceller_and_stops_them(
    tmp_path: Path,
) -> None:
    app = create_app(kiosk_config(tmp_path))
    assert not THREADS & names()
    with runtime(app) as threads:
        assert names() >= THREADS
        assert threads.watcher is not None
        watcher = threads.watcher._thread
        assert watcher is not None and watcher.is_alive()
        # the watcher is at work: the missing reader puts the kiosk out of service
        deadline = time.monotonic() + 5
        while app.extensions["kiosk_flow"].screen != "out_of_service":
            assert time.monotonic() < deadline, "the watcher did not look at the reader"
            time.sleep(0.02)
    deadline = time.monotonic() + 5
    while THREADS & names():
        assert time.monotonic() < deadline, f"still running: {THREADS & names()}"
        time.sleep(0.02)


def test_without_watch_the_runtime_starts_no_watcher(tmp_path: Path) -> None:
    app = create_app({**kiosk_config(tmp_path), "WATCH": False})
    with runtime(app) as threads:
        assert threads.watcher is None
        assert "card-watcher" not in names() and {"card-closer", "kiosk-cancels"} <= names()
