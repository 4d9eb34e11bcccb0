"""The desk's dashboard: how much citizens ask, how the bot and the officials cope.

Every figure comes from :mod:`bot.store.stats` (counts, never texts) for the chosen period
(the last 7 or 30 days, or a calendar month, in ``desk.timezone``); open tickets by age
are always as of now. Officials see exact counts: suppression of small numbers is for
the public report. Charts are SVG drawn on the server, inline in the page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiohttp import web
from markupsafe import Markup

from bot.desk.charts import bar_chart_svg, stacked_columns_svg
from bot.desk.context import CONTEXT, DeskContext
from bot.desk.texts import text
from bot.desk.views import _language, page
from bot.faq.model import Faq
from bot.report.render import duration
from bot.store.stats import (
    NOT_DELIVERED,
    OUTCOMES,
    UNDECIDED,
    Period,
    Summary,
    months_between,
)

PERIODS = {"7d": 7, "30d": 30}
DEFAULT_PERIOD = "30d"
TOP_ENTRIES = 10
MAX_MONTHS = 24


def _period(request: web.Request, timezone: str, now: datetime) -> tuple[str, Period]:
    """The period asked for in the query (``period=7d|30d|month``, ``month=YYYY-MM``)."""
    choice = request.query.get("period", DEFAULT_PERIOD)
    if choice == "month":
        try:
            return choice, Period.parse_month(request.query.get("month", ""), timezone)
        except ValueError:
            choice = DEFAULT_PERIOD
    days = PERIODS.get(choice)
    if days is None:
        choice, days = DEFAULT_PERIOD, PERIODS[DEFAULT_PERIOD]
    return choice, Period.last_days(days, now, timezone)


def _series(summary: Summary, days: list[str], attribute: str) -> dict[str, list[int]]:
    """Per channel (or language): its count on each day of the period."""
    position = {day: index for index, day in enumerate(days)}
    series: dict[str, list[int]] = {}
    for row in summary.daily:
        counts = series.setdefault(getattr(row, attribute), [0] * len(days))
        if row.day in position:
            counts[position[row.day]] += row.count
    return dict(sorted(series.items()))


def _hours(hours: int, language: str) -> str:
    if hours >= 24 and hours % 24 == 0:
        return text("db_days", language, n=hours // 24)
    return text("db_hours", language, n=hours)


def _age_labels(buckets: list[tuple[int | None, int]], language: str) -> list[str]:
    labels, lower = [], 0
    for upper, _ in buckets:
        if upper is None:
            labels.append(f"≥ {_hours(lower, language)}")
        elif lower == 0:
            labels.append(f"< {_hours(upper, language)}")
        else:
            labels.append(f"{_hours(lower, language)} – {_hours(upper, language)}")
        lower = upper or lower
    return labels


def _language_name(code: str, language: str) -> str:
    return (
        text(f"lang_{code}", language)
        if code in ("id", "en")
        else text("db_lang_unknown", language)
    )


async def dashboard(request: web.Request) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    language = _language(request)
    zone = ctx.settings.desk.timezone
    now = datetime.now(UTC)
    choice, period = _period(request, zone, now)
    stats = ctx.store.stats
    summary = stats.summary(period, now)
    days = [day.isoformat() for day in period.days]
    languages = {code: _language_name(code, language) for code in summary.by_language}
    outcome_keys = (*OUTCOMES, NOT_DELIVERED, UNDECIDED)
    ages = summary.open_by_age()
    age_labels = _age_labels(ages, language)
    today = now.astimezone(ZoneInfo(zone)).date()
    first = stats.first_day(zone) or today
    faq = ctx.live.faq
    charts = {
        "channels": stacked_columns_svg(
            days, _series(summary, days, "channel"), text("db_per_day_channel", language)
        ),
        "languages": stacked_columns_svg(
            days,
            _series(summary, days, "language"),
            text("db_per_day_language", language),
            languages,
        ),
        "outcomes": bar_chart_svg(
            [text(f"db_oc_{key}", language) for key in outcome_keys],
            [summary.outcomes[key] for key in outcome_keys],
            text("db_outcomes", language),
        ),
        "ages": bar_chart_svg(
            age_labels, [count for _, count in ages], text("db_open_ages", language)
        ),
    }
    negative = [(k, v) for k, v in summary.entry_feedback.items() if v[1] > 0]
    return page(
        request,
        "dashboard.html",
        choice=choice,
        period=period,
        summary=summary,
        # Markup: the chart functions escape every label and title themselves.
        charts={name: Markup(svg) for name, svg in charts.items()},
        outcome_keys=outcome_keys,
        languages=languages,
        ages=list(zip(age_labels, [count for _, count in ages], strict=True)),
        top_entries=list(summary.entry_use.items())[:TOP_ENTRIES],
        negative=negative[:TOP_ENTRIES],
        entry_topic=lambda faq_id: _entry_topic(faq, faq_id, language),
        months=months_between(min(first, today), today)[:MAX_MONTHS],
        selected_month=request.query.get("month", "") if choice == "month" else "",
        duration=lambda seconds: duration(seconds, language),
        public_report=ctx.settings.report.public,
        timezone=zone,
    )


def _entry_topic(faq: Faq, faq_id: str, language: str) -> str:
    """The entry's topic title, for officials who do not know every entry id."""
    entry = faq.get(faq_id)
    if entry is None:
        return text("db_entry_gone", language)
    topic = faq.topic(entry.topic)
    return topic.title(language) if topic is not None else entry.topic
