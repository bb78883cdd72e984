"""The one clock of ``certs`` (freezegun moves it in tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

# Japan keeps no daylight saving time, so a fixed offset needs no tz database
JST = timezone(timedelta(hours=9), "JST")


def now() -> datetime:
    return datetime.now(UTC)


def today_jst() -> date:
    """The date printed as the issue date: the day in Japan, not in UTC."""
    return now().astimezone(JST).date()
