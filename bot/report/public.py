"""The public transparency report at ``/laporan``: no sign-in, aggregates only.

Served only when ``report.public`` is true. It offers complete months only (a month in
progress would change under the reader's eyes), from the first stored question to the
last month that is over, and caches each rendering for a while: the page is public, and
every rendering scans a month of messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web

from bot.faq.model import Faq
from bot.report import monthly_report
from bot.report.render import CONTENT_TYPES, FORMATS, render, render_html
from bot.report.texts import text
from bot.store.stats import Period, Stats, last_complete_month, months_between

PATH = "/laporan"
CACHE_SECONDS = 600
MAX_MONTHS = 36
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": f"public, max-age={CACHE_SECONDS}",
}


class PublicReport:
    def __init__(
        self,
        stats: Stats,
        faq: Callable[[], Faq],
        timezone: str,
        languages: tuple[str, ...],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        government: str = "",
    ) -> None:
        self.stats = stats
        self.government = government
        self.faq = faq
        self.timezone = timezone
        self.languages = languages
        self.clock = clock
        self._cache: dict[tuple[str, ...], tuple[float, str]] = {}
        self._month_list: tuple[float, list[str]] = (0.0, [])

    def months(self) -> list[str]:
        """Complete months with traffic, newest first (at least the last one)."""
        last = last_complete_month(self.clock(), self.timezone).days[0]
        first = self.stats.first_day(self.timezone) or last
        return months_between(min(first, last), last)[:MAX_MONTHS]

    async def handle(self, request: web.Request) -> web.Response:
        language = request.query.get("lang", "")
        language = language if language in self.languages else self.languages[0]
        file_format = request.query.get("format", "html")
        months = self._months()
        month = request.query.get("month") or months[0]
        if month not in months or file_format not in FORMATS:
            raise web.HTTPNotFound(text="no such report", headers=HEADERS)
        body = self._cached(
            (month, language, file_format),
            lambda: self._render(month, language, file_format, months),
        )
        headers = dict(HEADERS)
        if file_format != "html":
            name = f"tanya-report-{month}.{file_format}"
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return web.Response(
            text=body, content_type=CONTENT_TYPES[file_format], charset="utf-8", headers=headers
        )

    def _render(self, month: str, language: str, file_format: str, months: list[str]) -> str:
        period = Period.parse_month(month, self.timezone)
        report = monthly_report(self.stats, self.faq(), period, self.clock())
        if file_format != "html":
            return render(report, file_format, language, self.government)
        here = {"month": month, "lang": language}
        links = {
            f"{text('download', language)} CSV": f"{PATH}?{urlencode(here | {'format': 'csv'})}",
            f"{text('download', language)} JSON": f"{PATH}?{urlencode(here | {'format': 'json'})}",
        }
        for other in self.languages:
            if other != language:
                links[text("other_language", language)] = (
                    f"{PATH}?{urlencode(here | {'lang': other})}"
                )
        return render_html(report, language, months=months, links=links, government=self.government)

    def _months(self) -> list[str]:
        expires, months = self._month_list
        if expires <= time.monotonic():
            months = self.months()
            self._month_list = (time.monotonic() + CACHE_SECONDS, months)
        return months

    def _cached(self, key: tuple[str, ...], make: Callable[[], str]) -> str:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = make()
        self._cache[key] = (now + CACHE_SECONDS, value)
        return value


def setup_public_report(app: web.Application, report: PublicReport) -> None:
    app.router.add_get(PATH, report.handle)
