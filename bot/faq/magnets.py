"""Magnet entries: an entry whose questions are found only by words most of the FAQ shares.

Seen on a public-health FAQ: "What is a coronavirus?" took 436 of 461 wrong answers,
because most citizens' questions say "coronavirus" while the other entries' questions say
"COVID-19", and nothing in that entry's question but the shared word says what it is
about. The model's lexical score gives such words no weight (bot/nlu/lexical.py), but the
classifier still learns from the entry's few examples; the lasting fix is in the FAQ:
examples that say what the entry is about in citizens' words.

A word counts as shared when it occurs (as the model sees it: chat spelling folded,
stemmed) in the questions or answers of at least :data:`SHARED_SHARE` of the entries;
function words ("what", "bagaimana") are left out. An entry is a magnet when its own
questions carry a shared word and no word of their own (:data:`MAX_OWN_WORDS`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from bot.faq.model import Entry, Faq
from bot.nlu.normalize import normalise_word, stem

SHARED_SHARE = 0.5
MAX_OWN_WORDS = 0
# Entries with this many example questions have enough words of their own.
MIN_EXAMPLES_EXEMPT = 6
MIN_ENTRIES = 6
_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")


@dataclass(frozen=True)
class Magnet:
    entry: Entry
    shared: tuple[str, ...]  # the shared words in its questions, as written
    entries_with_them: int  # how many entries use the most shared of them


def words(text: str) -> dict[str, str]:
    """Stem -> the word as written, for the content words of ``text``."""
    from bot.core.language import FUNCTION_WORDS

    stop = FUNCTION_WORDS["id"] | FUNCTION_WORDS["en"]
    result: dict[str, str] = {}
    for raw in _WORD.findall(text):
        for word in normalise_word(raw):
            if word.casefold() in stop or len(word) < 2 or word.isdigit():
                continue
            result.setdefault(stem(word), raw)
    return result


def find_magnets(faq: Faq) -> list[Magnet]:
    entries = list(faq.entries)
    if len(entries) < MIN_ENTRIES:
        return []
    texts = {
        entry.id: " ".join([q for _, q in entry.all_questions()] + list(entry.answers.values()))
        for entry in entries
    }
    frequency: Counter[str] = Counter()
    for text in texts.values():
        frequency.update(set(words(text)))
    shared_at = SHARED_SHARE * len(entries)
    magnets = []
    for entry in entries:
        questions = [q for _, q in entry.all_questions()]
        if len(questions) >= MIN_EXAMPLES_EXEMPT:
            continue
        own = words(" ".join(questions))
        shared = {s: w for s, w in own.items() if frequency[s] >= shared_at}
        if shared and len(own) - len(shared) <= MAX_OWN_WORDS:
            magnets.append(
                Magnet(
                    entry,
                    tuple(sorted(set(shared.values()), key=str.casefold)),
                    max(frequency[s] for s in shared),
                )
            )
    return magnets
