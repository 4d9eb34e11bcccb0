"""What did not reach citizens: the outbox's refused, expired and stuck messages, and the
citizens' messages the bot could not answer, for officials to see and act on."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from bot.core.messages import replies_from_json
from bot.core.payloads import number
from bot.desk.auth import PATH
from bot.desk.context import CONTEXT, DeskContext
from bot.desk.texts import text
from bot.desk.views import _flash, _language, page
from bot.store.clock import ago_iso

# A message still being retried after this long is listed too: the platform may be away.
STUCK_AFTER = timedelta(minutes=15)


async def undelivered(request: web.Request) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    stuck = ago_iso(STUCK_AFTER)
    items = ctx.store.outbox.not_delivered(limit=200, older_than=stuck)
    rows = [
        {
            "item": item,
            "text": "\n\n".join(r.text for r in replies_from_json(item.replies)),
        }
        for item in items
    ]
    return page(
        request,
        "undelivered.html",
        rows=rows,
        unanswerable=ctx.store.unanswerable(limit=200),
    )


async def resend(request: web.Request) -> web.StreamResponse:
    """Try a message that did not get through once more (the platform may take it now)."""
    ctx: DeskContext = request.app[CONTEXT]
    language = _language(request)
    item = number(request.match_info["item"])
    here = f"{PATH}/undelivered"
    if item is None or not await ctx.handover.resend(item):
        raise _flash(request, here, text("not_found", language), "error")
    raise _flash(request, here, text("resent", language))
