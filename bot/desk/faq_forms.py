"""The desk's "add to FAQ" forms (ticket and clusters pages): what they start with, and
reading them back.

A citizen's question goes into the FAQ files, which everyone with the repository reads:
it starts with personal numbers and addresses taken out (``comparable``), and the entry
it is offered for is the one whose answer the official sent, not the model's guess
(which was wrong or unsure, or the question would not have come to the desk).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

from bot.core.answerer import question_label, render_answer
from bot.core.clusters import comparable
from bot.faq.importing import slugify
from bot.faq.model import Entry, Faq

# How much of an official's answer must be an entry's answer for it to count as "used"
# (0-100, rapidfuzz's partial ratio: an answer with a greeting around it still counts).
USED_SIMILARITY = 90
FIELDS = ("topic", "new_topic", "entry_id")


def masked_question(question: str | None) -> str:
    """The citizen's question without NIK, phone numbers and e-mail addresses."""
    return comparable(question or "")


def used_entry(answer: str | None, faq: Faq, languages: Sequence[str]) -> Entry | None:
    """The entry whose answer (in any language) the official's answer is made of: "use
    this answer", maybe with a greeting or a line added; ``None`` for an answer of their
    own."""
    if not answer:
        return None
    best: tuple[float, Entry] | None = None
    for entry in faq.entries:
        for language in languages:
            if language not in entry.answers:
                continue
            given = render_answer(entry, language)
            if len(given) > len(answer) * 1.2:
                continue  # the answer is a part of the entry's at most: not "used"
            score = fuzz.partial_ratio(given, answer)
            if score >= USED_SIMILARITY and (best is None or score > best[0]):
                best = (score, entry)
    return best[1] if best else None


def entry_label(entry: Entry, language: str) -> str:
    """How an official recognises an entry: its first example question, and its id."""
    return f"{question_label(entry, language)} ({entry.id})"


def suggested_id(question: str, faq: Faq) -> str:
    """An entry id made of the question's telling words, not taken yet."""
    base = slugify(question, question=True)[:60].strip("-") or "entri-baru"
    candidate, number = base, 1
    while faq.get(candidate) is not None:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


@dataclass(frozen=True)
class NewEntry:
    """The "new FAQ entry" form as the official filled it in."""

    topic: str
    new_topic: str
    titles: dict[str, str]
    entry_id: str
    questions: dict[str, list[str]]
    answers: dict[str, str]

    @property
    def chosen_topic(self) -> str:
        return self.new_topic or self.topic

    def values(self) -> dict[str, Any]:
        """The form's fields, to fill it in again after an error."""
        values: dict[str, Any] = {
            "topic": self.topic,
            "new_topic": self.new_topic,
            "entry_id": self.entry_id,
        }
        for language, title in self.titles.items():
            values[f"title_{language}"] = title
        for language, items in self.questions.items():
            values[f"questions_{language}"] = "\n".join(items)
        for language, text in self.answers.items():
            values[f"answer_{language}"] = text
        return values


def read_new_entry(form: Mapping[str, Any], languages: Sequence[str]) -> NewEntry:
    def field(name: str) -> str:
        return str(form.get(name, "") or "")

    questions = {
        language: [
            line.strip() for line in field(f"questions_{language}").splitlines() if line.strip()
        ]
        for language in languages
    }
    return NewEntry(
        topic=field("topic").strip(),
        new_topic=field("new_topic").strip(),
        titles={language: field(f"title_{language}").strip() for language in languages},
        entry_id=field("entry_id").strip(),
        questions=questions,
        answers={language: field(f"answer_{language}").strip() for language in languages},
    )


def missing_titles(entry: NewEntry, faq: Faq, languages: Sequence[str]) -> list[str]:
    """The languages a new topic still needs a title in (citizens read the title in
    /langganan and announcements, never the slug)."""
    if not entry.new_topic or faq.topic(entry.new_topic) is not None:
        return []
    return [language for language in languages if not entry.titles.get(language)]
