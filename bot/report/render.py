"""The report as HTML (one self-contained page), CSV (one figure per row) or JSON."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from functools import lru_cache

import jinja2

from bot.csv_cells import Writer
from bot.report.build import OTHER_TOPICS, Cell, Report
from bot.report.texts import TEXTS, text
from bot.store.stats import NOT_DELIVERED, OUTCOMES, UNDECIDED

FORMATS = ("html", "csv", "json")
CONTENT_TYPES = {"html": "text/html", "csv": "text/csv", "json": "application/json"}


class UnknownFormat(ValueError):
    """Asked for a report format other than html, csv or json."""


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bot.report", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )


def render(report: Report, file_format: str, language: str, government: str = "") -> str:
    """The report in ``file_format`` (html, csv or json); ``government`` titles it."""
    if file_format == "html":
        return render_html(report, language, government=government)
    if file_format == "csv":
        return render_csv(report, language)
    if file_format == "json":
        return render_json(report)
    raise UnknownFormat(file_format)


def duration(seconds: float, language: str) -> str:
    """A response time as people say it: minutes, hours and minutes, or days and hours."""
    minutes = round(seconds / 60)
    if minutes < 60:
        return text("minutes", language, n=minutes)
    if minutes < 48 * 60:
        return text("hours", language, h=minutes // 60, m=minutes % 60)
    hours = minutes // 60
    return text("days", language, d=hours // 24, h=hours % 24)


def language_name(code: str, language: str) -> str:
    """A language code as readers know it; codes without a name stay codes."""
    return text(f"lang_{code}", language) if f"lang_{code}" in TEXTS else code


def _cell(value: Cell) -> str:
    return text("withheld", "id") if value is None else str(value)


def _percent(value: float | None) -> str:
    return text("withheld", "id") if value is None else f"{100 * value:.1f}%"


def render_html(
    report: Report,
    language: str,
    *,
    months: Sequence[str] = (),
    links: dict[str, str] | None = None,
    government: str = "",
) -> str:
    """One page with its own styles and no external assets (printable, e-mailable).

    ``months`` adds a month picker and ``links`` (label -> URL) download and language
    links: the public page's additions.
    """
    template = _environment().get_template("report.html")
    return template.render(
        report=report,
        lang=language,
        t=lambda key, **kw: text(key, language, **kw),
        cell=_cell,
        percent=_percent,
        duration=lambda seconds: duration(seconds, language),
        language_name=lambda code: language_name(code, language),
        outcomes=(*OUTCOMES, NOT_DELIVERED, UNDECIDED),
        other_topics=OTHER_TOPICS,
        months=list(months),
        links=links or {},
        government=government,
    )


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"


def render_csv(report: Report, language: str) -> str:
    """``section,key,label,value`` rows; "<10" is a suppressed count, empty is withheld."""
    rows: list[tuple[str, str, str, object]] = [
        ("meta", "month", "", report.month),
        ("meta", "timezone", "", report.timezone),
        ("meta", "start", "", report.start),
        ("meta", "end", "", report.end),
        ("meta", "generated_at", "", report.generated_at),
        ("meta", "suppression", "", "counts 1-9 shown as <10; empty = withheld"),
        ("volume", "questions", text("questions", language), report.questions),
    ]
    rows += [("channel", k, k, v) for k, v in report.channels.items()]
    rows += [("language", k, language_name(k, language), v) for k, v in report.languages.items()]
    for key, value in report.outcomes.items():
        label = text(f"oc_{key}", language)
        rows.append(("outcome", key, label, value))
        rows.append(("outcome_share", key, label, report.outcome_shares[key]))
    rows += [("tickets", k, text(f"tk_{k}", language), v) for k, v in report.tickets.items()]
    rows += [
        ("response_seconds", "median", text("median", language), report.response_median_seconds),
        ("response_seconds", "p90", text("p90", language), report.response_p90_seconds),
        ("feedback", "helpful", text("helpful", language), report.feedback["helpful"]),
        ("feedback", "not_helpful", text("not_helpful", language), report.feedback["not_helpful"]),
        ("feedback", "helpful_rate", text("helpful_rate", language), report.helpful_rate),
        ("rating", "count", text("ratings", language), report.ratings),
        ("rating", "average", text("rating_average", language), report.rating_average),
    ]
    for topic in report.topics:
        label = (
            text("other_topics", language) if topic.slug == OTHER_TOPICS else topic.title(language)
        )
        rows.append(("topic", topic.slug, label, topic.questions))
        rows.append(("topic_share", topic.slug, label, topic.share))
    out = io.StringIO()
    writer = Writer(out, lineterminator="\n")
    writer.writerow(("section", "key", "label", "value"))
    writer.writerows((s, k, label, "" if v is None else v) for s, k, label, v in rows)
    return out.getvalue()
