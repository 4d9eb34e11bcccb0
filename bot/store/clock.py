"""Timestamps as the store writes them: UTC, ISO 8601, milliseconds (they sort as text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


def iso(moment: datetime) -> str:
    """A moment as the store writes times (UTC, milliseconds: they sort as text)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def now_iso() -> str:
    return iso(datetime.now(UTC))


def ago_iso(period: timedelta) -> str:
    """The moment ``period`` before now, as the store writes times: for "since" queries."""
    return iso(datetime.now(UTC) - period)


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_day(iso: str, timezone: str) -> str:
    """The date (YYYY-MM-DD) of a stored UTC time in ``timezone``: SQL ``tanya_local_day``
    (on SQLite this function; on PostgreSQL a SQL function of the same name, made by the
    migrations)."""
    return datetime.fromisoformat(iso).astimezone(zone(timezone)).date().isoformat()
