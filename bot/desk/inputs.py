"""What the desk accepts from a URL or a form, checked before any handler sees it.

Anything a browser can send reaches the desk: ids like ``99999999999999999999`` (SQLite
stores 64-bit integers) or ``²`` (``str.isdigit`` says yes, ``int`` says no), NUL
characters, lone surrogates (from a form declaring an exotic charset) that SQLite and
the page encoder cannot take, forms larger than the server accepts, forms that do not
parse. Each is refused with a 4xx page in the official's language (``BadInput``), never
a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from bot.core.payloads import number

# NUL and UTF-16 surrogate halves: never in text a person typed.
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")


class BadInput(Exception):
    """The request is refused: ``status`` (400, 413) and the text's key in the desk's texts."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


def parse_id(raw: object) -> int | None:
    """A row id from a URL or a form: ASCII digits up to SQLite's largest integer (the
    same rule as for button payloads)."""
    return number(raw) if isinstance(raw, str) else None


def parse_ids(values: Iterable[object]) -> list[int]:
    """The valid ids among ``values`` (ticked boxes), others ignored."""
    return [number for value in values if (number := parse_id(value)) is not None]


def check_text(values: Iterable[str]) -> None:
    if any(_FORBIDDEN.search(value) for value in values):
        raise BadInput(400, "bad_input")


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | web.FileField]:
    """The posted form (cached by aiohttp for the handler), or ``BadInput``."""
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise BadInput(413, "too_large") from None
    except (ValueError, LookupError, AssertionError, HttpProcessingError):
        # A body that does not parse as the form it claims to be, or in an unknown charset.
        raise BadInput(400, "bad_form") from None
    if any(not isinstance(value, str) for value in form.values()):
        raise BadInput(400, "bad_form")  # the desk's forms upload no files
    check_text(str(value) for value in form.values())
    return form


MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # an FAQ spreadsheet: a few hundred entries are ~100 KB
MAX_UPLOAD_FIELDS = 10
MAX_FIELD_BYTES = 4096


@dataclass(frozen=True)
class Upload:
    """A form with one file (the desk's only upload: the FAQ spreadsheet)."""

    fields: dict[str, str]
    filename: str
    content: bytes


async def read_upload(request: web.Request) -> Upload:
    """A ``multipart/form-data`` form with at most one file, read as a stream with its
    own size limits (the app's body limit is for forms without files); ``BadInput``."""
    try:
        reader = await request.multipart()
        fields: dict[str, str] = {}
        filename, content = "", b""
        for _ in range(MAX_UPLOAD_FIELDS):
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise BadInput(400, "bad_form")  # nested multipart: no browser sends it
            if part.filename is not None:
                if content or filename:
                    raise BadInput(400, "bad_form")
                filename, content = part.filename, await _read_part(part, MAX_UPLOAD_BYTES)
            elif part.name:
                raw = await _read_part(part, MAX_FIELD_BYTES)
                fields[part.name] = raw.decode("utf-8")
        else:
            raise BadInput(400, "bad_form")
    except (ValueError, LookupError, AssertionError, HttpProcessingError, UnicodeDecodeError):
        raise BadInput(400, "bad_form") from None
    check_text([*fields.values(), filename])
    return Upload(fields, filename, content)


async def _read_part(part: BodyPartReader, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk():
        size += len(chunk)
        if size > limit:
            raise BadInput(413, "too_large")
        chunks.append(chunk)
    return b"".join(chunks)
