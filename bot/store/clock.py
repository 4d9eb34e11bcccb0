"""Timestamps as the store writes them: UTC, ISO 8601, milliseconds (they sort as text)."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
