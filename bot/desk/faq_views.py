"""The FAQ as a spreadsheet on the desk (admins): download it, edit it in any spreadsheet
program, upload it, see what it changes, and confirm.

The spreadsheet is the one `tanya export` writes and `tanya import` reads (a row per
entry, every language side by side), so the round trip that needed shell access to the
server is a download and an upload. An upload changes nothing before the admin saw the
preview (``bot.faq.upload``); until then it waits in a temporary folder of its own.
"""

from __future__ import annotations

import re
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.desk.auth import PATH
from bot.desk.context import CONTEXT, DeskContext, official_of
from bot.desk.inputs import Upload
from bot.desk.texts import text
from bot.desk.translations import translate
from bot.desk.views import _flash, _language, page
from bot.faq.edit import FaqEditError
from bot.faq.importing import READERS
from bot.faq.loader import read_faq
from bot.faq.problems import FaqError
from bot.faq.rows import UnreadableFile
from bot.faq.spreadsheet import FORMATS, export_faq
from bot.faq.upload import Preview, apply_import, preview_import
from bot.translatable import message_of, say

KEEP_SECONDS = 3600  # an upload waits this long for its confirmation
MAX_WAITING = 10
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
}


@dataclass
class Staged:
    """An uploaded file waiting for its confirmation."""

    folder: tempfile.TemporaryDirectory[str]
    path: Path
    official: int
    language: str
    digest: str
    missing: frozenset[str]
    at: float = field(default_factory=time.monotonic)


class Uploaded:
    """The uploads waiting for confirmation, by a token only their page knows."""

    def __init__(self) -> None:
        self._waiting: dict[str, Staged] = {}

    def add(self, staged: Staged) -> str:
        self._expire()
        while len(self._waiting) >= MAX_WAITING:
            self._drop(next(iter(self._waiting)))
        token = secrets.token_urlsafe(16)
        self._waiting[token] = staged
        return token

    def take(self, token: str, official: int) -> Staged | None:
        """The upload, once: a confirmation (or a stale page sent twice) uses it up."""
        self._expire()
        staged = self._waiting.get(token)
        if staged is None or staged.official != official:
            return None
        del self._waiting[token]
        return staged

    def _expire(self) -> None:
        for token in [
            t for t, s in self._waiting.items() if time.monotonic() - s.at > KEEP_SECONDS
        ]:
            self._drop(token)

    def _drop(self, token: str) -> None:
        staged = self._waiting.pop(token, None)
        if staged is not None:
            staged.folder.cleanup()


UPLOADED = web.AppKey("faq_uploads", Uploaded)


def _accepted() -> str:
    return ",".join(sorted(s for s in READERS if s not in (".txt",)))


async def faq_page(request: web.Request) -> web.Response:
    return _page(request)


def _page(
    request: web.Request,
    *,
    preview: Preview | None = None,
    token: str = "",
    filename: str = "",
    problem: str = "",
) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    language = _language(request)
    zone = ctx.settings.desk.timezone
    return page(
        request,
        "faq.html",
        preview=preview,
        token=token,
        filename=filename,
        accept=_accepted(),
        languages=ctx.languages,
        entries=len(ctx.live.faq),
        topics=len(ctx.live.faq.topics),
        notice=lambda notice: _notice(notice, language, zone),
        error=problem or None,
        status=400 if problem else 200,
    )


async def download(request: web.Request) -> web.Response:
    ctx: DeskContext = request.app[CONTEXT]
    file_format = request.query.get("format", "xlsx")
    if file_format not in FORMATS:
        raise web.HTTPNotFound()
    try:
        faq = read_faq(ctx.settings.faq.dir)
    except FaqError:
        raise _flash(
            request, f"{PATH}/faq", text("faq_broken", _language(request)), "error"
        ) from None
    with tempfile.TemporaryDirectory(prefix="tanya-faq-download-") as name:
        out = Path(name) / f"faq.{file_format}"
        export_faq(faq, out, file_format)
        body = out.read_bytes()
    day = datetime.now(ZoneInfo(ctx.settings.desk.timezone)).strftime("%Y-%m-%d")
    ctx.store.officials.audit(official_of(request), "faq-download", f"faq.{file_format}")
    return web.Response(
        body=body,
        content_type=CONTENT_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="faq-{day}.{file_format}"'},
    )


async def upload(request: web.Request) -> web.Response:
    """Read the file as `tanya import` would, change nothing, and show what it changes."""
    ctx: DeskContext = request.app[CONTEXT]
    language = _language(request)
    sent: Upload = request["upload"]
    if not sent.content:
        return _page(request, problem=text("faq_no_file", language))
    column_language = sent.fields.get("language", "")
    if column_language not in ctx.languages:
        column_language = ctx.languages[0]
    folder = tempfile.TemporaryDirectory(prefix="tanya-faq-upload-")
    path = Path(folder.name) / _safe_name(sent.filename)
    path.write_bytes(sent.content)
    try:
        preview = preview_import(path, ctx.settings.faq.dir, column_language)
    except (UnreadableFile, FaqEditError) as exc:
        folder.cleanup()
        reason = translate(message_of(exc), language, ctx.settings.desk.timezone)
        return _page(
            request, problem=text("faq_unreadable", language, file=path.name, reason=reason)
        )
    staged = Staged(
        folder,
        path,
        official_of(request).id,
        column_language,
        preview.digest,
        frozenset(e.id for e in preview.missing),
    )
    token = request.app[UPLOADED].add(staged)
    return _page(request, preview=preview, token=token, filename=path.name)


async def apply(request: web.Request) -> web.StreamResponse:
    """The confirmed upload: imported as previewed, entries removed only when ticked."""
    ctx: DeskContext = request.app[CONTEXT]
    language = _language(request)
    form = await request.post()
    me = official_of(request)
    staged = request.app[UPLOADED].take(str(form.get("token", "")), me.id)
    if staged is None:
        raise _flash(request, f"{PATH}/faq", text("faq_expired", language), "error")
    remove = sorted({str(v) for v in form.getall("remove", [])} & staged.missing)
    try:
        report = apply_import(
            staged.path, ctx.settings.faq.dir, staged.language, staged.digest, remove
        )
    except (UnreadableFile, FaqEditError) as exc:
        reason = translate(message_of(exc), language, ctx.settings.desk.timezone)
        raise _flash(request, f"{PATH}/faq", reason, "error") from None
    finally:
        staged.folder.cleanup()
    summary = text(
        "faq_applied",
        language,
        added=len(report.created),
        changed=len(report.updated),
        removed=len(remove),
    )
    detail = f"{staged.path.name}: {len(report.created)} new, {len(report.updated)} changed"
    ctx.store.officials.audit(me, "faq-upload", staged.path.name, f"{detail}, removed {remove}")
    if report.created or report.updated or remove:
        ctx.learning.retrain(say("{official}: spreadsheet upload", official=me.name))
        raise _flash(request, f"{PATH}/training", f"{summary} {text('train_started', language)}")
    raise _flash(request, f"{PATH}/faq", summary)


def _safe_name(filename: str) -> str:
    """The file's own name (it names the topic of rows without one), without folders."""
    name = re.sub(r"[^\w.\- ]+", "_", Path(filename.replace("\\", "/")).name).strip(" .")
    return name[:80] or "faq.xlsx"


_WHERE = (
    (re.compile(r" (?:row|line) (\d+)$"), r" baris \1"),
    (re.compile(r" entry (\d+)$"), r" entri \1"),
    (re.compile(r" sheet "), " lembar "),
)


def _notice(notice: Any, language: str, timezone: str) -> dict[str, Any]:
    """An import notice for the page: where, what, and whether the row was skipped."""
    where = str(notice.where)
    if language != "en":
        for pattern, replacement in _WHERE:
            where = pattern.sub(replacement, where)
    return {
        "where": where,
        "message": translate(notice.message, language, timezone),
        "skipped": notice.skipped,
    }
