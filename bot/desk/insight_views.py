"""The desk's Clusters and Rumours pages.

Clusters: a period's unanswered questions grouped by what they ask, largest first, each
with a form that turns it into a new FAQ entry (the learning loop then retrains).
Rumours: messages that may carry misinformation, with the hoax clarification they are
most like, the fast-growing clusters, and links to answer them and to announce a
clarification to subscribers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.core.answerer import render_answer
from bot.core.clusters import comparable
from bot.core.insight import PERIODS, Cluster, Insight, Rumour, period
from bot.core.rumours import Sign
from bot.desk.auth import PATH
from bot.desk.context import CONTEXT, DeskContext, official_of
from bot.desk.faq_forms import read_new_entry, suggested_id
from bot.desk.inputs import parse_id
from bot.desk.texts import text
from bot.desk.views import (
    MIN_NEW_ENTRY_QUESTIONS,
    _flash,
    _language,
    add_entry_from_form,
    added_to_faq,
    faq_problem,
    page,
)
from bot.faq.edit import FaqEditError

INSIGHT = web.AppKey("insight", Insight)
REFRESH_SECONDS = 3


def create_insight(ctx: DeskContext) -> Insight:
    """One per desk: it keeps the questions' vectors between visits."""
    return Insight(
        ctx.store,
        ctx.handover.embed,
        ctx.settings.insight,
        ctx.live.loaded.answerer.thresholds.answer,
    )


async def clusters(request: web.Request) -> web.Response:
    return await _clusters_page(request, period(request.query.get("days")))


async def _clusters_page(
    request: web.Request,
    days: int,
    *,
    typed: dict[str, Any] | None = None,
    error: str | None = None,
) -> web.Response:
    """The clusters; after a refused "create FAQ entry", that cluster's form as it was
    typed (``typed``, with its ``cluster`` number) and why it was refused."""
    ctx: DeskContext = request.app[CONTEXT]
    insight = request.app[INSIGHT]
    faq = ctx.live.faq
    report = await insight.clusters(days, faq=faq) if insight.available else None
    language = _language(request)
    return page(
        request,
        "clusters.html",
        days=days,
        periods=PERIODS,
        report=report,
        available=insight.available,
        refresh=REFRESH_SECONDS if insight.available and report is None and not typed else 0,
        topics=sorted(
            ((t.slug, t.title(language)) for t in faq.topics), key=lambda c: c[1].casefold()
        ),
        prefill=lambda number, cluster: _prefill(ctx, number, cluster, typed),
        languages=ctx.languages,
        min_questions=MIN_NEW_ENTRY_QUESTIONS,
        recent_days=ctx.settings.insight.recent_days,
        error=error,
        status=400 if error else 200,
    )


def _prefill(
    ctx: DeskContext, number: int, cluster: Cluster, typed: dict[str, Any] | None
) -> dict[str, Any]:
    """A cluster's "new FAQ entry" form: its typical questions (personal data out) in
    its language, or what the official typed into it before an error."""
    if typed is not None and typed.get("cluster") == str(number):
        return typed
    language = cluster.language or ctx.languages[0]
    examples = [comparable(q) for q in cluster.examples(5)]
    return {
        "entry_id": suggested_id(examples[0] if examples else "", ctx.live.faq),
        f"questions_{language}": "\n".join(q for q in examples if q),
    }


async def cluster_to_faq(request: web.Request) -> web.StreamResponse:
    """A cluster's "create FAQ entry" form: the same handling as the ticket page's."""
    ctx: DeskContext = request.app[CONTEXT]
    form = await request.post()
    try:
        edit = add_entry_from_form(ctx, official_of(request), form, _language(request))
    except FaqEditError as exc:
        typed = read_new_entry(form, ctx.languages).values() | {
            "cluster": str(form.get("cluster", ""))
        }
        days = period(str(form.get("days", "")))
        return await _clusters_page(request, days, typed=typed, error=faq_problem(exc, request))
    raise added_to_faq(request, edit)


async def rumours(request: web.Request) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    insight = request.app[INSIGHT]
    days = period(request.query.get("days"))
    faq = ctx.live.faq
    rows = await insight.rumours(days, faq)
    report = await insight.clusters(days, faq=faq) if insight.available else None
    return page(
        request,
        "rumours.html",
        days=days,
        periods=PERIODS,
        rows=rows,
        report=report,
        available=insight.available,
        refresh=REFRESH_SECONDS if insight.available and report is None else 0,
        announce=lambda row: announce_link(ctx, row),
        signs=Sign,
        hoax_entries=insight.hoax_entries(faq),
        hoax_topic=ctx.settings.insight.hoax_topic,
        growing=[(rank, c) for rank, c in enumerate(report.clusters, 1) if c.growing]
        if report
        else [],
        recent_days=ctx.settings.insight.recent_days,
    )


def announce_link(ctx: DeskContext, row: Rumour) -> str:
    """The announcement form, filled in with the matching clarification (if any) for the
    subscribers of the hoax topic; the official reviews it before the preview."""
    values = {"topics": ctx.settings.insight.hoax_topic}
    if row.match is not None:
        entry = row.match.entry
        language = entry.answer_language(ctx.languages[0], ctx.languages)
        values["text"] = render_answer(entry, language)
    return f"{PATH}/announcements?{urlencode(values)}"


async def open_ticket(request: web.Request) -> web.StreamResponse:
    """Answer a tagged message: open an escalation for it (the same one if it has one)."""
    ctx: DeskContext = request.app[CONTEXT]
    message = parse_id(request.match_info["message"])
    language = _language(request)
    form = await request.post()
    back = f"{PATH}/rumours?{urlencode({'days': period(str(form.get('days', '')))})}"
    citizen = ctx.store.owner_of(message) if message is not None else None
    if citizen is None or message is None:
        raise _flash(request, back, text("not_found", language), "error")
    ticket, _ = ctx.store.open_escalation(
        citizen, message, "rumour", ctx.settings.insight.hoax_topic
    )
    ctx.store.officials.audit(official_of(request), "rumour-ticket", f"ticket #{ticket}")
    raise web.HTTPSeeOther(f"{PATH}/tickets/{ticket}")
