"""The desk's announcement, poll and campaign pages.

Composing goes through a preview that shows the message and how many citizens each
channel will reach (and on Messenger, how many are outside Meta's 24-hour window and
will be skipped unless a message tag is configured); only the confirmed preview sends.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.core.surveys import SCALE, SurveyFormatError, parse_questions, questions_json, questions_of
from bot.csv_cells import Writer
from bot.desk.auth import PATH
from bot.desk.charts import bar_chart_svg
from bot.desk.context import CONTEXT, DeskContext, official_of
from bot.desk.inputs import parse_id
from bot.desk.texts import text
from bot.desk.views import _flash, _language, page
from bot.privacy import mask
from bot.store.broadcasts import Broadcast, BroadcastKind, BroadcastStatus
from bot.store.clock import ago_iso, iso, now_iso

MAX_TEXT = 3000
MAX_OPTIONS = 10
MESSENGER_BUTTON_CHARS = 20  # a quick reply's title, as Messenger shows it
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

_UNDER_WAY = (BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING)


def _topics(ctx: DeskContext) -> dict[str, dict[str, str]]:
    titles = dict(ctx.settings.announcements.topics)
    for topic in ctx.live.faq.topics:
        titles.setdefault(topic.slug, dict(topic.titles))
    return titles


def _broadcast_id(request: web.Request) -> int:
    number = parse_id(request.match_info["broadcast"])
    if number is None:
        raise web.HTTPNotFound()
    return number


def _url(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(value)
    return value


def _read_form(ctx: DeskContext, form: Any, language: str) -> dict[str, Any] | str:
    """The composed broadcast, or what is wrong with it (for the official)."""
    kind = str(form.get("kind", ""))
    kind = kind if kind in ("poll", "survey") else "announcement"
    body = str(form.get("text", "")).strip()[:MAX_TEXT]
    topics = [t for t in map(str, form.getall("topics", [])) if t in _topics(ctx)]
    channels = [c for c in map(str, form.getall("channels", [])) if c in ctx.channels]
    options = [o.strip() for o in str(form.get("options", "")).splitlines() if o.strip()]
    if not body:
        return text("bc_need_text", language)
    if not topics:
        return text("bc_need_topics", language)
    if not channels:
        return text("bc_need_channels", language)
    if kind == "poll" and not 2 <= len(options) <= MAX_OPTIONS:
        return text("bc_need_options", language, most=MAX_OPTIONS)
    stored = options if kind == "poll" else []
    if kind == "survey":
        try:
            stored = questions_json(parse_questions(str(form.get("options", ""))))
        except SurveyFormatError as exc:
            reason = text(f"sv_{exc.problem}", language, **exc.details)
            return text("bc_bad_survey", language, reason=reason)
    try:
        link = _url(str(form.get("link", "")))
        image_url = _url(str(form.get("image_url", "")))
    except ValueError as exc:
        return text("bc_bad_url", language, url=str(exc))
    send_at = now_iso()
    when = str(form.get("send_at", "")).strip()
    if when:
        # The form's time is the officials' (desk.timezone); stored as UTC like all times.
        zone = ZoneInfo(ctx.settings.desk.timezone)
        try:
            local = datetime.fromisoformat(when)
            moment = (local.replace(tzinfo=zone) if local.tzinfo is None else local).astimezone(UTC)
        except (ValueError, OverflowError):  # OverflowError: the year 1 or 9999 in UTC
            return text("bc_bad_time", language)
        send_at = iso(moment)
    return {
        "kind": kind,
        "text": body,
        "link": link,
        "image_url": image_url,
        "options": stored,
        "options_input": str(form.get("options", "")).strip(),
        "multiple": kind == "poll" and bool(form.get("multiple")),
        "topics": topics,
        "channels": channels,
        "send_at": send_at,
        "send_at_input": when,
    }


def _as_typed(form: Any) -> dict[str, Any]:
    """The compose form's fields as the official typed them, to show them again."""
    return {
        "kind": str(form.get("kind", "announcement")),
        "text": str(form.get("text", ""))[:MAX_TEXT],
        "link": str(form.get("link", "")),
        "image_url": str(form.get("image_url", "")),
        "options_input": str(form.get("options", "")),
        "multiple": bool(form.get("multiple")),
        "topics": [str(t) for t in form.getall("topics", [])],
        "channels": [str(c) for c in form.getall("channels", [])],
        "send_at_input": str(form.get("send_at", "")),
    }


async def announcements(request: web.Request) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    return _compose_page(request, _prefill(ctx, request.query))


def _compose_page(
    request: web.Request, draft: dict[str, Any] | None, error: str | None = None
) -> web.Response:
    """The announcements page: the compose form (filled in with ``draft``: what was typed
    before an error or before going back from the preview) and the list sent so far."""
    ctx: DeskContext = request.app[CONTEXT]
    broadcasts = ctx.store.broadcasts
    rows = [(b, broadcasts.progress(b.id)) for b in broadcasts.recent(limit=50)]
    return page(
        request,
        "announcements.html",
        rows=rows,
        topics=_topics(ctx),
        subscribers=ctx.store.subscriptions.counts(),
        channels=sorted(ctx.channels),
        draft=draft,
        error=error,
        status=400 if error else 200,
    )


async def edit(request: web.Request) -> web.Response:
    """ "Change" on the preview: back to the form with everything as it was."""
    return _compose_page(request, _as_typed(await request.post()))


def _prefill(ctx: DeskContext, query: Any) -> dict[str, Any] | None:
    """A compose form filled in from ``?text=...&topics=...`` (e.g. the rumours page's
    "announce a clarification"); nothing is sent before the official's preview."""
    topics = [t for t in query.getall("topics", []) if t in _topics(ctx)]
    body = str(query.get("text", ""))[:MAX_TEXT]
    if not body and not topics:
        return None
    return {
        "kind": "announcement",
        "text": body,
        "link": None,
        "image_url": None,
        "options_input": "",
        "multiple": False,
        "topics": topics,
        "channels": sorted(ctx.channels),
        "send_at_input": "",
    }


async def preview(request: web.Request) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    form = await request.post()
    draft = _read_form(ctx, form, _language(request))
    if isinstance(draft, str):
        return _compose_page(request, _as_typed(form), draft)
    audience, outside = _reach(ctx, draft)
    long_choices = []
    if "messenger" in draft["channels"]:
        # Messenger's buttons show 20 characters: longer choices would be cut off.
        long_choices = [c for c in _choices(draft) if len(c) > MESSENGER_BUTTON_CHARS]
    return page(
        request,
        "announcement_preview.html",
        draft=draft,
        audience=audience,
        recipients=sum(audience.values()) - outside,
        outside=outside,
        long_choices=long_choices,
        button_chars=MESSENGER_BUTTON_CHARS,
        topics=_topics(ctx),
    )


def _reach(ctx: DeskContext, draft: dict[str, Any]) -> tuple[dict[str, int], int]:
    """Subscribers per chosen channel, and how many of Messenger's will be skipped."""
    audience = ctx.store.broadcasts.audience(draft["topics"], draft["channels"])
    outside = 0
    if "messenger" in draft["channels"] and not ctx.settings.announcements.messenger_tag:
        # Outside Messenger's 24-hour window and without a tag: they will be skipped.
        since = ago_iso(timedelta(hours=24))
        outside = ctx.store.broadcasts.silent_since(draft["topics"], "messenger", since)
    return audience, outside


def _choices(draft: dict[str, Any]) -> list[str]:
    """The poll's choices, or the survey's choice answers: what become buttons."""
    if draft["kind"] == "poll":
        return list(draft["options"])
    if draft["kind"] == "survey":
        return [c for q in questions_of(draft["options"]) for c in q.choices]
    return []


async def create(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    form = await request.post()
    language = _language(request)
    draft = _read_form(ctx, form, language)
    if isinstance(draft, str):
        return _compose_page(request, _as_typed(form), draft)
    audience, outside = _reach(ctx, draft)
    if sum(audience.values()) - outside <= 0:
        # Nobody would get it (the preview says so too): nothing to send or schedule.
        return _compose_page(request, _as_typed(form), text("bc_no_recipients", language))
    me = official_of(request)
    broadcast_id = ctx.store.broadcasts.create(
        kind=draft["kind"],
        text=draft["text"],
        link=draft["link"],
        image_url=draft["image_url"],
        options=draft["options"],
        multiple=draft["multiple"],
        topics=draft["topics"],
        channels=draft["channels"],
        send_at=draft["send_at"],
        created_by=me.id,
    )
    ctx.store.officials.audit(
        me, f"{draft['kind']}-created", f"broadcast #{broadcast_id}", draft["text"][:200]
    )
    ctx.broadcaster.wake()
    raise web.HTTPSeeOther(f"{PATH}/announcements/{broadcast_id}")


async def detail(request: web.Request) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    broadcast = ctx.store.broadcasts.get(_broadcast_id(request))
    if broadcast is None:
        raise web.HTTPNotFound(text=text("not_found", _language(request)))
    progress = ctx.store.broadcasts.progress(broadcast.id)
    poll = broadcast.kind == BroadcastKind.POLL
    results = ctx.store.broadcasts.results(broadcast.id) if poll else None
    survey = survey_results(ctx, broadcast) if broadcast.kind == BroadcastKind.SURVEY else None
    return page(
        request,
        "announcement.html",
        b=broadcast,
        progress=progress,
        total=sum(progress.values()),
        reasons=ctx.store.broadcasts.skipped_reasons(broadcast.id),
        results=results,
        survey=survey,
        survey_counts=ctx.store.surveys.counts(broadcast.id),
        topics=_topics(ctx),
        refresh=3 if broadcast.status in _UNDER_WAY else 0,
    )


async def confirm_cancel(request: web.Request) -> web.Response:
    """Cancelling cannot be undone for those not reached yet: the official confirms it."""
    ctx: DeskContext = request.app[CONTEXT]
    broadcast = ctx.store.broadcasts.get(_broadcast_id(request))
    if broadcast is None:
        raise web.HTTPNotFound()
    if broadcast.status not in _UNDER_WAY:
        raise web.HTTPSeeOther(f"{PATH}/announcements/{broadcast.id}")
    progress = ctx.store.broadcasts.progress(broadcast.id)
    waiting = progress.get("pending", 0) + progress.get("sending", 0)
    if broadcast.status == BroadcastStatus.SCHEDULED and not sum(progress.values()):
        # Not started: its recipients are chosen when it starts; this many subscribe now.
        audience = ctx.store.broadcasts.audience(list(broadcast.topics), list(broadcast.channels))
        waiting = sum(audience.values())
    return page(request, "cancel.html", b=broadcast, waiting=waiting)


async def cancel(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    broadcast_id = _broadcast_id(request)
    if ctx.store.broadcasts.cancel(broadcast_id):
        ctx.store.officials.audit(official_of(request), "broadcast-cancelled", f"#{broadcast_id}")
        ctx.broadcaster.wake()
    raise _flash(
        request, f"{PATH}/announcements/{broadcast_id}", text("bc_cancelled", _language(request))
    )


async def close_poll(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    broadcast_id = _broadcast_id(request)
    ctx.store.broadcasts.close_poll(broadcast_id)
    ctx.store.officials.audit(official_of(request), "poll-closed", f"#{broadcast_id}")
    raise web.HTTPSeeOther(f"{PATH}/announcements/{broadcast_id}")


def survey_results(ctx: DeskContext, survey: Broadcast) -> list[dict[str, Any]]:
    """Per question: the labels and counts to chart, the average rating, the texts."""
    questions = questions_of(survey.options)
    answers = ctx.store.surveys.answers(survey.id)
    results = []
    for index, question in enumerate(questions):
        given = [a.answer for a in answers if a.question == index]
        labels = list(SCALE) if question.kind == "scale" else list(question.choices)
        counts = [given.count(label) for label in labels]
        ratings = [r for a in given if question.kind == "scale" and (r := parse_id(a)) is not None]
        results.append(
            {
                "question": question,
                "labels": labels,
                "counts": counts,
                "answers": len(given),
                "average": sum(ratings) / len(ratings) if ratings else None,
                "texts": [mask(a) for a in given] if question.kind == "text" else [],
            }
        )
    return results


async def chart(request: web.Request) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    broadcast = ctx.store.broadcasts.get(_broadcast_id(request))
    if broadcast is None or broadcast.kind == BroadcastKind.ANNOUNCEMENT:
        raise web.HTTPNotFound()
    if broadcast.kind == BroadcastKind.SURVEY:
        index = parse_id(request.query.get("q", "0"))
        results = survey_results(ctx, broadcast)
        if index is None or index >= len(results) or not results[index]["labels"]:
            raise web.HTTPNotFound()
        item = results[index]
        svg = bar_chart_svg(item["labels"], item["counts"], title=item["question"].text)
    else:
        counts, _ = ctx.store.broadcasts.results(broadcast.id)
        svg = bar_chart_svg(list(broadcast.options), counts, title=broadcast.text)
    return web.Response(text=svg, content_type="image/svg+xml")


async def results_csv(request: web.Request) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    broadcast = ctx.store.broadcasts.get(_broadcast_id(request))
    if broadcast is None or broadcast.kind == BroadcastKind.ANNOUNCEMENT:
        raise web.HTTPNotFound()
    out = io.StringIO()
    writer = Writer(out)
    if broadcast.kind == BroadcastKind.SURVEY:
        _survey_csv(ctx, broadcast, writer)
        return _csv_response(out, f"survey-{broadcast.id}.csv")
    counts, voters = ctx.store.broadcasts.results(broadcast.id)
    writer.writerow(["option", "votes", "share_of_voters"])
    for option, count in zip(broadcast.options, counts, strict=True):
        writer.writerow([option, count, f"{count / voters:.3f}" if voters else "0"])
    writer.writerow([])
    writer.writerow(["voter", "channel", "option", "voted_at"])
    for vote in ctx.store.broadcasts.votes(broadcast.id):
        writer.writerow(
            [vote.citizen_id, vote.channel, broadcast.options[vote.option], vote.created_at]
        )
    return _csv_response(out, f"poll-{broadcast.id}.csv")


def _survey_csv(ctx: DeskContext, survey: Broadcast, writer: Writer) -> None:
    """One row per citizen, one column per question; free text masked."""
    questions = questions_of(survey.options)
    writer.writerow(["respondent", *[q.text for q in questions]])
    rows: dict[int, list[str]] = {}
    for answer in ctx.store.surveys.answers(survey.id):
        row = rows.setdefault(answer.citizen_id, [""] * len(questions))
        if answer.question < len(questions):
            row[answer.question] = mask(answer.answer)
    for number, (_, row) in enumerate(sorted(rows.items()), start=1):
        writer.writerow([number, *row])


def _csv_response(out: io.StringIO, filename: str) -> web.Response:
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"),  # a BOM: Excel reads it as UTF-8
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# Campaign links


async def campaigns(request: web.Request) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    telegram = ctx.channels.get("telegram")
    username = getattr(getattr(telegram, "bot", None), "username", None) if telegram else None
    return page(
        request,
        "campaigns.html",
        rows=ctx.store.campaigns.figures(),
        telegram_username=username,
        page_username=ctx.settings.messenger.page_username,
        base=f"{request.scheme}://{request.host}",
    )


async def create_campaign(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    language = _language(request)
    form = await request.post()
    slug = str(form.get("slug", "")).strip().lower()
    title = str(form.get("title", "")).strip()[:200]
    if not _SLUG.match(slug) or len(slug) > 60:
        raise _flash(request, f"{PATH}/campaigns", text("camp_bad_slug", language), "error")
    if not ctx.store.campaigns.create(slug, title or slug, official_of(request).id):
        raise _flash(request, f"{PATH}/campaigns", text("camp_exists", language), "error")
    ctx.store.officials.audit(official_of(request), "campaign-created", slug, title)
    raise _flash(request, f"{PATH}/campaigns", text("camp_created", language, slug=slug))
