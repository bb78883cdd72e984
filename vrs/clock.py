"""The one clock of VRS (freezegun moves it in tests)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
