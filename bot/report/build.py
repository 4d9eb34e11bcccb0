"""The public transparency report: a month's aggregate figures, safe to publish.

It is built from :class:`bot.store.stats.Summary` only (counts, never texts or ids), and
small numbers are suppressed so that no citizen can be singled out:

- any count from 1 to 9 is published as ``"<10"`` (zero stays zero);
- in a breakdown whose total is published (questions by channel, by language, by
  outcome, answered questions by topic), a single suppressed cell could be worked out as
  the total minus the others, so the smallest other non-zero cell is withheld too
  (``None``, shown as "–");
- a share is published only when the counts it is computed from are both published;
  response-time percentiles and the average rating only when they summarise 10 or more.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bot.faq.model import Faq
from bot.store.stats import NOT_DELIVERED, OUTCOMES, UNDECIDED, Summary

MIN_COUNT = 10
SMALL = "<10"
TOP_TOPICS = 10
OTHER_TOPICS = "other"  # entries no longer in the FAQ, and topics beyond the top ones

Cell = int | str | None  # an exact count, SMALL, or None: withheld


def suppress(count: int) -> Cell:
    """A count as it may be published on its own."""
    return SMALL if 0 < count < MIN_COUNT else count


def protect(counts: dict[str, int]) -> dict[str, Cell]:
    """The cells of a breakdown whose total is published, safe against subtraction."""
    cells: dict[str, Cell] = {key: suppress(count) for key, count in counts.items()}
    small = [key for key, count in counts.items() if 0 < count < MIN_COUNT]
    if len(small) == 1:
        others = sorted((count, key) for key, count in counts.items() if count >= MIN_COUNT)
        if others:
            cells[others[0][1]] = None
    return cells


def share(part: Cell, whole: Cell, exact_part: int, exact_whole: int) -> float | None:
    """``exact_part / exact_whole``, when both counts are published exactly."""
    if isinstance(part, int) and isinstance(whole, int) and exact_whole > 0:
        return round(exact_part / exact_whole, 4)
    return None


@dataclass(frozen=True)
class TopicRow:
    slug: str  # OTHER_TOPICS for the rest
    titles: dict[str, str]  # language -> the FAQ topic's title
    questions: Cell  # questions the bot answered with this topic's entries
    share: float | None  # of all questions the bot answered

    def title(self, language: str) -> str:
        return self.titles.get(language) or next(iter(self.titles.values()), self.slug)


@dataclass(frozen=True)
class Report:
    month: str  # YYYY-MM, in ``timezone``
    timezone: str
    start: str  # UTC ISO instants, [start, end)
    end: str
    generated_at: str
    questions: Cell
    channels: dict[str, Cell]
    languages: dict[str, Cell]
    outcomes: dict[str, Cell]  # OUTCOMES and UNDECIDED
    outcome_shares: dict[str, float | None]
    tickets: dict[str, Cell]  # opened, answered, closed
    response_median_seconds: float | None
    response_p90_seconds: float | None
    feedback: dict[str, Cell]  # helpful, not_helpful
    helpful_rate: float | None
    ratings: Cell
    rating_average: float | None
    topics: list[TopicRow]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["suppression"] = {
            "min_count": MIN_COUNT,
            "small": SMALL,
            "withheld": None,
            "rule": "counts 1-9 are shown as <10; null is withheld so that a small count "
            "cannot be worked out from the others",
        }
        return data


def build_report(summary: Summary, faq: Faq, generated_at: datetime) -> Report:
    """The month's report from its summary; topics are the live FAQ's."""
    period = summary.period
    total = summary.questions
    questions = suppress(total)
    outcomes = protect(summary.outcomes)
    feedback = {
        "helpful": suppress(summary.helpful),
        "not_helpful": suppress(summary.unhelpful),
    }
    answered = len(summary.response_seconds)
    enough_answers = answered >= MIN_COUNT
    return Report(
        month=period.label,
        timezone=period.timezone,
        start=period.bounds()[0],
        end=period.bounds()[1],
        generated_at=generated_at.isoformat(timespec="seconds"),
        questions=questions,
        channels=protect(summary.by_channel),
        languages=protect(summary.by_language),
        outcomes=outcomes,
        outcome_shares={
            key: share(outcomes[key], questions, summary.outcomes[key], total)
            for key in (*OUTCOMES, NOT_DELIVERED, UNDECIDED)
        },
        tickets={key: suppress(count) for key, count in summary.tickets.items()},
        response_median_seconds=summary.response_percentile(0.5) if enough_answers else None,
        response_p90_seconds=summary.response_percentile(0.9) if enough_answers else None,
        feedback=feedback,
        helpful_rate=_helpful_rate(summary, feedback),
        ratings=suppress(summary.rated),
        rating_average=round(summary.rating_average, 2)
        if summary.rating_average is not None and summary.rated >= MIN_COUNT
        else None,
        topics=_topics(summary, faq, outcomes["answer"]),
    )


def _helpful_rate(summary: Summary, feedback: dict[str, Cell]) -> float | None:
    """Helpful verdicts among all, when both kinds of verdict are published exactly."""
    if not all(isinstance(cell, int) for cell in feedback.values()) or not summary.feedback:
        return None
    return round(summary.helpful / summary.feedback, 4)


def _topics(summary: Summary, faq: Faq, answered: Cell) -> list[TopicRow]:
    """Answered questions per FAQ topic: the top ones, then everything else together."""
    counts: dict[str, int] = {}
    for faq_id, count in summary.entry_use.items():
        entry = faq.get(faq_id)
        slug = entry.topic if entry is not None else OTHER_TOPICS
        counts[slug] = counts.get(slug, 0) + count
    ranked = sorted(
        ((slug, n) for slug, n in counts.items() if slug != OTHER_TOPICS),
        key=lambda item: (-item[1], item[0]),
    )
    shown = dict(ranked[:TOP_TOPICS])
    rest = sum(n for _, n in ranked[TOP_TOPICS:]) + counts.get(OTHER_TOPICS, 0)
    if rest:
        shown[OTHER_TOPICS] = rest
    cells = protect(shown)
    total = summary.outcomes["answer"]
    rows = []
    for slug, count in shown.items():
        topic = faq.topic(slug)
        titles = dict(topic.titles) if topic is not None else {}
        rows.append(TopicRow(slug, titles, cells[slug], share(cells[slug], answered, count, total)))
    return rows
