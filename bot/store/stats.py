"""Aggregate figures about a period of traffic: what the dashboard and the public report show.

Every query counts or groups; none reads a message's text, so the figures stay right after
old texts are blanked by a retention purge, and nothing here can leak what a citizen wrote.

A period is a half-open range of instants ``[start, end)``, compared with the stored UTC
ISO timestamps as text (they sort as time). Days are the officials' days: a message is
counted on its date in ``desk.timezone`` (SQL ``tanya_local_day``: ``bot.store.engine``), so
"1 March" on the dashboard is 1 March in Jakarta, not in Greenwich.

What is counted:

- a *question* is an incoming message of kind ``text`` (commands and button presses are
  not questions); its outcome is the decision stored on it (``messages.action``);
- *feedback* is the 👍/👎 on an answer, counted when it was given;
- an escalation's *response time* is ``answered_at - created_at`` of those answered (not
  closed) within the period; its *rating* is the citizen's 1-5 for that answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from bot.store.clock import iso
from bot.store.clock import zone as time_zone
from bot.store.engine import Engine

OUTCOMES = ("answer", "clarify", "smalltalk", "escalate")
# A question whose reply the platform has not confirmed (refused, window closed, or still
# being retried): whatever was decided, the citizen has not seen it, so it is not counted
# as answered.
NOT_DELIVERED = "not_delivered"
UNDECIDED = "none"  # a question without a decision (not answered yet, or a survey reply)
UNKNOWN_LANGUAGE = "?"
# Upper bounds (hours) of the buckets of open escalations' ages; the last is "longer".
AGE_BUCKETS_HOURS = (1, 4, 24, 72, 168)


@dataclass(frozen=True)
class Period:
    """``[start, end)``: whole local days in ``timezone``."""

    start: datetime
    end: datetime
    timezone: str

    @classmethod
    def month(cls, year: int, month: int, timezone: str) -> Period:
        """A calendar month in the officials' time zone."""
        zone = time_zone(timezone)
        first = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls(
            datetime.combine(first, time(), zone).astimezone(UTC),
            datetime.combine(following, time(), zone).astimezone(UTC),
            timezone,
        )

    @classmethod
    def parse_month(cls, text: str, timezone: str) -> Period:
        """``YYYY-MM`` as a :meth:`month`; ``ValueError`` when it is not one."""
        try:
            moment = datetime.strptime(text.strip(), "%Y-%m")
            return cls.month(moment.year, moment.month, timezone)
        except (ValueError, OverflowError):  # OverflowError: the year 1 or 9999 in UTC
            raise ValueError(f"not a month (YYYY-MM): {text!r}") from None

    @classmethod
    def last_days(cls, days: int, now: datetime, timezone: str) -> Period:
        """Today and the ``days - 1`` days before it, in the officials' time zone."""
        zone = time_zone(timezone)
        today = now.astimezone(zone).date()
        first = today - timedelta(days=days - 1)
        return cls(
            datetime.combine(first, time(), zone).astimezone(UTC),
            datetime.combine(today + timedelta(days=1), time(), zone).astimezone(UTC),
            timezone,
        )

    @property
    def label(self) -> str:
        """``YYYY-MM`` for a calendar month, else ``YYYY-MM-DD..YYYY-MM-DD`` (last day)."""
        first, last = self.days[0], self.days[-1]
        if first.day == 1 and (last + timedelta(days=1)).day == 1 and first.month == last.month:
            return first.strftime("%Y-%m")
        return f"{first.isoformat()}..{last.isoformat()}"

    @property
    def days(self) -> list[date]:
        """Every local day in the period, in order."""
        zone = time_zone(self.timezone)
        first = self.start.astimezone(zone).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(zone).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def bounds(self) -> list[str]:
        return [iso(self.start), iso(self.end)]


def last_complete_month(now: datetime, timezone: str) -> Period:
    """The latest month that is over in the officials' time zone."""
    first = now.astimezone(time_zone(timezone)).date().replace(day=1)
    previous = first - timedelta(days=1)
    return Period.month(previous.year, previous.month, timezone)


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` (0-1) quantile, interpolating linearly between ranks (as numpy's
    default does); ``ValueError`` for no values."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class DayCount:
    day: str  # YYYY-MM-DD, local
    channel: str
    language: str
    count: int


@dataclass(frozen=True)
class Summary:
    """Everything counted about one period (and, for open escalations, about now)."""

    period: Period
    daily: list[DayCount]
    outcomes: dict[str, int]  # OUTCOMES and UNDECIDED -> questions
    helpful: int
    unhelpful: int
    response_seconds: list[float]  # of escalations answered in the period, ascending
    ratings: dict[int, int]  # 1-5 -> how many
    tickets: dict[str, int]  # opened, answered, closed in the period
    open_ages_hours: list[float]  # escalations open now, hours since they were opened
    entry_use: dict[str, int]  # FAQ entry -> questions answered with it
    entry_feedback: dict[str, tuple[int, int]]  # FAQ entry -> (helpful, unhelpful)
    by_channel: dict[str, int] = field(init=False)
    by_language: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        channels: dict[str, int] = {}
        languages: dict[str, int] = {}
        for row in self.daily:
            channels[row.channel] = channels.get(row.channel, 0) + row.count
            languages[row.language] = languages.get(row.language, 0) + row.count
        object.__setattr__(self, "by_channel", dict(sorted(channels.items())))
        object.__setattr__(self, "by_language", dict(sorted(languages.items())))

    @property
    def questions(self) -> int:
        return sum(self.outcomes.values())

    @property
    def feedback(self) -> int:
        return self.helpful + self.unhelpful

    @property
    def rated(self) -> int:
        return sum(self.ratings.values())

    @property
    def rating_average(self) -> float | None:
        if not self.rated:
            return None
        return sum(score * n for score, n in self.ratings.items()) / self.rated

    def response_percentile(self, share: float) -> float | None:
        return percentile(self.response_seconds, share) if self.response_seconds else None

    def open_by_age(self) -> list[tuple[int | None, int]]:
        """(upper bound in hours or None for "longer", escalations) per age bucket."""
        counts = [0] * (len(AGE_BUCKETS_HOURS) + 1)
        for age in self.open_ages_hours:
            index = next(
                (i for i, bound in enumerate(AGE_BUCKETS_HOURS) if age < bound),
                len(AGE_BUCKETS_HOURS),
            )
            counts[index] += 1
        bounds: list[int | None] = [*AGE_BUCKETS_HOURS, None]
        return list(zip(bounds, counts, strict=True))


_QUESTIONS = (
    "FROM messages m JOIN citizens c ON c.id = m.citizen_id "
    "WHERE m.direction = 'in' AND m.kind = 'text' AND m.created_at >= ? AND m.created_at < ?"
)


def _count_if(condition: str) -> str:
    """How many rows meet ``condition`` (PostgreSQL sums no booleans)."""
    return f"coalesce(sum(CASE WHEN {condition} THEN 1 ELSE 0 END), 0)"


class Stats:
    """The aggregate queries, over the conversation store's database."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    def summary(self, period: Period, now: datetime) -> Summary:
        helpful, unhelpful = self.feedback(period)
        return Summary(
            period=period,
            daily=self.daily(period),
            outcomes=self.outcomes(period),
            helpful=helpful,
            unhelpful=unhelpful,
            response_seconds=self.response_seconds(period),
            ratings=self.ratings(period),
            tickets=self.tickets(period),
            open_ages_hours=self.open_ages_hours(now),
            entry_use=self.entry_use(period),
            entry_feedback=self.entry_feedback(period),
        )

    def daily(self, period: Period) -> list[DayCount]:
        """Questions per local day, channel and language (the decision's, else the
        citizen's)."""
        rows = self.db.execute(
            "SELECT tanya_local_day(m.created_at, ?) AS day, c.channel, "
            f"coalesce(m.language, c.language, '{UNKNOWN_LANGUAGE}') AS lang, count(*) "
            f"{_QUESTIONS} GROUP BY day, c.channel, lang ORDER BY day, c.channel, lang",
            [period.timezone, *period.bounds()],
        )
        return [DayCount(day, channel, lang, count) for day, channel, lang, count in rows]

    def outcomes(self, period: Period) -> dict[str, int]:
        """Questions per decision, counted only once the platform confirmed the reply;
        anything else (or nothing yet) counts as undecided."""
        counts = dict.fromkeys((*OUTCOMES, NOT_DELIVERED, UNDECIDED), 0)
        rows = self.db.execute(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM messages r WHERE r.reply_to = m.id "
            "AND r.direction = 'out' AND (r.action IS NULL OR r.action != 'official') "
            f"AND r.status NOT IN ('sent', 'waiting')) THEN '{NOT_DELIVERED}' "
            f"ELSE m.action END AS outcome, count(*) {_QUESTIONS} GROUP BY outcome",
            period.bounds(),
        )
        for action, count in rows:
            key = action if action in (*OUTCOMES, NOT_DELIVERED) else UNDECIDED
            counts[key] += count
        return counts

    def feedback(self, period: Period) -> tuple[int, int]:
        """(helpful, not helpful) verdicts given in the period."""
        row = self.db.execute(
            f"SELECT {_count_if('helpful = 1')}, {_count_if('helpful = 0')} FROM feedback "
            "WHERE created_at >= ? AND created_at < ?",
            period.bounds(),
        ).fetchone()
        return int(row[0]), int(row[1])

    def response_seconds(self, period: Period) -> list[float]:
        """Seconds from escalation to an official's answer, for those answered in the period."""
        rows = self.db.execute(
            "SELECT created_at, answered_at FROM escalations WHERE status = 'answered' "
            "AND answered_at >= ? AND answered_at < ?",
            period.bounds(),
        )
        return sorted(
            (datetime.fromisoformat(answered) - datetime.fromisoformat(created)).total_seconds()
            for created, answered in rows
        )

    def ratings(self, period: Period) -> dict[int, int]:
        """Citizens' 1-5 ratings of the answers given in the period."""
        counts = dict.fromkeys(range(1, 6), 0)
        rows = self.db.execute(
            "SELECT rating, count(*) FROM escalations WHERE status = 'answered' "
            "AND rating BETWEEN 1 AND 5 AND answered_at >= ? AND answered_at < ? GROUP BY rating",
            period.bounds(),
        )
        for rating, count in rows:
            counts[int(rating)] = count
        return counts

    def tickets(self, period: Period) -> dict[str, int]:
        """Escalations opened, answered and closed without an answer in the period."""
        bounds = period.bounds()
        opened = self.db.execute(
            "SELECT count(*) FROM escalations WHERE created_at >= ? AND created_at < ?", bounds
        ).fetchone()[0]
        handled = dict.fromkeys(("answered", "closed"), 0)
        rows = self.db.execute(
            "SELECT status, count(*) FROM escalations WHERE status IN ('answered', 'closed') "
            "AND answered_at >= ? AND answered_at < ? GROUP BY status",
            bounds,
        )
        handled.update({status: count for status, count in rows})
        return {"opened": int(opened), **handled}

    def open_ages_hours(self, now: datetime) -> list[float]:
        """How long (hours) each escalation still open has waited, at ``now``."""
        rows = self.db.execute("SELECT created_at FROM escalations WHERE status = 'open'")
        return sorted(
            (now - datetime.fromisoformat(created)).total_seconds() / 3600 for (created,) in rows
        )

    def entry_use(self, period: Period) -> dict[str, int]:
        """FAQ entry -> questions the bot answered with it, most used first."""
        rows = self.db.execute(
            f"SELECT m.faq_id, count(*) AS n {_QUESTIONS} AND m.action = 'answer' "
            "AND m.faq_id IS NOT NULL GROUP BY m.faq_id ORDER BY n DESC, m.faq_id",
            period.bounds(),
        )
        return {faq_id: count for faq_id, count in rows}

    def entry_feedback(self, period: Period) -> dict[str, tuple[int, int]]:
        """FAQ entry -> (helpful, not helpful) for feedback given in the period, the most
        "not helpful" first."""
        rows = self.db.execute(
            f"SELECT m.faq_id, {_count_if('f.helpful = 1')} AS yes, "
            f"{_count_if('f.helpful = 0')} AS no FROM feedback f "
            "JOIN messages m ON m.id = f.message_id WHERE m.faq_id IS NOT NULL "
            "AND f.created_at >= ? AND f.created_at < ? GROUP BY m.faq_id "
            "ORDER BY no DESC, yes ASC, m.faq_id",
            period.bounds(),
        )
        return {faq_id: (int(yes), int(no)) for faq_id, yes, no in rows}

    def first_day(self, timezone: str) -> date | None:
        """The local day of the first question ever stored (for month pickers)."""
        row = self.db.execute(
            "SELECT min(created_at) FROM messages WHERE direction = 'in'"
        ).fetchone()
        if not row or row[0] is None:
            return None
        return datetime.fromisoformat(row[0]).astimezone(time_zone(timezone)).date()


def months_between(first: date, last: date) -> list[str]:
    """``YYYY-MM`` of every month from ``last`` back to ``first``, newest first."""
    months = []
    year, month = last.year, last.month
    while (year, month) >= (first.year, first.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months
