"""The parsed FAQ, kept between starts.

Reading the FAQ's YAML takes about a second at every start of every worker: ruamel's
round-trip parser, which knows each key's line for `tanya check`, is pure Python. The
FAQ read from the same bytes by the same loader is the same, so a valid FAQ is kept as
JSON in the cache directory, named by a digest of its files' names and bytes and of the
loader's own source; a start with those files reads it in milliseconds. Any change to a
file (or to the loader) changes the digest, and the YAML is read again. A FAQ with
errors is never kept: reading it raises, as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

from bot.atomic_file import replacing
from bot.cache import cache_directory
from bot.faq import limits, loader, model
from bot.faq.loader import faq_files, read_faq
from bot.faq.model import Entry, Faq, Link, Topic

log = logging.getLogger(__name__)
PREFIX = "faq-"


def cached_faq(directory: Path) -> Faq:
    """``read_faq(directory)``, from the cache when these files were read before."""
    key = _digest(directory)
    cached = cache_directory() / f"{PREFIX}{key}.json"
    faq = _read(cached, directory)
    if faq is not None:
        return faq
    faq = read_faq(directory)  # raises FaqError on errors: nothing is kept then
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with replacing(cached) as temporary:
            temporary.write_text(json.dumps(_topics(faq)), encoding="utf-8")
        for old in cached.parent.glob(f"{PREFIX}*.json"):  # earlier versions of the FAQ
            if old != cached:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot keep the parsed FAQ in %s: %s", cached.parent, exc)
    return faq


def _digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for module in (loader, model, limits):  # the reading code is part of the result
        digest.update(Path(module.__file__ or "").read_bytes())
    if directory.is_dir():
        for path in faq_files(directory):
            digest.update(path.name.encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def _topics(faq: Faq) -> list[dict[str, Any]]:
    return [
        {
            "slug": topic.slug,
            "titles": dict(topic.titles),
            "file": topic.path.name if topic.path else None,
            "entries": [_entry(entry) for entry in topic.entries],
        }
        for topic in faq.topics
    ]


def _entry(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "topic": entry.topic,
        "questions": {language: list(texts) for language, texts in entry.questions.items()},
        "answers": dict(entry.answers),
        "links": [[link.title, link.url] for link in entry.links],
        "source": entry.source,
        "updated": entry.updated.isoformat() if entry.updated else None,
        "valid_until": entry.valid_until.isoformat() if entry.valid_until else None,
        "file": entry.path.name if entry.path else None,
    }


def _read(cached: Path, directory: Path) -> Faq | None:
    """The kept FAQ, its files' paths in ``directory``; None when there is none usable."""
    try:
        topics = json.loads(cached.read_text(encoding="utf-8"))
        return Faq(tuple(_topic(data, directory) for data in topics))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _topic(data: dict[str, Any], directory: Path) -> Topic:
    return Topic(
        slug=data["slug"],
        titles=dict(data["titles"]),
        entries=tuple(_read_entry(entry, directory) for entry in data["entries"]),
        path=directory / data["file"] if data["file"] else None,
    )


def _read_entry(data: dict[str, Any], directory: Path) -> Entry:
    return Entry(
        id=data["id"],
        topic=data["topic"],
        questions={language: tuple(texts) for language, texts in data["questions"].items()},
        answers=dict(data["answers"]),
        links=tuple(Link(title=title, url=url) for title, url in data["links"]),
        source=data["source"],
        updated=date.fromisoformat(data["updated"]) if data["updated"] else None,
        valid_until=date.fromisoformat(data["valid_until"]) if data["valid_until"] else None,
        path=directory / data["file"] if data["file"] else None,
    )
