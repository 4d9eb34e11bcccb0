"""Button payloads, read back strictly.

A payload is text the core put on a button, but it comes back from the citizen's device
(or from anyone who can post to the web chat), so it is input like any other: numbers
in it are ASCII digits only (``str.isdigit`` also accepts "²" and "٣", which ``int``
then refuses or turns into another number) and no larger than a database id can be;
anything else is "a button the bot does not know", never an exception.
"""

from __future__ import annotations

import re

# SQLite's and PostgreSQL's largest integer: a payload's number is looked up as an id.
MAX_ID = 2**63 - 1
_NUMBER = re.compile(r"[0-9]{1,19}")


def number(text: str) -> int | None:
    """``text`` as a non-negative id, or ``None`` when it is not one."""
    if not _NUMBER.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def numbers(text: str, count: int) -> tuple[int, ...] | None:
    """``count`` ids separated by ":" (``"12:3"``), or ``None``."""
    parts = text.split(":")
    if len(parts) != count:
        return None
    values = tuple(number(part) for part in parts)
    if any(value is None for value in values):
        return None
    return values  # type: ignore[return-value]
