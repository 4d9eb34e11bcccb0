"""`tanya import`: FAQ content from spreadsheets, JSON and FAQ pages into the FAQ files.

An import must be safe to repeat, because officials fix a spreadsheet and import it again:
a row updates the entry it names (by id) or the entry that already has one of its
questions, and only adds an entry when neither exists. Files are changed through the same
round-trip writer as the desk's edits (comments and layout kept), validated together by the
real loader, and replaced atomically; a bad row is reported and skipped, never fatal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from bot.faq import edit
from bot.faq.edit import FaqEditError
from bot.faq.loader import ENTRY_KEYS, LANGUAGES, SLUG, load_faq, normalise_example
from bot.faq.model import Entry, Faq, Link
from bot.faq.pages import read_html, read_markdown
from bot.faq.problems import Problem
from bot.faq.rows import OPTIONAL_FIELDS, ImportRow, Notice, ReadResult, RowError, UnreadableFile
from bot.faq.spreadsheet import clean_answer
from bot.faq.tabular import read_csv, read_json, read_xlsx
from bot.translatable import message_of, say

__all__ = ["FaqEditError", "ImportReport", "UnreadableFile", "import_faq", "read_rows"]

READERS: dict[str, Callable[[Path, str], ReadResult]] = {
    ".csv": read_csv,
    ".tsv": read_csv,
    ".txt": read_csv,
    ".xlsx": read_xlsx,
    ".xlsm": read_xlsx,
    ".json": read_json,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".html": read_html,
    ".htm": read_html,
}
MAX_ID_WORDS = 6
# Words that every question has: an id made of them would not say which entry it is.
_QUESTION_PHRASES = re.compile(
    r"\b(bagaimana cara|gimana cara|gmn cara|apa itu|how do i|how can i|how to|what is|"
    r"what are|is it true that|apakah benar)\b"
)
_QUESTION_WORDS = frozenset(
    "apa apakah saja aja bagaimana gimana gmn cara caranya saya aku sy yang yg bisa kah ya "
    "dong sih nih min kak tolong mohon mau ingin di ke dari untuk dan atau dengan the a an how "
    "do does i can what is are my me to please should will would could of for in on and or "
    "with".split()
)


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do) to the FAQ folder."""

    source: Path
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    files: dict[Path, list[str]] = field(default_factory=dict)  # file -> its new/changed ids
    new_files: list[Path] = field(default_factory=list)
    dry_run: bool = False
    texts: dict[Path, str] = field(default_factory=dict)  # the changed files' new text

    @property
    def imported(self) -> int:
        return len(self.created) + len(self.updated) + len(self.unchanged)

    @property
    def skipped(self) -> list[Notice]:
        return [notice for notice in self.notices if notice.skipped]

    @property
    def warnings(self) -> list[Notice]:
        return [notice for notice in self.notices if not notice.skipped]


def read_rows(path: Path, language: str) -> ReadResult:
    """Read any supported file into import rows; ``UnreadableFile`` when it cannot be read."""
    if not path.exists():
        raise UnreadableFile(say("no such file"))
    if path.is_dir():
        raise UnreadableFile(say("this is a folder, not a file"))
    try:
        with path.open("rb") as file:
            magic = file.read(4)
    except OSError as exc:
        raise UnreadableFile(f"cannot be opened: {exc.strerror}") from exc
    suffix = path.suffix.casefold()
    if magic == b"PK\x03\x04":
        suffix = ".xlsx"  # a workbook whatever its name says
    elif suffix == ".xls":
        raise UnreadableFile(say("the old Excel format (.xls) is not read: save it as .xlsx"))
    reader = READERS.get(suffix)
    if reader is None:
        known = ", ".join(sorted({s for s in READERS if s not in (".tsv", ".txt")}))
        raise UnreadableFile(
            say(
                "unknown file type {suffix!r}: use one of {known}",
                suffix=path.suffix or "(none)",
                known=known,
            )
        )
    return reader(path, language)


def import_faq(
    path: Path,
    faq_dir: Path,
    *,
    topic: str | None = None,
    language: str = "id",
    dry_run: bool = False,
) -> ImportReport:
    """Import ``path`` into the FAQ folder: new entries added, known ones updated."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
    read = read_rows(path, language)
    report = ImportReport(source=path, notices=list(read.notices), dry_run=dry_run)
    with edit.faq_lock():
        faq, before = load_faq(faq_dir) if faq_dir.is_dir() else (Faq(()), [])
        plan = _Plan(faq, before, faq_dir, language, path.name)
        plan.default_topic = slugify(topic or path.stem) or "faq"
        plan.default_title = topic if topic and topic != plan.default_topic else read.title
        for row in read.rows:
            try:
                plan.apply(row)
            except RowError as exc:
                plan.notices.append(Notice(row.where, message_of(exc), skipped=True))
        report.notices = sorted([*report.notices, *plan.notices], key=_place)
        texts = _write_plan(plan, report)
        if texts:
            edit.save_files(faq_dir, texts, before, dry_run=dry_run)
        report.texts = texts
    single = [d.id for d in plan.drafts.values() if d.original is None and d.count() == 1]
    if single:
        report.notices.append(
            Notice(
                path.name,
                say(
                    "{count} new entr{ending} one example question only: add other ways "
                    "citizens ask (`tanya check` lists them)",
                    count=len(single),
                    ending="y has" if len(single) == 1 else "ies have",
                ),
            )
        )
    return report


def _place(notice: Notice) -> tuple[str, int]:
    """Notices about the whole file first, then in the order of the rows."""
    number = re.search(r" (?:row|line|entry) (\d+)$", notice.where)
    return (notice.where[: number.start()], int(number[1])) if number else ("", 0)


def slugify(text: str, *, question: bool = False) -> str:
    """A slug from text: ASCII lowercase words and dashes; questions lose their common words."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    words = re.sub(r"[^a-z0-9]+", " ", folded).split()
    if question:
        words = _QUESTION_PHRASES.sub(" ", " ".join(words)).split()
        words = [w for w in words if w not in _QUESTION_WORDS] or words
    return "-".join(words[:MAX_ID_WORDS])


# --- deciding what changes ----------------------------------------------------------------


@dataclass
class _Draft:
    """An entry as the import leaves it: a copy of an existing one, or a new one."""

    id: str
    topic: str
    questions: dict[str, list[str]]
    answers: dict[str, str]
    links: tuple[Link, ...] = ()
    source: str | None = None
    updated: date | None = None
    valid_until: date | None = None
    original: Entry | None = None

    @classmethod
    def of(cls, entry: Entry) -> _Draft:
        questions = {language: list(texts) for language, texts in entry.questions.items()}
        return cls(
            entry.id,
            entry.topic,
            questions,
            {language: clean_answer(text) for language, text in entry.answers.items()},
            entry.links,
            entry.source,
            entry.updated,
            entry.valid_until,
            entry,
        )

    def count(self) -> int:
        return sum(len(texts) for texts in self.questions.values())

    def changed(self) -> bool:
        if self.original is None:
            return True
        return replace(self, original=None) != replace(_Draft.of(self.original), original=None)


class _Plan:
    """Applies rows to drafts of entries, tracking which entry owns each example question."""

    def __init__(
        self, faq: Faq, problems: list[Problem], faq_dir: Path, language: str, file: str
    ) -> None:
        self.faq, self.faq_dir, self.language, self.file = faq, faq_dir, language, file
        self.drafts: dict[str, _Draft] = {}
        self.owner = {normalise_example(q): e.id for e in faq.entries for _, q in e.all_questions()}
        self.taken = {e.id for e in faq.entries} | {p.entry for p in problems if p.entry}
        self.titles: dict[str, dict[str, str]] = {}
        self.title_hints: dict[str, dict[str, str]] = {}
        self.notices: list[Notice] = []
        self.default_topic = "faq"
        self.default_title: str | None = None

    def apply(self, row: ImportRow) -> None:
        topic = self._topic(row)
        entry_id = self._entry_id(row) if row.entry_id is not None else None
        draft = self._match(row, entry_id)
        if draft is None:
            self._new(row, topic, entry_id)
        else:
            self._update(draft, row, topic)
        self._titles(row, topic)

    def _titles(self, row: ImportRow, topic: str) -> None:
        """An exported sheet repeats a topic's title on each row: the one row that differs wins."""
        existing = self.faq.topic(topic)
        titles = self.titles.setdefault(topic, {})
        for language, title in row.topic_titles.items():
            known = titles.get(language)
            old = existing.titles.get(language) if existing else None
            if known is None or known == old:
                titles[language] = title
            elif title not in (known, old):
                self._warn(
                    row,
                    say(
                        "topic {topic} has two titles, {known!r} and {title!r}: kept the first",
                        topic=topic,
                        known=known,
                        title=title,
                    ),
                )

    def _warn(self, row: ImportRow, message: str) -> None:  # a say(): the desk translates it
        self.notices.append(Notice(row.where, message))

    def _topic(self, row: ImportRow) -> str:
        if row.topic is None:
            topic = self.default_topic
            if self.default_title:
                self.title_hints.setdefault(topic, {self.language: self.default_title})
        else:
            topic = row.topic if SLUG.match(row.topic) else slugify(row.topic)
            if not topic:
                raise RowError(say("topic {topic!r} has no letters or digits", topic=row.topic))
            if topic != row.topic:
                self.title_hints.setdefault(topic, {self.language: row.topic})
        if self.faq.topic(topic) is None:
            for suffix in (".yml", ".yaml"):
                if (self.faq_dir / f"{topic}{suffix}").exists():
                    raise RowError(
                        say(
                            "{file} has errors: fix it first (run `tanya check`)",
                            file=f"{topic}{suffix}",
                        )
                    )
        return topic

    def _match(self, row: ImportRow, entry_id: str | None) -> _Draft | None:
        if entry_id is not None:
            if entry_id in self.drafts:
                return self.drafts[entry_id]
            entry = self.faq.get(entry_id)
            if entry is None and entry_id in self.taken:
                raise RowError(
                    say("entry {entry} has errors in its file: fix them first", entry=entry_id)
                )
            return self._draft(entry) if entry else None
        # Only the main questions identify an entry: a short extra one ("diskon pbb") that
        # another entry also has must not hand that entry's answer over to this row.
        mains = [texts[0] for texts in row.questions.values() if texts]
        owners = {self.owner[k] for q in mains if (k := normalise_example(q)) in self.owner}
        if len(owners) > 1:
            raise RowError(
                say(
                    "its questions belong to different entries: {entries}",
                    entries=", ".join(sorted(owners)),
                )
            )
        if not owners:
            return None
        owner = owners.pop()
        return self.drafts.get(owner) or self._draft(self.faq.entry(owner))

    def _draft(self, entry: Entry) -> _Draft:
        return self.drafts.setdefault(entry.id, _Draft.of(entry))

    def _entry_id(self, row: ImportRow) -> str:
        given = row.entry_id or ""
        entry_id = given if SLUG.match(given) else slugify(given)
        if not entry_id:
            raise RowError(say("id {given!r} has no letters or digits", given=given))
        if entry_id != given:
            self._warn(
                row, say("id {given!r} is not a slug: used {used!r}", given=given, used=entry_id)
            )
        return entry_id

    def _new(self, row: ImportRow, topic: str, entry_id: str | None) -> None:
        if not row.answers:
            raise RowError(say("no answer"))
        questions = self._free_questions(row, None)
        if not questions:
            other = say("all its questions are examples of other entries")
            raise RowError(other if row.all_questions() else say("no question"))
        entry_id = entry_id or self._unique_id(questions)
        draft = _Draft(entry_id, topic, questions, dict(row.answers))
        self._set_fields(draft, row)
        if draft.count() == 1 and not draft.source:
            # The loader accepts a single example question from an entry that names its
            # source; the imported file is where this answer came from.
            draft.source = self.file
        self.drafts[entry_id] = draft
        self.taken.add(entry_id)
        self._own(draft, questions)

    def _update(self, draft: _Draft, row: ImportRow, topic: str) -> None:
        if row.topic is not None and topic != draft.topic:
            self._warn(
                row,
                say(
                    "entry {entry} stays in topic {topic}, not {other}",
                    entry=draft.id,
                    topic=draft.topic,
                    other=topic,
                ),
            )
        added = self._free_questions(row, draft)
        for language, texts in added.items():
            draft.questions.setdefault(language, []).extend(texts)
        self._own(draft, added)
        draft.answers.update(row.answers)
        self._set_fields(draft, row)
        if draft.count() == 1 and not draft.source:
            draft.source = (draft.original.source if draft.original else None) or self.file

    def _free_questions(self, row: ImportRow, draft: _Draft | None) -> dict[str, list[str]]:
        """The row's questions that no other entry has, without those ``draft`` has."""
        result: dict[str, list[str]] = {}
        for language, texts in row.questions.items():
            for question in texts:
                owner = self.owner.get(normalise_example(question))
                if owner is None:
                    result.setdefault(language, []).append(question)
                elif draft is None or owner != draft.id:
                    self._warn(
                        row,
                        say(
                            "{question!r} is already an example of entry {entry}: left out",
                            question=question,
                            entry=owner,
                        ),
                    )
        return result

    def _own(self, draft: _Draft, questions: dict[str, list[str]]) -> None:
        for texts in questions.values():
            for question in texts:
                self.owner[normalise_example(question)] = draft.id

    def _set_fields(self, draft: _Draft, row: ImportRow) -> None:
        for name in row.given:
            setattr(draft, name, getattr(row, name))

    def _unique_id(self, questions: dict[str, list[str]]) -> str:
        first = next(iter(questions.get("id") or questions.get("en") or [""]), "")
        base = slugify(first, question=True) or "entry"
        entry_id, number = base, 1
        while entry_id in self.taken:
            number += 1
            entry_id = f"{base}-{number}"
        return entry_id


# --- writing the files --------------------------------------------------------------------


def _write_plan(plan: _Plan, report: ImportReport) -> dict[Path, str]:
    """The new text of every file the import changes; fills in the report."""
    documents: dict[Path, tuple[Any, bool]] = {}
    new_topics: dict[str, list[CommentedMap]] = {}

    def document(path: Path) -> Any:
        if path not in documents:
            documents[path] = edit.read_document(path)
        return documents[path][0]

    for draft in plan.drafts.values():
        if not draft.changed():
            report.unchanged.append(draft.id)
            continue
        existing = plan.faq.topic(draft.topic)
        if draft.original is not None and draft.original.path is not None:
            path = draft.original.path
            _patch(edit.entry_node(document(path), draft.id), draft, draft.original)
            report.updated.append(draft.id)
        elif existing is not None and existing.path is not None:
            path = existing.path
            edit.append_entry(document(path)["entries"], _new_node(draft))
            report.created.append(draft.id)
        else:
            path = plan.faq_dir / f"{draft.topic}.yml"
            new_topics.setdefault(draft.topic, []).append(_new_node(draft))
            report.created.append(draft.id)
        report.files.setdefault(path, []).append(draft.id)
    for topic, titles in plan.titles.items():
        existing = plan.faq.topic(topic)
        if (
            existing is not None
            and existing.path is not None
            and titles.items() - existing.titles.items()
        ):
            title = document(existing.path)["title"]
            for language, text in titles.items():
                edit.set_key(title, language, text, LANGUAGES)
            report.files.setdefault(existing.path, [])
    texts = {path: edit.render(doc, crlf) for path, (doc, crlf) in documents.items()}
    for topic, entries in new_topics.items():
        path = plan.faq_dir / f"{topic}.yml"
        titles = plan.titles.get(topic) or plan.title_hints.get(topic) or {}
        titles = titles or {plan.language: topic.replace("-", " ").capitalize()}
        ordered = {language: titles[language] for language in LANGUAGES if language in titles}
        comment = f"Imported from {plan.file} by `tanya import`; the format is in README.md."
        texts[path] = edit.render(edit.new_topic_document(topic, ordered, entries, comment))
        report.new_files.append(path)
    return texts


def _new_node(draft: _Draft) -> CommentedMap:
    node = CommentedMap()
    node["id"] = draft.id
    node["questions"] = CommentedMap(
        (language, CommentedSeq(draft.questions[language]))
        for language in LANGUAGES
        if draft.questions.get(language)
    )
    node["answer"] = CommentedMap(
        (language, _answer(draft.answers[language]))
        for language in LANGUAGES
        if language in draft.answers
    )
    for name in OPTIONAL_FIELDS:
        value = _field(draft, name)
        if value is not None:
            node[name] = value
    return node


def _patch(node: CommentedMap, draft: _Draft, original: Entry) -> None:
    for language, texts in draft.questions.items():
        for question in texts[len(original.questions.get(language, ())) :]:
            edit.add_example(node["questions"], language, question)
    for language, text in draft.answers.items():
        if clean_answer(original.answers.get(language, "")) != text:
            edit.set_key(node["answer"], language, _answer(text), LANGUAGES)
    for name in OPTIONAL_FIELDS:
        value = _field(draft, name)
        if getattr(draft, name) == getattr(original, name):
            continue
        if value is None:
            edit.remove_key(node, name)
        else:
            edit.set_key(node, name, value, ENTRY_KEYS)


def _answer(text: str) -> str:
    return LiteralScalarString(text) if "\n" in text else text


def _field(draft: _Draft, name: str) -> Any:
    """A field as the FAQ file writes it; ``None`` when the entry has none."""
    value = getattr(draft, name)
    if name == "links":
        links = [CommentedMap((("title", link.title), ("url", link.url))) for link in value]
        return CommentedSeq(links) if links else None
    return value or None
