"""`tanya check`: errors from reading the FAQ, plus warnings about its content.

Warnings never block training. They point officials at what makes the bot worse over time:
examples of two entries so alike that the model must guess, entries past ``valid_until``
(the bot escalates those instead of answering), entries nobody has reviewed for long, and
"magnet" entries whose questions only say what most of the FAQ says (bot/faq/magnets.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from rapidfuzz import fuzz, process

from bot.faq.loader import load_faq, normalise_example
from bot.faq.magnets import find_magnets
from bot.faq.model import Entry, Faq
from bot.faq.problems import Problem, Severity
from bot.privacy import mask, personal_data
from bot.translatable import say


@dataclass(frozen=True)
class CheckReport:
    faq: Faq
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors


def check_faq(
    directory: Path,
    *,
    today: date | None = None,
    review_max_age_days: int = 365,
    near_duplicate_similarity: float = 90,
) -> CheckReport:
    """Validate every FAQ file and add content warnings."""
    today = today or date.today()
    faq, problems = load_faq(directory)
    problems += expiry_warnings(faq, today)
    problems += review_warnings(faq, today, review_max_age_days)
    problems += near_duplicate_warnings(faq, near_duplicate_similarity)
    problems += personal_data_warnings(faq)
    problems += magnet_warnings(faq)
    return CheckReport(faq=faq, problems=problems)


def _warning(entry: Entry, message: str, field: str) -> Problem:
    return Problem(Severity.WARNING, entry.path or Path(), message, entry=entry.id, field=field)


def expiry_warnings(faq: Faq, today: date) -> list[Problem]:
    return [
        _warning(
            entry,
            f"expired on {entry.valid_until}: the bot escalates this question "
            "to an official instead of answering",
            "valid_until",
        )
        for entry in faq.entries
        if entry.is_expired(today)
    ]


def review_warnings(faq: Faq, today: date, max_age_days: int) -> list[Problem]:
    cutoff = today - timedelta(days=max_age_days)
    return [
        _warning(
            entry, f"not reviewed since {entry.updated} (more than {max_age_days} days)", "updated"
        )
        for entry in faq.entries
        if entry.updated is not None and entry.updated < cutoff
    ]


KINDS = {"nik": "a NIK", "phone": "a phone number", "email": "an e-mail address"}


def personal_data_warnings(faq: Faq) -> list[Problem]:
    """A citizen's NIK, phone number or e-mail address pasted into the FAQ (say, from an
    answered question) would be in every copy of the files and in the model: warn about
    it in example questions, and about NIKs in answers (an office's phone number or
    e-mail address in an answer is what answers are for)."""
    problems = []
    for entry in faq.entries:
        for _, question in entry.all_questions():
            found = personal_data(question)
            if found:
                problems.append(_personal(entry, "questions", question, found))
        for language, answer in entry.answers.items():
            if "nik" in personal_data(answer):
                problems.append(_personal(entry, f"answer.{language}", answer, {"nik"}))
    return problems


def _personal(entry: Entry, field: str, text: str, found: set[str]) -> Problem:
    kinds = " and ".join(KINDS[kind] for kind in sorted(found))
    shown = mask(text)  # the check's output is read and pasted around: masked here too
    return _warning(
        entry,
        say(
            "{text!r} holds {kinds}: a citizen's personal data must not be in the FAQ; remove it",
            text=shown if len(shown) <= 80 else shown[:79] + "…",
            kinds=kinds,
        ),
        field,
    )


def near_duplicate_warnings(faq: Faq, threshold: float) -> list[Problem]:
    """Warn once per pair of entries whose examples are nearly the same text."""
    examples = [(entry, question) for entry in faq.entries for _, question in entry.all_questions()]
    if not examples:
        return []
    texts = [normalise_example(question) for _, question in examples]
    scores = process.cdist(texts, texts, scorer=fuzz.ratio, score_cutoff=threshold)
    warned: set[tuple[str, str]] = set()
    problems = []
    for i, j in zip(*scores.nonzero(), strict=True):
        (a, qa), (b, qb) = examples[i], examples[j]
        pair = (a.id, b.id)
        if i >= j or a.id == b.id or pair in warned:
            continue
        warned.add(pair)
        problems.append(
            _warning(
                b,
                f"example {qb!r} is nearly the same as {qa!r} of entry {a.id} "
                f"({scores[i, j]:.0f}% similar): make them more distinct",
                "questions",
            )
        )
    return problems


def magnet_warnings(faq: Faq) -> list[Problem]:
    """Warn about entries that questions about anything could be pulled to."""
    problems = []
    for magnet in find_magnets(faq):
        shared = ", ".join(repr(word) for word in magnet.shared)
        problems.append(
            _warning(
                magnet.entry,
                f"its example questions say little besides {shared}, which "
                f"{magnet.entries_with_them} of {len(faq)} entries use: questions about the "
                "others may be answered with this one. Add example questions saying what "
                "only this entry answers, in citizens' words (e.g. for \"What is a "
                'coronavirus?": "what kind of virus is it", "where does the virus come '
                'from"), or reword its question',
                "questions",
            )
        )
    return problems
