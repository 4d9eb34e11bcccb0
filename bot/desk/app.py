"""The desk as an aiohttp sub-application mounted at ``/desk``, behind one guard.

The guard runs before every handler of the sub-application, so a new page cannot be
added without it: signed in (else to the sign-in page), the right role (admin-only
pages say so on the handler), and for every POST the same origin and the session's CSRF
token. What the URL and the form carry is checked first (``bot.desk.inputs``): a bad
value gets a 4xx page in the official's language, whatever handler it was meant for.
Responses, error pages and redirects included, are never cached and may not be framed.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.desk import (
    broadcast_views,
    dashboard_views,
    delivery_views,
    export_views,
    faq_views,
    insight_views,
    views,
)
from bot.desk.auth import PATH, same_origin, tokens_match
from bot.desk.context import CONTEXT, DeskContext
from bot.desk.inputs import BadInput, check_text, read_form, read_upload

log = logging.getLogger(__name__)
PUBLIC = {views.login_page, views.login}
ADMIN_ONLY: set[Any] = {
    views.audit,
    export_views.export_page,
    export_views.export_download,
    faq_views.faq_page,
    faq_views.download,
    faq_views.upload,
    faq_views.apply,
}
UPLOADS: set[Any] = {faq_views.upload}
_STATIC = resources.files("bot.desk") / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


# Errors raised by handlers (or the router), shown as a desk page with this text.
ERROR_TEXTS = {400: "bad_input", 404: "not_found", 413: "too_large"}


def _refuse(request: web.Request, status: int, key: str) -> web.Response:
    return _with_status(views.page(request, "message.html", message=views.t(request, key)), status)


@web.middleware
async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response = await _guarded(request, handler)
    except BadInput as refused:
        response = _refuse(request, refused.status, refused.key)
    except web.HTTPException as exc:
        if exc.status not in ERROR_TEXTS:
            exc.headers.update(SECURITY_HEADERS)  # redirects, 405 (with its Allow header)
            raise
        response = _refuse(request, exc.status, ERROR_TEXTS[exc.status])
    except Exception:
        # The traceback goes to the log; the official gets a page in their language.
        log.exception("desk: error while answering %s %s", request.method, request.path)
        response = _refuse(request, 500, "server_error")
    response.headers.update(SECURITY_HEADERS)
    return response


async def _guarded(request: web.Request, handler: Any) -> web.StreamResponse:
    ctx: DeskContext = request.app[CONTEXT]
    target = getattr(handler, "__wrapped__", handler)
    session = ctx.auth.session(request)
    if session is not None:  # known first, so that refusals speak the official's language
        request["official"] = session.official
        request["csrf"] = session.csrf_token
    if request.method == "POST" and not same_origin(request):
        return _refuse(request, 403, "csrf")
    check_text([*request.query.values(), *request.match_info.values()])
    form: Any = None
    if request.method == "POST" and target in UPLOADS:
        if session is None or not session.official.is_admin:  # before reading megabytes
            return _refuse(request, 401 if session is None else 403, "forbidden")
        upload = await read_upload(request)  # a file: its own limits, read as a stream
        request["upload"] = upload
        form = upload.fields
    elif request.method == "POST":
        form = await read_form(request)
    if target in PUBLIC or request.match_info.route.name == "static":
        return await handler(request)
    if session is None:
        if request.method == "GET":
            raise web.HTTPSeeOther(f"{PATH}/login?{urlencode({'next': request.path_qs})}")
        return _refuse(request, 401, "forbidden")
    if target in ADMIN_ONLY and not session.official.is_admin:
        return _refuse(request, 403, "forbidden")
    if form is not None and not tokens_match(session.csrf_token, form.get("csrf")):
        return _refuse(request, 403, "csrf")
    return await handler(request)


def _with_status(response: web.Response, status: int) -> web.Response:
    response.set_status(status)
    return response


STATIC_FILES = {"desk.css": "text/css", "desk.js": "text/javascript"}


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    return web.Response(
        text=(_STATIC / name).read_text(encoding="utf-8"), content_type=STATIC_FILES[name]
    )


def create_desk(ctx: DeskContext) -> web.Application:
    desk = web.Application(middlewares=[guard])
    desk[CONTEXT] = ctx
    aiohttp_jinja2.setup(
        desk,
        loader=jinja2.PackageLoader("bot.desk", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        # A text removed by retention is NULL: show nothing rather than "None".
        finalize=lambda value: "" if value is None else value,
    )
    r = desk.router
    r.add_get("/static/{name}", static_file, name="static")
    r.add_get("/login", views.login_page)
    r.add_post("/login", views.login)
    r.add_post("/logout", views.logout)
    r.add_post("/language", views.set_language)
    r.add_get("/", views.inbox)
    r.add_get("/inbox/state", views.inbox_state)
    r.add_get("/history", views.history)
    r.add_get("/dashboard", dashboard_views.dashboard)
    r.add_get("/tickets/{ticket}", views.ticket)
    r.add_post("/tickets/{ticket}/assign", views.assign)
    r.add_post("/tickets/{ticket}/answer", views.answer)
    r.add_post("/tickets/{ticket}/close", views.close)
    r.add_post("/tickets/{ticket}/topic", views.set_topic)
    r.add_post("/tickets/{ticket}/retry", views.retry)
    r.add_post("/tickets/{ticket}/faq", views.add_to_faq)
    r.add_get("/undelivered", delivery_views.undelivered)
    r.add_post("/undelivered/{item}/retry", delivery_views.resend)
    r.add_get("/training", views.training)
    r.add_post("/training", views.retrain)
    r.add_get("/audit", views.audit)
    r.add_get("/announcements", broadcast_views.announcements)
    r.add_post("/announcements", broadcast_views.create)
    r.add_post("/announcements/preview", broadcast_views.preview)
    r.add_post("/announcements/edit", broadcast_views.edit)
    r.add_get("/announcements/{broadcast}", broadcast_views.detail)
    r.add_get("/announcements/{broadcast}/cancel", broadcast_views.confirm_cancel)
    r.add_post("/announcements/{broadcast}/cancel", broadcast_views.cancel)
    r.add_post("/announcements/{broadcast}/close", broadcast_views.close_poll)
    r.add_get("/announcements/{broadcast}/chart.svg", broadcast_views.chart)
    r.add_get("/announcements/{broadcast}/results.csv", broadcast_views.results_csv)
    r.add_get("/campaigns", broadcast_views.campaigns)
    r.add_post("/campaigns", broadcast_views.create_campaign)
    r.add_get("/faq", faq_views.faq_page)
    r.add_get("/faq/download", faq_views.download)
    r.add_post("/faq/upload", faq_views.upload)
    r.add_post("/faq/apply", faq_views.apply)
    desk[faq_views.UPLOADED] = faq_views.Uploaded()
    r.add_get("/export", export_views.export_page)
    r.add_post("/export", export_views.export_download)
    desk[insight_views.INSIGHT] = insight_views.create_insight(ctx)
    r.add_get("/clusters", insight_views.clusters)
    r.add_post("/clusters/faq", insight_views.cluster_to_faq)
    r.add_get("/rumours", insight_views.rumours)
    r.add_post("/rumours/{message}/ticket", insight_views.open_ticket)
    return desk
