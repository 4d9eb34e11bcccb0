"""Read FAQ files into :class:`~bot.faq.model.Faq`, collecting every problem on the way.

Reading never stops at the first problem: officials fix files in batches, so `tanya check`
reports everything at once, each with file, line, entry id and field. The round-trip loader
of ruamel.yaml is used because it knows the line of every key (and the FAQ editor writes
files back with it, comments intact).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.faq.limits import MAX_DEPTH, MAX_FILE_BYTES
from bot.faq.model import Entry, Faq, Link, Topic
from bot.faq.problems import FaqError, Problem, Severity

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LANGUAGES = ("id", "en")
TOPIC_KEYS = ("topic", "title", "entries")
ENTRY_KEYS = ("id", "questions", "answer", "links", "source", "updated", "valid_until")
LINK_KEYS = ("title", "url")
MIN_QUESTIONS = 2
FAQ_SUFFIXES = (".yml", ".yaml")
_UNREADABLE = object()  # the file could not be parsed (an error says why)
_TOO_DEEP = f"lists and mappings nested more than {MAX_DEPTH} levels deep"


def faq_files(directory: Path) -> list[Path]:
    """The FAQ files of a folder, in a stable order."""
    return sorted(p for p in directory.iterdir() if p.suffix in FAQ_SUFFIXES and p.is_file())


def load_faq(directory: Path) -> tuple[Faq, list[Problem]]:
    """Read every FAQ file in ``directory``; return the valid part and all problems."""
    problems: list[Problem] = []
    if not directory.is_dir():
        problems.append(_error(directory, "FAQ folder not found"))
        return Faq(()), problems
    files = faq_files(directory)
    if not files:
        problems.append(_error(directory, "no FAQ files (*.yml) in this folder"))
    topics = [t for path in files if (t := _FileReader(path, problems).read()) is not None]
    topics = _drop_duplicate_topics(topics, problems)
    faq = Faq(tuple(_drop_duplicate_ids(topics, problems)))
    _check_shared_examples(faq, problems)
    return faq, problems


def read_faq(directory: Path) -> Faq:
    """Read the FAQ, raising :class:`FaqError` when it has errors (warnings are ignored)."""
    faq, problems = load_faq(directory)
    if any(p.severity is Severity.ERROR for p in problems):
        raise FaqError(problems)
    return faq


def normalise_example(text: str) -> str:
    """Fold case, accents and punctuation: two examples equal under this are the same."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def _error(path: Path, message: str, **where: Any) -> Problem:
    return Problem(Severity.ERROR, path, message, **where)


def _line(node: Any, key: str | int) -> int | None:
    """1-based line of ``key`` in a ruamel mapping or sequence, when known."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        position = lc.key(key) if isinstance(key, str) else lc.item(key)
    except (KeyError, IndexError, TypeError):
        return None
    return int(position[0]) + 1


class _FileReader:
    """Validates one topic file; appends problems to the shared list."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems

    def error(self, message: str, **where: Any) -> None:
        self.problems.append(_error(self.path, message, **where))

    def warn(self, message: str, **where: Any) -> None:
        self.problems.append(Problem(Severity.WARNING, self.path, message, **where))

    def read(self) -> Topic | None:
        document = self._parse()
        if document is _UNREADABLE:
            return None
        if document is None:
            # An empty file, or only comments: its entries would silently vanish.
            self.error(
                "the file is empty (or has only comments): expected topic, title and entries",
                line=1,
            )
            return None
        if not isinstance(document, dict):
            self.error("expected a mapping with keys topic, title and entries", line=1)
            return None
        self._unknown_keys(document, TOPIC_KEYS, entry=None, prefix="")
        slug = self._topic_slug(document)
        titles = self._language_map(document, "title", entry=None, required=True)
        entries = self._entries(document, slug or self.path.stem)
        if slug is None:
            return None
        return Topic(slug=slug, titles=titles, entries=tuple(entries), path=self.path)

    def _parse(self) -> Any:
        size = self.path.stat().st_size
        if size > MAX_FILE_BYTES:
            self.error(f"the file is {size / 1e6:.0f} MB: far larger than an FAQ topic")
            return _UNREADABLE
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            self.error(f"not UTF-8 text ({exc.reason} at byte {exc.start})")
            return _UNREADABLE
        too_deep = _flow_too_deep(text)
        if too_deep is not None:
            self.error(_TOO_DEEP, line=too_deep)
            return _UNREADABLE
        try:
            return YAML(typ="rt").load(text)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            reason = " ".join(str(exc.problem or exc.context or "").split())
            self.error(f"not valid YAML: {reason}", line=line)
        except (YAMLError, ValueError) as exc:
            self.error(f"not valid YAML: {' '.join(str(exc).split())}")
        except RecursionError:
            self.error(_TOO_DEEP)  # block collections nested hundreds of levels deep
        return _UNREADABLE

    def _unknown_keys(
        self, node: dict[str, Any], allowed: Iterable[str], entry: str | None, prefix: str
    ) -> None:
        allowed = tuple(allowed)
        for key in node:
            if key not in allowed:
                self.error(
                    f"unknown key {key!r} (allowed: {', '.join(allowed)})",
                    line=_line(node, key),
                    entry=entry,
                    field=f"{prefix}{key}",
                )

    def _topic_slug(self, document: dict[str, Any]) -> str | None:
        slug = document.get("topic")
        if not isinstance(slug, str) or not SLUG.match(slug):
            self.error(
                "topic must be a slug: lowercase letters, digits and dashes",
                line=_line(document, "topic") or 1,
                field="topic",
            )
            return None
        if slug != self.path.stem:
            self.warn(
                f"topic {slug!r} differs from the file name {self.path.name!r}",
                line=_line(document, "topic"),
                field="topic",
            )
        return slug

    def _language_map(
        self, node: dict[str, Any], key: str, entry: str | None, required: bool
    ) -> dict[str, str]:
        value = node.get(key)
        line = _line(node, key)
        if value is None:
            if required:
                self.error(f"missing {key}", line=line, entry=entry, field=key)
            return {}
        if isinstance(value, str):
            self.error(
                f"{key} must give each language separately, e.g. {{id: ..., en: ...}}",
                line=line,
                entry=entry,
                field=key,
            )
            return {}
        if not isinstance(value, dict):
            self.error(f"{key} must be a mapping of language to text", line=line, entry=entry)
            return {}
        result: dict[str, str] = {}
        for language, text in value.items():
            field = f"{key}.{language}"
            if language not in LANGUAGES:
                self.error(
                    f"unknown language {language!r} (allowed: {', '.join(LANGUAGES)})",
                    line=_line(value, language) or line,
                    entry=entry,
                    field=field,
                )
            elif not isinstance(text, str) or not text.strip():
                self.error(
                    "empty text", line=_line(value, language) or line, entry=entry, field=field
                )
            else:
                result[language] = text.strip()
        if (
            required
            and not result
            and not any(
                p.field and p.field.startswith(key) and p.entry == entry for p in self.problems
            )
        ):
            self.error(f"missing {key}", line=line, entry=entry, field=key)
        return result

    def _entries(self, document: dict[str, Any], topic: str) -> list[Entry]:
        entries = document.get("entries")
        if not isinstance(entries, list) or not entries:
            self.error(
                "entries must be a non-empty list",
                line=_line(document, "entries") or 1,
                field="entries",
            )
            return []
        result = []
        for index, node in enumerate(entries):
            line = _line(entries, index)
            if not isinstance(node, dict):
                self.error(f"entry #{index + 1} must be a mapping", line=line)
                continue
            entry = self._entry(node, topic, index, line)
            if entry is not None:
                result.append(entry)
        return result

    def _entry(
        self, node: dict[str, Any], topic: str, index: int, line: int | None
    ) -> Entry | None:
        entry_id = node.get("id")
        if not isinstance(entry_id, str) or not SLUG.match(entry_id):
            self.error(
                f"entry #{index + 1} needs an id: a slug of lowercase letters, digits and dashes",
                line=_line(node, "id") or line,
                entry=str(entry_id) if entry_id is not None else None,
                field="id",
            )
            return None
        errors_before = len(self.problems)
        self._unknown_keys(node, ENTRY_KEYS, entry=entry_id, prefix="")
        questions = self._questions(node, entry_id)
        answers = self._language_map(node, "answer", entry=entry_id, required=True)
        links = self._links(node, entry_id)
        updated = self._date(node, "updated", entry_id)
        valid_until = self._date(node, "valid_until", entry_id)
        source = node.get("source")
        if source is not None and not isinstance(source, str):
            self.error(
                "source must be text", line=_line(node, "source"), entry=entry_id, field="source"
            )
            source = None
        has_errors = any(p.severity is Severity.ERROR for p in self.problems[errors_before:])
        if has_errors:
            return None
        return Entry(
            id=entry_id,
            topic=topic,
            questions=questions,
            answers=answers,
            links=tuple(links),
            source=source.strip() if source else None,
            updated=updated,
            valid_until=valid_until,
            path=self.path,
        )

    def _questions(self, node: dict[str, Any], entry: str) -> dict[str, tuple[str, ...]]:
        value = node.get("questions")
        line = _line(node, "questions")
        if not isinstance(value, dict):
            self.error(
                "questions must map each language to a list of example questions",
                line=line or _line(node, "id"),
                entry=entry,
                field="questions",
            )
            return {}
        result: dict[str, tuple[str, ...]] = {}
        for language, items in value.items():
            field = f"questions.{language}"
            item_line = _line(value, language) or line
            if language not in LANGUAGES:
                self.error(
                    f"unknown language {language!r} (allowed: {', '.join(LANGUAGES)})",
                    line=item_line,
                    entry=entry,
                    field=field,
                )
                continue
            if not isinstance(items, list):
                self.error(
                    "must be a list of example questions", line=item_line, entry=entry, field=field
                )
                continue
            texts = []
            for position, item in enumerate(items):
                if not isinstance(item, str) or not item.strip():
                    self.error(
                        f"example #{position + 1} must be non-empty text",
                        line=_line(items, position) or item_line,
                        entry=entry,
                        field=field,
                    )
                else:
                    texts.append(" ".join(item.split()))
            result[language] = tuple(texts)
        total = sum(len(texts) for texts in result.values())
        source = node.get("source")
        if total == 1 and isinstance(source, str) and source.strip():
            # Taken over from an existing FAQ (`tanya import` names the file it came from),
            # an entry may start with its one question: the official answer is served now,
            # and the warning asks for the other ways citizens ask it.
            self.warn(
                "only 1 example question: add other ways citizens ask it",
                line=line,
                entry=entry,
                field="questions",
            )
        elif total < MIN_QUESTIONS:
            self.error(
                f"needs at least {MIN_QUESTIONS} example questions, has {total}",
                line=line,
                entry=entry,
                field="questions",
            )
        return result

    def _links(self, node: dict[str, Any], entry: str) -> list[Link]:
        value = node.get("links")
        if value is None:
            return []
        line = _line(node, "links")
        if not isinstance(value, list):
            self.error(
                "links must be a list of {title, url}", line=line, entry=entry, field="links"
            )
            return []
        links = []
        for index, item in enumerate(value):
            field = f"links[{index + 1}]"
            item_line = _line(value, index) or line
            if not isinstance(item, dict):
                self.error(
                    "a link must be a mapping {title, url}",
                    line=item_line,
                    entry=entry,
                    field=field,
                )
                continue
            self._unknown_keys(item, LINK_KEYS, entry=entry, prefix=f"{field}.")
            title, url = item.get("title"), item.get("url")
            if not isinstance(title, str) or not title.strip():
                self.error(
                    "link needs a title", line=item_line, entry=entry, field=f"{field}.title"
                )
            if not isinstance(url, str) or not _is_web_url(url):
                self.error(
                    f"not a valid http(s) URL: {url!r}",
                    line=item_line,
                    entry=entry,
                    field=f"{field}.url",
                )
            elif isinstance(title, str) and title.strip():
                links.append(Link(title=title.strip(), url=url.strip()))
        return links

    def _date(self, node: dict[str, Any], key: str, entry: str) -> date | None:
        value = node.get(key)
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            self.error(
                f"not a valid date (YYYY-MM-DD): {value!r}",
                line=_line(node, key),
                entry=entry,
                field=key,
            )
            return None


def _flow_too_deep(text: str) -> int | None:
    """The line where ``[`` and ``{`` nest deeper than ``MAX_DEPTH``, if they do.

    ruamel.yaml's scanner takes time quadratic in flow nesting (10 KB of ``[`` took 30 s)
    and its composer recurses: such a file is refused before it is parsed. Quoted text
    and comments are skipped; an unbalanced bracket elsewhere only makes this stricter.
    """
    level, line, quote, start = 0, 1, "", True
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char == "\n":
            line += 1
        if quote:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                if quote == "'" and text.startswith("''", index):
                    index += 1
                else:
                    quote = ""
        elif char in "'\"" and start:
            quote = char
        elif char == "#" and start:
            end = text.find("\n", index)
            index = length if end < 0 else end
            continue
        elif char in "[{":
            level += 1
            if level > MAX_DEPTH:
                return line
        elif char in "]}":
            level = max(level - 1, 0)
        start = char in " \t\n[{,:-?"
        index += 1
    return None


def _is_web_url(url: str) -> bool:
    parsed = urlparse(url.strip())
    return parsed.scheme in ("http", "https") and bool(parsed.netloc) and " " not in url.strip()


def _drop_duplicate_topics(topics: list[Topic], problems: list[Problem]) -> list[Topic]:
    seen: dict[str, Topic] = {}
    for topic in topics:
        if topic.slug in seen:
            problems.append(
                _error(
                    topic.path or Path(),
                    f"topic {topic.slug!r} is also defined in {seen[topic.slug].path}",
                    field="topic",
                )
            )
        else:
            seen[topic.slug] = topic
    return list(seen.values())


def _drop_duplicate_ids(topics: list[Topic], problems: list[Problem]) -> list[Topic]:
    owners: dict[str, Entry] = {}
    result = []
    for topic in topics:
        kept = []
        for entry in topic.entries:
            first = owners.get(entry.id)
            if first is not None:
                problems.append(
                    _error(
                        entry.path or Path(),
                        f"duplicate id: also used in {first.path}",
                        entry=entry.id,
                        field="id",
                    )
                )
                continue
            owners[entry.id] = entry
            kept.append(entry)
        result.append(Topic(topic.slug, topic.titles, tuple(kept), topic.path))
    return result


def _check_shared_examples(faq: Faq, problems: list[Problem]) -> None:
    """One example question in two entries makes the model guess: an error."""
    owner: dict[str, Entry] = {}
    for entry in faq.entries:
        for _, question in entry.all_questions():
            key = normalise_example(question)
            first = owner.setdefault(key, entry)
            if first.id != entry.id:
                problems.append(
                    _error(
                        entry.path or Path(),
                        f"example question {question!r} is also an example of entry {first.id} "
                        f"({first.path})",
                        entry=entry.id,
                        field="questions",
                    )
                )
