"""Turn an answered citizen question into FAQ knowledge by editing the FAQ files in place.

Officials also edit these files by hand, so an edit from a web page must not disturb them:
the files go through ruamel.yaml's round-trip mode, and comments, key order, quoting and the
layout of everything untouched come back byte for byte. Each edit is validated by the real
loader on the whole folder before the file is atomically replaced, so a web form can never
leave the FAQ in a state that `tanya train` refuses.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString
from ruamel.yaml.tokens import CommentToken

from bot.atomic_file import replacing
from bot.faq.loader import (
    ENTRY_KEYS,
    LANGUAGES,
    MIN_QUESTIONS,
    SLUG,
    faq_files,
    load_faq,
    normalise_example,
)
from bot.faq.model import Entry, Faq
from bot.faq.problems import Problem, Severity
from bot.privacy import mask
from bot.translatable import say

__all__ = [
    "Edit",
    "FaqEditError",
    "add_entry",
    "add_question",
    "add_translated_entry",
    "remove_entries",
]

# Two officials answering at once must not both read the old file and the second write
# lose the first one's question: every edit holds this from reading to replacing. It covers
# the threads of one process (the server), not a `tanya` command editing at the same moment.
_LOCK = threading.Lock()


class FaqEditError(Exception):
    """Clear message for an official: names the file, entry and field when relevant."""


@dataclass(frozen=True)
class Edit:
    """What changed, so the page can tell the official where their answer went."""

    path: Path
    entry_id: str
    created: bool


def add_question(
    faq_dir: Path, entry_id: str, language: str, question: str, *, today: date | None = None
) -> Edit:
    """Teach an existing entry one more way citizens ask it, and mark it as reviewed today."""
    question = _clean_question(question, entry_id)
    _check_language(language)
    with _LOCK:
        faq, before = _load(faq_dir)
        entry = _existing_entry(faq, before, entry_id)
        _refuse_known_questions(faq, [question])
        path = entry.path or faq_dir / f"{entry.topic}.yml"
        document, crlf = _read(path)
        node = _entry_node(document, entry_id)
        _add_to_list(node["questions"], language, question)
        _set_updated(node, today or date.today())
        _write(faq_dir, path, document, crlf, before)
    return Edit(path=path, entry_id=entry_id, created=False)


def add_entry(
    faq_dir: Path,
    topic: str,
    entry_id: str,
    language: str,
    questions: str | Sequence[str],
    answer: str,
    *,
    topic_title: str | None = None,
    today: date | None = None,
) -> Edit:
    """Add a new entry in one language (see :func:`add_translated_entry`)."""
    return add_translated_entry(
        faq_dir,
        topic,
        entry_id,
        {language: [questions] if isinstance(questions, str) else list(questions)},
        {language: answer},
        topic_titles={language: topic_title} if topic_title else None,
        today=today,
    )


def add_translated_entry(
    faq_dir: Path,
    topic: str,
    entry_id: str,
    questions: Mapping[str, Sequence[str]],
    answers: Mapping[str, str],
    *,
    topic_titles: Mapping[str, str] | None = None,
    today: date | None = None,
) -> Edit:
    """Add a new entry to a topic, in one language or several, creating the topic's file
    (titled ``topic_titles``) when there is none yet.

    The loader wants at least ``MIN_QUESTIONS`` example questions per entry (all
    languages together), so one citizen's question is not enough: pass it together with
    other ways to ask it. A language may have questions without an answer (the bot then
    answers in another language) but the entry needs at least one answer.
    """
    _check_slug(topic, "topic name", "pajak-daerah")
    _check_slug(entry_id, "entry id", "ktp-hilang")
    for language in (*questions, *answers, *(topic_titles or {})):
        _check_language(language)
    cleaned = _clean_questions(questions, entry_id)
    texts = {
        language: _clean_answer(answer, entry_id)
        for language, answer in answers.items()
        if answer.strip()
    }
    if not texts:
        raise FaqEditError(say("The answer for entry {entry} is empty.", entry=entry_id))
    titles = {
        language: " ".join(title.split())
        for language, title in (topic_titles or {}).items()
        if title.strip()
    }
    with _LOCK:
        faq, before = _load(faq_dir)
        _refuse_existing_id(faq, before, entry_id)
        _refuse_known_questions(faq, [q for texts_ in cleaned.values() for q in texts_])
        entry = _new_entry(entry_id, cleaned, texts, today or date.today())
        existing = faq.topic(topic)
        if existing is not None and existing.path is not None:
            path = existing.path
            document, crlf = _read(path)
            _append_entry(document["entries"], entry)
        else:
            path = _new_topic_path(faq_dir, topic)
            titles = titles or {next(iter(texts)): topic}
            document, crlf = _new_topic(topic, titles, entry), False
        _write(faq_dir, path, document, crlf, before)
    return Edit(path=path, entry_id=entry_id, created=True)


def remove_entries(faq_dir: Path, entry_ids: Sequence[str]) -> list[Path]:
    """Take entries out of their topic files (a topic file left without entries goes);
    returns the files changed or removed. ``FaqEditError`` when an id is unknown or the
    FAQ would have an error it did not have before; nothing changes then."""
    with _LOCK:
        faq, before = _load(faq_dir)
        by_path: dict[Path, list[str]] = {}
        for entry_id in entry_ids:
            entry = _existing_entry(faq, before, entry_id)
            by_path.setdefault(entry.path or faq_dir / f"{entry.topic}.yml", []).append(entry_id)
        texts: dict[Path, str] = {}
        gone: list[Path] = []
        for path, ids in by_path.items():
            document, crlf = _read(path)
            entries = document["entries"]
            for entry_id in ids:
                node = _entry_node(document, entry_id)
                del entries[entries.index(node)]
            if entries:
                texts[path] = render(document, crlf)
            else:
                gone.append(path)
        new = _new_errors(faq_dir, texts, before, leaving_out=gone)
        if new:
            raise FaqEditError(say("Nothing was saved: {problems}", problems="; ".join(new[:3])))
        for path, text in texts.items():
            _replace(faq_dir, path, text)
        for path in gone:
            path.unlink()
    return [*texts, *gone]


# --- checking the request ---------------------------------------------------------------


def _clean_question(question: str, entry_id: str) -> str:
    cleaned = " ".join(question.split())
    if not cleaned:
        raise FaqEditError(say("The example question for entry {entry} is empty.", entry=entry_id))
    if not normalise_example(cleaned):
        raise FaqEditError(say("The example question {question!r} has no words.", question=cleaned))
    if mask(cleaned) != cleaned:
        raise FaqEditError(
            say(
                "The example question {question!r} contains a NIK, phone number or e-mail "
                "address: remove it (citizens' personal data must not go into the FAQ).",
                question=cleaned,
            )
        )
    return cleaned


def _clean_questions(questions: Mapping[str, Sequence[str]], entry_id: str) -> dict[str, list[str]]:
    cleaned = {
        language: [_clean_question(question, entry_id) for question in items]
        for language, items in questions.items()
        if items
    }
    seen: set[str] = set()
    for question in (q for items in cleaned.values() for q in items):
        if normalise_example(question) in seen:
            raise FaqEditError(
                say("The example question {question!r} is given twice.", question=question)
            )
        seen.add(normalise_example(question))
    count = sum(len(items) for items in cleaned.values())
    if count < MIN_QUESTIONS:
        raise FaqEditError(
            say(
                "A new entry needs at least {least} example questions (entry {entry} has "
                "{count}): add other ways a citizen might ask the same thing.",
                least=MIN_QUESTIONS,
                entry=entry_id,
                count=count,
            )
        )
    return cleaned


def _clean_answer(answer: str, entry_id: str) -> str:
    # Trailing spaces would stop the answer from being written as a readable `|-` block.
    lines = [line.rstrip() for line in answer.strip().splitlines()]
    if not lines:
        raise FaqEditError(say("The answer for entry {entry} is empty.", entry=entry_id))
    return "\n".join(lines)


def _check_slug(value: str, what: str, example: str) -> None:
    if not SLUG.match(value):
        raise FaqEditError(
            say(
                "{value!r} is not a valid {what}: use lowercase letters, digits and single "
                "dashes, like {example}.",
                value=value,
                what=what,
                example=example,
            )
        )


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise FaqEditError(
            say(
                "Unknown language {language!r}: use one of {known}.",
                language=language,
                known=", ".join(LANGUAGES),
            )
        )


def _load(faq_dir: Path) -> tuple[Faq, list[Problem]]:
    if not faq_dir.is_dir():
        raise FaqEditError(say("The FAQ folder {folder} does not exist.", folder=str(faq_dir)))
    return load_faq(faq_dir)


def _existing_entry(faq: Faq, problems: list[Problem], entry_id: str) -> Entry:
    entry = faq.get(entry_id)
    if entry is not None:
        return entry
    broken = next((p for p in problems if p.entry == entry_id), None)
    if broken is not None:
        raise FaqEditError(
            say(
                "Entry {entry} in {file} has errors: fix them first (run `tanya check`).",
                entry=entry_id,
                file=broken.path.name,
            )
        )
    raise FaqEditError(say("There is no FAQ entry with the id {entry!r}.", entry=entry_id))


def _refuse_existing_id(faq: Faq, problems: list[Problem], entry_id: str) -> None:
    # An entry with errors is left out of `faq` but still holds its id.
    entry = faq.get(entry_id)
    paths = [entry.path] if entry is not None and entry.path else []
    paths += [p.path for p in problems if p.entry == entry_id]
    if paths:
        raise FaqEditError(
            say(
                "Entry {entry} already exists in {file}: choose another id, or add the "
                "question to that entry.",
                entry=entry_id,
                file=paths[0].name,
            )
        )


def _refuse_known_questions(faq: Faq, questions: list[str]) -> None:
    """One example in two entries is a loader error: name the entry that already has it."""
    owners = {
        normalise_example(text): entry for entry in faq.entries for _, text in entry.all_questions()
    }
    for question in questions:
        owner = owners.get(normalise_example(question))
        if owner is not None:
            where = owner.path.name if owner.path else "the FAQ"
            raise FaqEditError(
                say(
                    "{question!r} is already an example question of entry {entry} ({file}).",
                    question=question,
                    entry=owner.id,
                    file=where,
                )
            )


# --- changing the document --------------------------------------------------------------


def _yaml() -> YAML:
    # These settings round-trip every sample file byte for byte (a test keeps them honest).
    # ruamel.yaml annotates these attributes as None, hence the ignores.
    yaml = YAML()
    yaml.preserve_quotes = True  # type: ignore[assignment]
    yaml.width = 4096  # type: ignore[assignment]
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _read(path: Path) -> tuple[Any, bool]:
    """The file's document, and whether it uses Windows line ends (kept when writing)."""
    raw = path.read_bytes()
    try:
        return _yaml().load(raw.decode("utf-8")), b"\r\n" in raw
    except (UnicodeDecodeError, YAMLError) as exc:
        raise FaqEditError(
            say("{file} cannot be read: fix it first (run `tanya check`).", file=path.name)
        ) from exc


def _entry_node(document: Any, entry_id: str) -> CommentedMap:
    for node in document["entries"]:
        if isinstance(node, CommentedMap) and node.get("id") == entry_id:
            return node
    raise FaqEditError(
        say("Entry {entry} changed while it was being edited: try again.", entry=entry_id)
    )


def _add_to_list(questions: CommentedMap, language: str, question: str) -> None:
    if language in questions:
        _append_item(questions[language], question)
    else:
        _insert_key(questions, language, _new_list([question], like=questions), LANGUAGES)


def _set_updated(entry: CommentedMap, today: date) -> None:
    if "updated" in entry:
        entry["updated"] = today  # the key keeps its comments
    else:
        _insert_key(entry, "updated", today, ENTRY_KEYS)


def _new_list(items: list[str], like: CommentedMap) -> CommentedSeq:
    """A list of example questions written in the style of the entry's other lists."""
    result = CommentedSeq(items)
    if _flow_lists(like):
        result.fa.set_flow_style()
    return result


def _flow_lists(questions: Any) -> bool:
    """Whether these example questions are written ``[like, this]`` rather than one per line."""
    if not isinstance(questions, CommentedMap):
        return False
    return any(isinstance(v, CommentedSeq) and v.fa.flow_style() for v in questions.values())


def _new_entry(
    entry_id: str, questions: dict[str, list[str]], answers: dict[str, str], today: date
) -> CommentedMap:
    entry = CommentedMap()
    entry["id"] = entry_id
    entry["questions"] = CommentedMap(
        (language, CommentedSeq(questions[language]))
        for language in LANGUAGES
        if language in questions
    )
    entry["answer"] = CommentedMap(
        (
            language,
            LiteralScalarString(answers[language])
            if "\n" in answers[language]
            else answers[language],
        )
        for language in LANGUAGES
        if language in answers
    )
    entry["updated"] = today
    return entry


def _append_entry(entries: CommentedSeq, entry: CommentedMap) -> None:
    previous = entries[-1] if entries else None
    if isinstance(previous, CommentedMap) and _flow_lists(previous.get("questions")):
        for items in entry["questions"].values():
            items.fa.set_flow_style()
    separated = _entries_separated(entries)
    _append_item(entries, entry)
    if separated:
        entries.yaml_set_comment_before_after_key(len(entries) - 1, before="\n")


def _entries_separated(entries: CommentedSeq) -> bool:
    """Whether the file puts a blank line between entries, as the sample files do."""
    if entries.fa.flow_style():
        return False
    if len(entries) < 2:
        return True
    # After a `[flow, list]` the blank line is kept before the next entry, else after the last
    # scalar of the first entry.
    before_second = (entries.ca.items.get(1) or [None, None])[1] or []
    lines = [token.value for token in before_second]
    tail = _tail(entries[0])
    if tail is not None:
        items, key, index, leaf = tail
        token = (items.get(key) or [None] * 4)[index]
        if token is not None:
            lines.append(_split_trailing(token.value, leaf)[1])
    return any(not line.strip() for text in lines for line in text.splitlines())


def _new_topic_path(faq_dir: Path, topic: str) -> Path:
    for suffix in (".yml", ".yaml"):
        clash = faq_dir / f"{topic}{suffix}"
        if clash.exists():
            raise FaqEditError(
                say(
                    "{file} exists but has errors: fix it first (run `tanya check`).",
                    file=clash.name,
                )
            )
    return faq_dir / f"{topic}.yml"


def _new_topic(topic: str, titles: Mapping[str, str], entry: CommentedMap) -> CommentedMap:
    ordered = CommentedMap(
        (language, titles[language]) for language in LANGUAGES if language in titles
    )
    ordered.fa.set_flow_style()
    document = CommentedMap()
    document["topic"] = topic
    document["title"] = ordered
    document["entries"] = CommentedSeq([entry])
    return document


# --- keeping blank lines and comments where they belong ---------------------------------
#
# ruamel.yaml keeps the blank lines and comment lines that follow a block collection in the
# comment slot of its last scalar. Appending after that scalar would leave them above the
# new item (a blank line inside the entry, a comment above the wrong key), so they move to
# the new last item.


def _append_item(sequence: CommentedSeq, value: Any) -> None:
    trailing = _detach_trailing(sequence)
    sequence.append(value)
    _attach_trailing(sequence, trailing)


def _insert_key(mapping: CommentedMap, key: str, value: Any, order: Sequence[str]) -> None:
    """Insert ``key`` where the README's key order puts it."""
    rank = order.index(key)
    later = (i for i, k in enumerate(mapping) if k in order and order.index(k) > rank)
    position = next(later, len(mapping))
    if position < len(mapping):
        mapping.insert(position, key, value)
        return
    trailing = _detach_trailing(mapping)
    mapping[key] = value
    _attach_trailing(mapping, trailing)


def _tail(node: Any) -> tuple[dict[Any, Any], Any, int, Any] | None:
    """Where the comments after a block collection live: (ca.items, key, slot, last scalar)."""
    found = None
    while isinstance(node, CommentedMap | CommentedSeq) and node and not node.fa.flow_style():
        if isinstance(node, CommentedMap):
            key: Any = list(node)[-1]
            found = (node.ca.items, key, 2)
        else:
            key = len(node) - 1
            found = (node.ca.items, key, 0)
        node = node[key]
    return None if found is None else (*found, node)


def _split_trailing(value: str, leaf: Any) -> tuple[str, str]:
    """Split a comment into the end of the last line (its own comment) and the lines after."""
    if isinstance(leaf, LiteralScalarString | FoldedScalarString):
        return "", value  # a block scalar writes its own line end
    end = value.find("\n") + 1
    return (value[:end], value[end:]) if end else (value, "")


def _detach_trailing(node: Any) -> str:
    tail = _tail(node)
    if tail is None:
        return ""
    items, key, index, leaf = tail
    comments: list[Any] | None = items.get(key)
    token = comments[index] if comments else None
    if comments is None or token is None:
        return ""
    kept, trailing = _split_trailing(token.value, leaf)
    if kept.strip():
        token.value = kept
    else:
        comments[index] = None
    return trailing


def _attach_trailing(node: Any, trailing: str) -> None:
    tail = _tail(node) if trailing else None
    if tail is None:
        return
    items, key, index, _ = tail
    comments = items.setdefault(key, [None, None, None, None])
    token = comments[index]
    if token is None:
        comments[index] = CommentToken("\n" + trailing, CommentMark(0))
    else:
        token.value = token.value + trailing


# --- public helpers for other writers of FAQ files (`tanya import`) ---------------------


def faq_lock() -> threading.Lock:
    """The lock every in-process edit of the FAQ files holds from reading to replacing."""
    return _LOCK


def read_document(path: Path) -> tuple[Any, bool]:
    """A topic file's round-trip document, and whether it uses Windows line ends."""
    return _read(path)


def entry_node(document: Any, entry_id: str) -> CommentedMap:
    return _entry_node(document, entry_id)


def append_entry(entries: CommentedSeq, entry: CommentedMap) -> None:
    """Append an entry in the style of the file (blank lines, flow lists)."""
    _append_entry(entries, entry)


def add_example(questions: CommentedMap, language: str, question: str) -> None:
    """Append one example question, adding the language's list where the README puts it."""
    _add_to_list(questions, language, question)


def set_key(mapping: CommentedMap, key: str, value: Any, order: Sequence[str]) -> None:
    """Set ``key``, in place or where ``order`` puts it; blank lines after it stay after it."""
    if key not in mapping:
        _insert_key(mapping, key, value, order)
        return
    trailing = _detach_trailing(mapping) if list(mapping)[-1] == key else ""
    mapping[key] = value
    _attach_trailing(mapping, trailing)


def remove_key(mapping: CommentedMap, key: str) -> None:
    """Remove ``key``; the blank lines and comments after the mapping stay after it."""
    if key not in mapping:
        return
    trailing = _detach_trailing(mapping) if list(mapping)[-1] == key else ""
    del mapping[key]
    _attach_trailing(mapping, trailing)


def new_topic_document(
    topic: str, titles: dict[str, str], entries: Sequence[CommentedMap], comment: str = ""
) -> CommentedMap:
    """A new topic file in the sample files' style: flow title, a blank line between entries."""
    title = CommentedMap(titles)
    title.fa.set_flow_style()
    document = CommentedMap()
    if comment:
        document.yaml_set_start_comment(comment)
    document["topic"] = topic
    document["title"] = title
    document["entries"] = CommentedSeq(entries[:1])
    for entry in entries[1:]:
        _append_entry(document["entries"], entry)
    return document


def render(document: Any, crlf: bool = False) -> str:
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    return buffer.getvalue().replace("\n", "\r\n") if crlf else buffer.getvalue()


def save_files(
    faq_dir: Path, texts: dict[Path, str], before: list[Problem], *, dry_run: bool = False
) -> None:
    """Validate several edited files together, then replace each one atomically.

    ``FaqEditError`` when the folder, edited, would have an error it did not have before;
    nothing is written then. With ``dry_run`` nothing is written either way.
    """
    new = _new_errors(faq_dir, texts, before)
    if new:
        raise FaqEditError(say("Nothing was saved: {problems}", problems="; ".join(new[:3])))
    if dry_run:
        return
    faq_dir.mkdir(parents=True, exist_ok=True)
    for path, text in texts.items():
        _replace(faq_dir, path, text)


def _new_errors(
    faq_dir: Path, texts: dict[Path, str], before: list[Problem], leaving_out: Sequence[Path] = ()
) -> list[str]:
    names = {path.name for path in [*texts, *leaving_out]}
    with tempfile.TemporaryDirectory(prefix="tanya-faq-edit-") as name:
        scratch = Path(name)
        for source in faq_files(faq_dir) if faq_dir.is_dir() else []:
            if source.name not in names:
                shutil.copyfile(source, scratch / source.name)
        for path, text in texts.items():
            (scratch / path.name).write_text(text, encoding="utf-8", newline="")
        _, after = load_faq(scratch)
        known = {_describe(p, faq_dir) for p in before if p.severity is Severity.ERROR}
        return [
            description
            for p in after
            if p.severity is Severity.ERROR and (description := _describe(p, scratch)) not in known
        ]


def _replace(faq_dir: Path, path: Path, text: str) -> None:
    with replacing(path) as temporary:
        _write_synced(faq_dir, path, temporary, text)


# --- writing safely ---------------------------------------------------------------------


def _write(faq_dir: Path, path: Path, document: Any, crlf: bool, before: list[Problem]) -> None:
    """Replace ``path`` only when the folder, edited, has no error it did not have before."""
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    text = buffer.getvalue().replace("\n", "\r\n") if crlf else buffer.getvalue()
    with replacing(path) as temporary:
        _write_synced(faq_dir, path, temporary, text)
        _validate(faq_dir, path, temporary, before)


def _write_synced(faq_dir: Path, path: Path, temporary: Path, text: str) -> None:
    """``text`` on disk in ``temporary``, with the permissions ``path`` has."""
    with temporary.open("w", encoding="utf-8", newline="") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())  # else a power cut after the rename can leave it empty
    temporary.chmod(_file_mode(faq_dir, path))


def _file_mode(faq_dir: Path, path: Path) -> int:
    """mkstemp makes private files: keep the permissions officials' files already have."""
    for model in (path, *faq_files(faq_dir)):
        if model.exists():
            return stat.S_IMODE(model.stat().st_mode)
    return 0o644


def _validate(faq_dir: Path, path: Path, edited: Path, before: list[Problem]) -> None:
    # The loader reads a folder; a scratch copy with the edited file shows the FAQ as it
    # would be, while the real folder stays untouched until the edit is known to be good.
    with tempfile.TemporaryDirectory(prefix="tanya-faq-edit-") as name:
        scratch = Path(name)
        for source in faq_files(faq_dir):
            if source.name != path.name:
                shutil.copyfile(source, scratch / source.name)
        shutil.copyfile(edited, scratch / path.name)
        _, after = load_faq(scratch)
        known = {_describe(p, faq_dir) for p in before if p.severity is Severity.ERROR}
        new = [
            description
            for p in after
            if p.severity is Severity.ERROR and (description := _describe(p, scratch)) not in known
        ]
    if new:
        raise FaqEditError(say("The edit was not saved: {problems}", problems="; ".join(new[:3])))


def _describe(problem: Problem, root: Path) -> str:
    """A problem without line numbers (they move) or folder names (they differ)."""
    where = [problem.path.name]
    if problem.entry:
        where.append(f"entry {problem.entry}")
    if problem.field:
        where.append(f"field {problem.field}")
    message = problem.message.replace(f"{root}{os.sep}", "")
    return f"{', '.join(where)}: {message}"
