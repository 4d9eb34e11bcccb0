"""Conversations as a CSV file for officials: one row per message, personal data masked.

Officials study conversations in a spreadsheet (what citizens ask, where the bot fails),
and a file travels further than the desk: so a citizen is only a number within one
export (citizen 1, 2, ... in order of appearance, never a platform id, and a different
number in the next export), and NIKs, phone numbers and e-mail addresses in texts are
masked (``bot.privacy``). Texts removed by retention are empty; erased citizens are
simply absent. A text a spreadsheet would run as a formula gets a leading apostrophe
(``bot.csv_cells``), so opening the file cannot run anything.

The file is produced a page of messages at a time: the desk streams it without holding a
year of messages in memory, and without keeping a read open while the bot writes.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.csv_cells import Writer
from bot.privacy import mask
from bot.store.engine import Engine
from bot.store.stats import Period

PAGE_ROWS = 1000
BOM = "\ufeff"  # Excel opens a CSV as UTF-8 only with it
HEADER = [
    "time",
    "channel",
    "citizen",
    "direction",
    "sender",
    "kind",
    "text",
    "action",
    "reason",
    "confidence",
    "faq_entry",
    "language",
    "ticket",
    "helpful",
    "rating",
]

_SELECT = """
SELECT m.id, m.created_at, c.channel, m.citizen_id, m.direction, m.kind, m.text, m.action,
  m.reason, m.confidence, m.faq_id, m.language,
  (SELECT max(e.id) FROM escalations e
   WHERE e.message_id = CASE WHEN m.direction = 'in' THEN m.id ELSE m.reply_to END) AS ticket,
  (SELECT f.helpful FROM feedback f WHERE f.message_id = m.id ORDER BY f.id DESC LIMIT 1)
    AS helpful,
  CASE WHEN m.action = 'official' THEN (SELECT e.rating FROM escalations e
    WHERE e.answer_message_id = m.id) END AS rating
FROM messages m JOIN citizens c ON c.id = m.citizen_id
WHERE m.created_at >= ? AND m.created_at < ? AND (CAST(? AS TEXT) IS NULL OR c.channel = ?)
"""


def period_of_days(first: date, last: date, timezone: str) -> Period:
    """From the start of ``first`` to the end of ``last``, in the officials' time zone."""
    if last < first:
        raise ValueError("the period ends before it starts")
    zone = ZoneInfo(timezone)
    try:
        return Period(
            datetime.combine(first, time(), zone).astimezone(UTC),
            datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC),
            timezone,
        )
    except OverflowError:  # the year 1 or 9999 in UTC
        raise ValueError("the period is outside the calendar") from None


class ConversationExport:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def count(self, period: Period, channel: str | None = None) -> int:
        """How many messages an export of this period (and channel) holds."""
        row = self.db.execute(
            f"SELECT count(*) FROM ({_SELECT}) AS exported",
            [*period.bounds(), channel, channel],
        )
        return int(row.fetchone()[0])

    def csv(
        self, period: Period, channel: str | None = None, page_rows: int = PAGE_ROWS
    ) -> Iterator[str]:
        """The CSV text in pieces: a byte-order mark and the header, then a piece per page."""
        zone = ZoneInfo(period.timezone)
        numbers: dict[int, int] = {}  # citizen id -> their number in this export
        yield BOM + _csv([HEADER])
        after = 0
        while True:
            rows = list(
                self.db.query(
                    f"{_SELECT} AND m.id > ? ORDER BY m.id LIMIT ?",
                    [*period.bounds(), channel, channel, after, page_rows],
                )
            )
            if not rows:
                return
            yield _csv(_row(row, numbers, zone) for row in rows)
            after = rows[-1]["id"]


def _row(row: dict[str, Any], numbers: dict[int, int], zone: ZoneInfo) -> list[str]:
    citizen = numbers.setdefault(row["citizen_id"], len(numbers) + 1)
    moment = datetime.fromisoformat(row["created_at"]).astimezone(zone)
    return [
        moment.strftime("%Y-%m-%d %H:%M:%S"),
        row["channel"],
        str(citizen),
        row["direction"],
        _sender(row),
        row["kind"],
        mask(row["text"]) if row["text"] else "",
        row["action"] or "",
        row["reason"] or "",
        f"{row['confidence']:.3f}" if row["confidence"] is not None else "",
        row["faq_id"] or "",
        row["language"] or "",
        str(row["ticket"] or ""),
        {1: "yes", 0: "no"}.get(row["helpful"], ""),
        str(row["rating"] or ""),
    ]


def _sender(row: dict[str, Any]) -> str:
    if row["direction"] == "in":
        return "citizen"
    return {"official": "official", "broadcast": "announcement"}.get(row["action"], "bot")


def _csv(rows: Iterable[list[str]]) -> str:
    out = io.StringIO()
    Writer(out).writerows(rows)
    return out.getvalue()
