"""The desk's pages: sign-in, inbox, one escalation, history, training, audit log.

Plain server-rendered HTML forms (Post/Redirect/Get), no JavaScript needed, so the desk
works on any phone. Every handler here runs behind ``guard`` (see ``bot.desk.app``):
signed-in, right role, same origin and a valid CSRF token for every POST.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from bot.core.answerer import render_answer
from bot.core.decision import Candidate
from bot.desk.auth import LOGIN_COOKIE, PATH, Auth, TooManyAttempts, tokens_match
from bot.desk.context import CONTEXT, DeskContext, official_of
from bot.desk.faq_forms import (
    entry_label,
    masked_question,
    missing_titles,
    read_new_entry,
    suggested_id,
    used_entry,
)
from bot.desk.inputs import parse_id, parse_ids
from bot.desk.texts import has_text, text
from bot.desk.translations import translate
from bot.faq.edit import Edit, FaqEditError
from bot.faq.model import Entry
from bot.privacy import mask
from bot.store.escalations import STATUSES, AlreadyHandled, InboxFilter, Ticket, TicketStatus
from bot.store.officials import Official
from bot.translatable import message_of, say

log = logging.getLogger(__name__)

CLOSE_REASONS = ("duplicate", "spam", "elsewhere", "out_of_scope")
MAX_ANSWER_CHARS = 4000
MIN_NEW_ENTRY_QUESTIONS = 2
MIN_GUESS = 0.02  # guesses below this confidence are not worth an official's time
INBOX_POLL_MS = 15_000  # how often an open inbox asks whether questions came in
FLASH = ("ok", "error", "sig")  # query keys of the one-time messages (see _flash)


def _language(request: web.Request) -> str:
    official = request.get("official")
    ctx: DeskContext = request.app[CONTEXT]
    chosen = official.language if official is not None else None
    return chosen if chosen in ctx.languages else ctx.languages[0]


def t(request: web.Request, key: str, **values: object) -> str:
    """A desk text in the official's language."""
    return text(key, _language(request), **values)


def _flash_signature(request: web.Request, kind: str, message: str) -> str:
    """Keyed by the session's CSRF token: only the desk can make a message to show, and
    only for the session it was made in (never a link's text as an alert)."""
    key = str(request.get("csrf", "")).encode()
    return hmac.new(key, f"{kind}\x00{message}".encode(), hashlib.sha256).hexdigest()[:32]


def _flash(request: web.Request, location: str, message: str, kind: str = "ok") -> web.HTTPSeeOther:
    """Redirect after a POST, carrying a short message to show once."""
    separator = "&" if "?" in location else "?"
    signed = {kind: message, "sig": _flash_signature(request, kind, message)}
    return web.HTTPSeeOther(f"{location}{separator}{urlencode(signed)}")


def _flashed(request: web.Request, kind: str) -> str | None:
    """The one-time message of this kind, if the desk made it for this session."""
    message = request.query.get(kind)
    if not message or not request.get("csrf"):
        return None
    expected = _flash_signature(request, kind, message)
    return message if hmac.compare_digest(expected, request.query.get("sig", "")) else None


def page(request: web.Request, template: str, **values: Any) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    language = _language(request)
    desk = ctx.settings.desk
    official = request.get("official")
    status = int(values.pop("status", 200))
    for kind in ("ok", "error"):  # a page's own message, else the one-time one
        if values.get(kind) is None:
            values[kind] = _flashed(request, kind)
    values |= {
        "mask": mask,
        "waited": lambda iso: waited(iso, language),
        "local": lambda iso: local_time(iso, desk.timezone),
        "sla": lambda iso: sla_colour(iso, desk.sla_hours),
        "lang": language,
        "t": lambda key, **kw: text(key, language, **kw),
        "tr": lambda said: translate(said, language, desk.timezone),
        "topic_title": lambda slug: topic_title(ctx, slug, language),
        "closed_reason": lambda stored: closed_reason(stored, language),
        "official": official,
        "csrf": request.get("csrf", ""),
        "now": datetime.now(UTC),
        "zip": zip,
        "government": desk.government_name,
        # Every page says when the bot answers from an FAQ older than the files.
        "model_stale": official is not None and ctx.live.stale,
        "training_busy": official is not None and ctx.learning.busy,
    }
    return aiohttp_jinja2.render_template(template, request, values, status=status)


def closed_reason(stored: str | None, language: str) -> str:
    """A closing reason as stored ("spam: note") in the official's words."""
    code, _, note = (stored or "").partition(": ")
    if code in (*CLOSE_REASONS, "other"):
        code = text(f"cr_{code}", language)
    return f"{code}: {note}" if note else code


def topic_title(ctx: DeskContext, slug: str | None, language: str) -> str:
    """A topic as officials and citizens read it: its title, never its code."""
    if not slug:
        return ""
    topic = ctx.live.faq.topic(slug)
    if topic is not None:
        return topic.title(language)
    titles = ctx.settings.announcements.topics.get(slug)
    if titles:
        return titles.get(language) or next(iter(titles.values()), slug)
    return slug


def local_time(iso: str | None, timezone: str) -> str:
    """A stored UTC time as officials read it: their own time zone, to the minute."""
    if not iso:
        return "?"
    moment = datetime.fromisoformat(iso)
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def _age(iso: str) -> float:
    """Seconds since an ISO timestamp."""
    return (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()


def waited(iso: str, language: str) -> str:
    minutes = int(_age(iso) // 60)
    if minutes < 60:
        return text("minutes_short", language, n=minutes)
    if minutes < 48 * 60:
        return text("hours_short", language, n=minutes // 60)
    return text("days_short", language, n=minutes // (24 * 60))


def sla_colour(iso: str, sla_hours: float) -> str:
    """Green under half the target time, amber under all of it, red past it."""
    used = _age(iso) / (sla_hours * 3600)
    return "green" if used < 0.5 else "amber" if used < 1 else "red"


def _ticket_id(request: web.Request) -> int:
    """The ticket in the URL, which must exist (a made-up number is a 404, not an error
    in the handler that acts on it)."""
    number = parse_id(request.match_info["ticket"])
    if number is None or request.app[CONTEXT].store.escalations.get(number) is None:
        raise web.HTTPNotFound()
    return number


# Sign-in


async def login_page(request: web.Request) -> web.Response:
    auth: Auth = request.app[CONTEXT].auth
    if auth.session(request) is not None:
        raise web.HTTPSeeOther(PATH + "/")
    return _login_form(request)


def _login_form(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    """The sign-in form, with a CSRF token that must come back with the same cookie."""
    auth: Auth = request.app[CONTEXT].auth
    token = auth.login_token(request)
    next_page = request.query.get("next", "")
    response = page(request, "login.html", next=next_page, login_csrf=token, login_error=error)
    auth.set_login_cookie(response, token)
    response.set_status(status)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    form = await request.post()
    language = ctx.languages[0]
    if not tokens_match(request.cookies.get(LOGIN_COOKIE), form.get("csrf")):
        raise web.HTTPForbidden(text=text("csrf", language))
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    address = request.remote or "?"  # the client's, behind a trusted proxy (bot.http_security)
    try:
        official = await ctx.auth.sign_in(name, password, address)
    except TooManyAttempts:
        minutes = int(ctx.settings.desk.login_window_minutes)
        return _login_form(request, text("too_many", language, minutes=minutes), 429)
    if official is None:
        return _login_form(request, text("bad_login", language), 401)
    target = str(form.get("next") or "")
    if not target.startswith(PATH + "/") or target.startswith("//"):
        target = PATH + "/"
    response = web.HTTPSeeOther(target)
    ctx.auth.start_session(response, official)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    ctx.store.officials.audit(official_of(request), "sign-out")
    response = web.HTTPSeeOther(PATH + "/login")
    ctx.auth.end_session(request, response)
    return response


async def set_language(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    official = official_of(request)
    current = _language(request)
    other = next((lang for lang in ctx.languages if lang != current), current)
    ctx.store.officials.update(official.id, language=other)
    back = request.headers.get("Referer", "")
    path = back.split(request.host, 1)[-1] if request.host in back else PATH + "/"
    if not path.startswith(PATH):
        path = PATH + "/"
    # Back to the same page, without the one-time message of the form sent before it.
    parts = urlsplit(path)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in FLASH]
    raise web.HTTPSeeOther(parts.path + (f"?{urlencode(kept)}" if kept else ""))


# Lists


def _filter(request: web.Request, default_status: str) -> InboxFilter:
    query = request.query
    status = query.get("status", default_status)
    if status not in STATUSES:
        status = default_status
    raw = query.get("assignee", "")
    assignee = official_of(request).id if raw == "me" else parse_id(raw)
    return InboxFilter(
        status=status,
        topic=query.get("topic") or None,
        channel=query.get("channel") or None,
        assignee=assignee,
        search=(query.get("q") or "").strip()[:200] or None,
    )


async def inbox(request: web.Request) -> web.Response:
    return _list(request, TicketStatus.OPEN, "inbox")


async def history(request: web.Request) -> web.Response:
    return _list(request, TicketStatus.ANSWERED, "history")


def _list(request: web.Request, default_status: str, view: str) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    language = _language(request)
    where = _filter(request, default_status)
    rows = ctx.store.escalations.find(where, limit=200)
    used = {*ctx.store.escalations.topics(), *(t.slug for t in ctx.live.faq.topics)}
    topics = sorted(
        ((slug, topic_title(ctx, slug, language)) for slug in used),
        key=lambda choice: choice[1].casefold(),
    )
    return page(
        request,
        "list.html",
        view=view,
        rows=rows,
        where=where,
        query=request.query,
        topics=topics,
        newest=ctx.store.escalations.newest_open() or 0,
        poll_ms=INBOX_POLL_MS,
        channels=sorted(ctx.channels),
        officials=ctx.store.officials.all(),
        open_count=ctx.store.escalations.count_open(),
        sla_hours=ctx.settings.desk.sla_hours,
    )


async def inbox_state(request: web.Request) -> web.Response:
    """For the inbox page's script: whether questions came in since it was drawn."""
    ctx: DeskContext = request.app[CONTEXT]
    return web.json_response(
        {
            "open": ctx.store.escalations.count_open(),
            "newest": ctx.store.escalations.newest_open() or 0,
        }
    )


# One escalation


async def ticket(request: web.Request) -> web.Response:
    return await ticket_page(request, _ticket_id(request))


async def ticket_page(
    request: web.Request,
    number: int,
    *,
    draft: str | None = None,
    ticked: frozenset[int] = frozenset(),
    unsent: str | None = None,
    faq_form: dict[str, Any] | None = None,
    faq_mode: str = "",
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    """The ticket's page; after a refused form, with what the official typed (``draft``,
    ``faq_form``), or the answer a quicker colleague made unnecessary (``unsent``)."""
    ctx: DeskContext = request.app[CONTEXT]
    row = ctx.store.escalations.get(number)
    if row is None:
        raise web.HTTPNotFound()
    faq = ctx.live.faq
    language = row.citizen_language or ctx.languages[0]
    official_language = _language(request)
    guesses: list[tuple[Candidate, Entry]] = []
    if row.question:
        decision = await ctx.decide(row.question, row.citizen_language)
        for candidate in decision.candidates[:5]:
            if candidate.confidence < MIN_GUESS:
                break  # ranked best first: the rest are noise
            if (known := faq.get(candidate.faq_id)) is not None:
                guesses.append((candidate, known))
    if draft is None:
        draft = row.answer or ""
        used = request.query.get("use")
        if used and (entry := faq.get(used)) is not None and row.status is TicketStatus.OPEN:
            draft = render_answer(entry, entry.answer_language(language, ctx.languages))
    similar = await ctx.handover.similar(number) if row.status is TicketStatus.OPEN else []
    answered = row.status is TicketStatus.ANSWERED
    source = used_entry(row.answer, faq, ctx.languages) if answered else None
    if faq_form is None:
        faq_form = _faq_prefill(ctx, row, source, guesses, language)
    return page(
        request,
        "ticket.html",
        row=row,
        messages=ctx.store.escalations.conversation(row.citizen_id, row.message_id),
        guesses=guesses,
        draft=draft,
        ticked=ticked,
        unsent=unsent,
        similar=similar,
        close_reasons=CLOSE_REASONS,
        citizen_language=language,
        entries=sorted(faq.entries, key=lambda e: e.id),
        entry_label=lambda entry: entry_label(entry, official_language),
        used_entry=source.id if source else "",
        f=faq_form,
        faq_mode=faq_mode or ("example" if source else "entry"),
        topics=_topic_choices(ctx, row.topic, official_language),
        min_questions=MIN_NEW_ENTRY_QUESTIONS,
        learning=ctx.learning,
        languages=ctx.languages,
        error=error,
        status=status,
    )


def _faq_prefill(
    ctx: DeskContext,
    row: Ticket,
    source: Entry | None,
    guesses: list[tuple[Candidate, Entry]],
    language: str,
) -> dict[str, Any]:
    """What "add to FAQ" starts with: the question without personal data; the entry
    whose answer was sent (never the model's guess) or else a new entry in the topic of
    the ticket, with the official's answer."""
    question = masked_question(row.question)
    topic = source.topic if source else (row.topic or (guesses[0][1].topic if guesses else ""))
    return {
        "entry": source.id if source else "",
        "question": question,
        "language": language,
        "topic": topic,
        "entry_id": suggested_id(question, ctx.live.faq),
        f"questions_{language}": question,
        f"answer_{language}": row.answer or "",
    }


def _topic_choices(ctx: DeskContext, current: str | None, language: str) -> list[tuple[str, str]]:
    """(code, title) of the FAQ's topics, and the ticket's own if the FAQ lost it."""
    choices = [(topic.slug, topic.title(language)) for topic in ctx.live.faq.topics]
    if current and current not in {slug for slug, _ in choices}:
        choices.append((current, topic_title(ctx, current, language)))
    return sorted(choices, key=lambda choice: choice[1].casefold())


async def assign(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    number = _ticket_id(request)
    form = await request.post()
    me = official_of(request)
    ctx.handover.assign(number, None if form.get("unassign") else me, by=me)
    raise web.HTTPSeeOther(f"{PATH}/tickets/{number}")


async def answer(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    number = _ticket_id(request)
    form = await request.post()
    language = _language(request)
    here = f"{PATH}/tickets/{number}"
    reply = str(form.get("answer", "")).strip()[:MAX_ANSWER_CHARS]
    if not reply:
        raise _flash(request, here, text("empty_answer", language), "error")
    me = official_of(request)
    others = [other for other in parse_ids(form.getall("also", [])) if other != number]
    if others and mask(reply) != reply:
        # An answer naming one citizen's NIK, phone or e-mail must not reach strangers.
        return await ticket_page(
            request,
            number,
            draft=reply,
            ticked=frozenset(others),
            error=text("similar_personal", language),
            status=400,
        )
    try:
        delivery = await ctx.handover.answer(number, me, reply)
    except AlreadyHandled:
        # Nothing typed is lost: the page shows the colleague's answer and this one.
        return await ticket_page(
            request, number, unsent=reply, error=text("already", language), status=409
        )
    message = text("answer_sent", language, state=text(f"dl_{delivery.state.value}", language))
    sent = 0
    for other in others:
        try:
            await ctx.handover.answer(other, me, reply)
            sent += 1
        except AlreadyHandled:
            continue
    if sent:
        message += " " + text("also_sent", language, count=sent)
    raise _flash(request, here, message)


async def close(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    number = _ticket_id(request)
    form = await request.post()
    language = _language(request)
    reason = str(form.get("reason", ""))
    note = str(form.get("note", "")).strip()[:500]
    if reason not in CLOSE_REASONS:
        reason = "other"
    here = f"{PATH}/tickets/{number}"
    try:
        ctx.handover.close(number, official_of(request), f"{reason}: {note}" if note else reason)
    except AlreadyHandled:
        raise _flash(request, here, text("already", language), "error") from None
    raise _flash(request, here, text("closed_ok", language))


async def set_topic(request: web.Request) -> web.StreamResponse:
    """Officials correct the topic the model guessed (the inbox filters and the dashboard
    count by it); every change is in the audit log."""
    ctx: DeskContext = request.app[CONTEXT]
    number = _ticket_id(request)
    form = await request.post()
    language = _language(request)
    here = f"{PATH}/tickets/{number}"
    row = ctx.store.escalations.get(number)
    topic = str(form.get("topic", "")).strip()
    known = {slug for slug, _ in _topic_choices(ctx, row.topic if row else None, language)}
    if row is None or topic not in known:
        raise _flash(request, here, text("topic_unknown", language), "error")
    if topic != row.topic:
        ctx.store.escalations.set_topic(number, topic)
        ctx.store.officials.audit(
            official_of(request), "topic", f"ticket #{number}", f"{row.topic or '-'} -> {topic}"
        )
    raise _flash(
        request, here, text("topic_changed", language, topic=topic_title(ctx, topic, language))
    )


async def retry(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    number = _ticket_id(request)
    language = _language(request)
    try:
        delivery = await ctx.handover.deliver(number)
    except ValueError as exc:
        raise _flash(request, f"{PATH}/tickets/{number}", str(exc), "error") from None
    state = text(f"dl_{delivery.state.value}", language)
    raise _flash(request, f"{PATH}/tickets/{number}", text("answer_sent", language, state=state))


async def add_to_faq(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    number = _ticket_id(request)
    form = await request.post()
    language = _language(request)
    here = f"{PATH}/tickets/{number}"
    row = ctx.store.escalations.get(number)
    if row is None or row.status is not TicketStatus.ANSWERED:
        raise _flash(request, here, text("not_found", language), "error")
    me = official_of(request)
    mode = "entry" if form.get("mode") == "entry" else "example"
    try:
        if mode == "entry":
            edit = add_entry_from_form(ctx, me, form, language)
        else:
            edit = ctx.learning.add_question(
                me,
                str(form.get("entry", "")),
                str(form.get("language", "")),
                str(form.get("question", "")).strip(),
            )
    except FaqEditError as exc:
        # Back to the form as it was filled in, with what is wrong in the official's words.
        return await ticket_page(
            request,
            number,
            faq_form=_typed(form, ctx.languages),
            faq_mode=mode,
            error=faq_problem(exc, request),
            status=400,
        )
    ctx.store.escalations.mark_added_to_faq(number, edit.entry_id)
    raise added_to_faq(request, edit)


def _typed(form: Any, languages: Sequence[str]) -> dict[str, Any]:
    """Every field of an "add to FAQ" form, as typed."""
    values = {key: str(form.get(key, "")) for key in ("entry", "question", "language")}
    return values | read_new_entry(form, languages).values()


def faq_problem(exc: FaqEditError, request: web.Request) -> str:
    """Why an FAQ edit was refused, in the official's language."""
    ctx: DeskContext = request.app[CONTEXT]
    return translate(message_of(exc), _language(request), ctx.settings.desk.timezone)


def add_entry_from_form(ctx: DeskContext, official: Official, form: Any, language: str) -> Edit:
    """The "new FAQ entry" form (ticket and clusters pages): topic or new topic (with a
    title per language), entry id, and example questions and an answer in one language
    or several; ``FaqEditError`` when refused."""
    entry = read_new_entry(form, ctx.languages)
    missing = missing_titles(entry, ctx.live.faq, ctx.languages)
    if missing:
        names = ", ".join(text(f"in_lang_{code}", language) for code in missing)
        raise FaqEditError(text("need_titles", language, languages=names))
    return ctx.learning.add_entry(
        official,
        entry.chosen_topic,
        entry.entry_id,
        entry.questions,
        entry.answers,
        topic_titles=entry.titles if entry.new_topic else None,
    )


def added_to_faq(request: web.Request, edit: Edit) -> web.HTTPSeeOther:
    """To the training page, which shows the retraining the edit started."""
    language = _language(request)
    message = (
        f"{text('added_to_faq', language, entry=edit.entry_id)} {text('train_started', language)}"
    )
    return _flash(request, f"{PATH}/training", message)


# Training and audit


async def training(request: web.Request) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    return page(
        request,
        "training.html",
        learning=ctx.learning,
        runs=list(reversed(ctx.learning.runs)),
        model=ctx.live.loaded.model.info,
        stale=ctx.live.stale,
        calibration=ctx.live.loaded.model.info.calibration,
        refresh=3 if ctx.learning.busy else 0,
        moment=lambda at: local_time(at.isoformat(), ctx.settings.desk.timezone),
        no_banner=True,
    )


async def retrain(request: web.Request) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    me = official_of(request)
    ctx.store.officials.audit(me, "retrain")
    ctx.learning.retrain(say("{official}: retrain", official=me.name))
    raise web.HTTPSeeOther(f"{PATH}/training")


async def audit(request: web.Request) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    language = _language(request)
    offset = parse_id(request.query.get("offset", "0")) or 0
    return page(
        request,
        "audit.html",
        rows=ctx.store.officials.audit_log(200, offset),
        offset=offset,
        action=lambda code: text(f"au_{code}", language) if has_text(f"au_{code}") else code,
    )
