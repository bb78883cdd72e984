"""The kiosk's threads, started and stopped in one place.

``create_app`` builds the app and starts nothing: creating one in a test has no
side effect. ``kiosk serve`` (and a test fixture that serves the kiosk) starts the
runtime before serving and stops it after:

- the center client's canceller: one thread that sends session cancels from a bounded
  queue and resends those the center missed (``kiosk/center.py``);
- the flow's closer: one thread that closes card links off the flow's lock;
- the card watcher, which follows the reader through pcscd (unless ``WATCH`` is off).

A visit's slow steps still run as background jobs of their own, started by the
resident's actions, never by the app factory.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from flask import Flask

from .flow import CardWatcher, Flow


class Cancels(Protocol):
    """What the runtime needs of the center client."""

    def start(self) -> None: ...

    def close(self) -> None: ...


class KioskRuntime:
    def __init__(self, center: Cancels, flow: Flow, watcher: CardWatcher | None) -> None:
        self.center = center
        self.flow = flow
        self.watcher = watcher

    def start(self) -> KioskRuntime:
        self.center.start()
        self.flow.start()
        if self.watcher is not None:
            self.watcher.start()
        return self

    def stop(self) -> None:
        """The watcher first (no new visit), then the closer, then the center client (cancels
        still waiting are dropped: the center expires those sessions at its TTL)."""
        if self.watcher is not None:
            self.watcher.stop()
        self.flow.stop()
        self.center.close()

    def __enter__(self) -> KioskRuntime:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def runtime(app: Flask) -> KioskRuntime:
    """The runtime of an app ``create_app`` made, not started yet unless someone did."""
    found = app.extensions["kiosk_runtime"]
    assert isinstance(found, KioskRuntime)
    return found
