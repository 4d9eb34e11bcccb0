"""The FAQ as the rest of the bot sees it: validated, immutable, keyed by entry id."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class Entry:
    id: str
    topic: str
    questions: Mapping[str, tuple[str, ...]]
    answers: Mapping[str, str]
    links: tuple[Link, ...] = ()
    source: str | None = None
    updated: date | None = None
    valid_until: date | None = None
    path: Path | None = field(default=None, compare=False)

    def all_questions(self) -> Iterator[tuple[str, str]]:
        """Yield ``(language, question)`` for every example question."""
        for language, questions in self.questions.items():
            for question in questions:
                yield language, question

    def answer_language(self, wanted: str, fallbacks: tuple[str, ...] = ()) -> str:
        """The language to answer in: the wanted one when the entry has it."""
        for language in (wanted, *fallbacks):
            if language in self.answers:
                return language
        return next(iter(self.answers))

    def is_expired(self, today: date) -> bool:
        return self.valid_until is not None and today > self.valid_until


@dataclass(frozen=True)
class Topic:
    slug: str
    titles: Mapping[str, str]
    entries: tuple[Entry, ...]
    path: Path | None = field(default=None, compare=False)

    def title(self, language: str) -> str:
        return self.titles.get(language) or next(iter(self.titles.values()), self.slug)


@dataclass(frozen=True)
class Faq:
    topics: tuple[Topic, ...]

    def __post_init__(self) -> None:
        index = {entry.id: entry for topic in self.topics for entry in topic.entries}
        object.__setattr__(self, "_index", index)

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(entry for topic in self.topics for entry in topic.entries)

    def entry(self, entry_id: str) -> Entry:
        """Return the entry with this id; ``KeyError`` when there is none."""
        index: dict[str, Entry] = self._index  # type: ignore[attr-defined]
        return index[entry_id]

    def get(self, entry_id: str) -> Entry | None:
        index: dict[str, Entry] = self._index  # type: ignore[attr-defined]
        return index.get(entry_id)

    def topic(self, slug: str) -> Topic | None:
        return next((topic for topic in self.topics if topic.slug == slug), None)

    def __len__(self) -> int:
        return sum(len(topic.entries) for topic in self.topics)
