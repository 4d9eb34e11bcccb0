"""The public transparency report: a month's aggregates, suppressed, as HTML, CSV or JSON."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.faq.model import Faq
from bot.report.build import Report, build_report
from bot.report.render import FORMATS, render
from bot.store.stats import Period, Stats

__all__ = ["FORMATS", "Report", "monthly_report", "render"]


def monthly_report(stats: Stats, faq: Faq, period: Period, now: datetime | None = None) -> Report:
    """The transparency report of ``period`` (a month), built from the store's aggregates."""
    now = now or datetime.now(UTC)
    return build_report(stats.summary(period, now), faq, now)
