"""The desk's conversation export, for admins: a period and a channel in, a CSV file out.

The file is what ``bot.store.conversation_export`` writes (citizens as numbers, personal
data masked), streamed a page at a time. Every export is written to the audit log before
the first byte leaves, with its period, channel and size.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.desk.context import CONTEXT, DeskContext, official_of
from bot.desk.texts import text
from bot.desk.views import _language, page
from bot.store.conversation_export import period_of_days

DEFAULT_DAYS = 30


def _channels(ctx: DeskContext) -> list[str]:
    """Channels configured now and channels citizens came from before."""
    return sorted(ctx.store.channels() | set(ctx.channels))


def _form(
    request: web.Request, first: str, last: str, channel: str, problem: str = ""
) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    response = page(
        request,
        "export.html",
        first=first,
        last=last,
        channel=channel,
        channels=_channels(ctx),
        retention_days=ctx.settings.retention.message_days,
        problem=problem,
    )
    response.set_status(400 if problem else 200)
    return response


async def export_page(request: web.Request) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    today = datetime.now(ZoneInfo(ctx.settings.desk.timezone)).date()
    first = today - timedelta(days=DEFAULT_DAYS - 1)
    return _form(request, first.isoformat(), today.isoformat(), "")


async def export_download(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    form = await request.post()
    first, last = str(form.get("from", "")), str(form.get("to", ""))
    channel = str(form.get("channel", ""))
    try:
        period = period_of_days(
            date.fromisoformat(first), date.fromisoformat(last), ctx.settings.desk.timezone
        )
    except ValueError:
        return _form(request, first, last, channel, text("export_bad_period", _language(request)))
    if channel and channel not in _channels(ctx):
        return _form(request, first, last, "", text("export_bad_channel", _language(request)))
    count = ctx.store.conversations.count(period, channel or None)
    ctx.store.officials.audit(
        official_of(request),
        "conversations-exported",
        period.label,
        f"{count} messages, channel {channel or 'all'}",
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="conversations-{first}-{last}.csv"',
            # Set here: the guard's headers come too late for a response already started.
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    await response.prepare(request)
    for piece in ctx.store.conversations.csv(period, channel or None):
        await response.write(piece.encode("utf-8"))
    await response.write_eof()
    return response
