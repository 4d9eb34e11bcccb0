"""What the desk learns from citizens' questions: clusters of unanswered questions, the
fast-growing ones, and messages that may carry misinformation.

Embedding a period's questions costs CPU seconds (about 150 questions per second on two
cores), so it runs on a worker thread, each message's vector is kept in memory by its
id (the next visit embeds only what is new), and a page waits only briefly for a fresh
result: when it takes longer, the page says so and reloads itself while the work goes
on in the background.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from bot.config import InsightSettings
from bot.core.clusters import DEFAULT_WORD_WEIGHT, Growth, comparable, group, word_vectors
from bot.core.rumours import Sign
from bot.faq.loader import normalise_example
from bot.faq.model import Entry, Faq
from bot.store import Store
from bot.store.insight import RumourMessage, UnansweredQuestion
from bot.store.messages import MessageAction

log = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], np.ndarray]
PERIODS = (7, 14, 30, 90)  # days the desk offers; all longer than insight.recent_days
MAX_RUMOURS = 300
REPORT_MAX_AGE = timedelta(minutes=5)  # growth is relative to now: recompute now and then


@dataclass(frozen=True)
class Question:
    id: int
    text: str
    at: datetime
    language: str | None


@dataclass(frozen=True)
class Cluster:
    questions: tuple[Question, ...]  # the most typical first
    recent: int  # asked in the last insight.recent_days
    earlier: int
    growing: bool

    @property
    def size(self) -> int:
        return len(self.questions)

    def examples(self, limit: int = 5) -> list[str]:
        """Up to ``limit`` different questions, the most typical first."""
        seen: set[str] = set()
        chosen = []
        for question in self.questions:
            key = " ".join(question.text.casefold().split())
            if key not in seen:
                seen.add(key)
                chosen.append(question.text)
            if len(chosen) == limit:
                break
        return chosen

    @property
    def language(self) -> str | None:
        """The language most of its questions were in."""
        counts = Counter(q.language for q in self.questions if q.language)
        return counts.most_common(1)[0][0] if counts else None


@dataclass(frozen=True)
class Report:
    days: int
    questions: int
    clusters: tuple[Cluster, ...]  # largest first
    other: tuple[Question, ...]  # in no cluster, newest first
    limited: bool  # more questions than insight.max_questions: only the latest were used
    computed_at: datetime


@dataclass(frozen=True)
class Rumour:
    id: int
    text: str
    kind: str
    at: datetime
    channel: str
    signs: Sign
    answered_with: str | None  # the hoax clarification the bot answered with
    ticket: int | None
    match: HoaxMatch | None


@dataclass(frozen=True)
class HoaxMatch:
    """The hoax clarification most like a message, and how alike (0-1)."""

    entry: Entry
    similarity: float


class HoaxMatcher:
    """Match messages against the hoax-clarification entries' example questions.

    Similarity is the clusters' mix of meaning (sentence embeddings) and shared words
    (``bot.core.clusters.similarities``): on the sample FAQ's held-out hoax questions
    the mix found the right clarification far more often than embeddings alone, which
    rate many unrelated Indonesian sentences alike (``bench/clusters.py``). The examples'
    embeddings are computed once per set of entries (the FAQ changes only when officials
    edit it); a message is scored by its most similar example of each entry.
    """

    def __init__(self, embed: Embed, word_weight: float = DEFAULT_WORD_WEIGHT) -> None:
        self.embed = embed
        self.word_weight = word_weight
        self._key: tuple[tuple[str, tuple[str, ...]], ...] = ()
        self._questions: list[str] = []
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._owners: list[int] = []

    def _prepare(self, entries: Sequence[Entry]) -> None:
        key = tuple((e.id, tuple(q for _, q in e.all_questions())) for e in entries)
        if key == self._key:
            return
        self._owners = [i for i, e in enumerate(entries) for _ in e.all_questions()]
        self._questions = [q for e in entries for _, q in e.all_questions()]
        self._vectors = self.embed(self._questions) if self._questions else self._vectors
        self._key = key

    def scores(
        self, texts: Sequence[str], vectors: np.ndarray, entries: Sequence[Entry]
    ) -> np.ndarray:
        """Per message (its text and L2-normalised embedding) and entry: the similarity
        of the entry's closest example question."""
        self._prepare(entries)
        result = np.zeros((len(texts), len(entries)), dtype=np.float32)
        if not self._questions or not len(texts):
            return result
        meaning = vectors @ self._vectors.T
        words = word_vectors([*texts, *self._questions])
        shared = (words[: len(texts)] @ words[len(texts) :].T).toarray()
        mixed = (1 - self.word_weight) * meaning + self.word_weight * shared
        for column, owner in enumerate(self._owners):
            np.maximum(result[:, owner], mixed[:, column], out=result[:, owner])
        return result


def period(days: str | None) -> int:
    """The period a page asks for (``?days=``): one of ``PERIODS``, else 14 days."""
    return next((p for p in PERIODS if str(p) == days), 14)


class Insight:
    def __init__(
        self,
        store: Store,
        embed: Embed | None,
        settings: InsightSettings,
        answer_threshold: float,
    ) -> None:
        self.queries = store.insights
        self.embed = embed
        self.settings = settings
        self.answer_threshold = answer_threshold
        self.growth = Growth(
            settings.recent_days, settings.growth_factor, settings.growth_min_questions
        )
        self._vectors: OrderedDict[int, np.ndarray] = OrderedDict()
        self._reports: dict[int, tuple[tuple[int, ...], Report]] = {}
        self._tasks: dict[int, asyncio.Task[Report]] = {}
        self._matcher = (
            HoaxMatcher(embed, settings.cluster_word_weight) if embed is not None else None
        )

    @property
    def available(self) -> bool:
        """Without the sentence encoder there are no clusters and no hoax matches."""
        return self.embed is not None

    # Clusters

    async def clusters(self, days: int, wait: float = 2.0, faq: Faq | None = None) -> Report | None:
        """The clusters of the last ``days``; ``None`` while they are still being worked
        out after ``wait`` seconds (ask again later: the work goes on). Questions that
        are already an example question of ``faq`` are left out: they are in it."""
        since = _since(days)
        rows = self.queries.unanswered(since, self.answer_threshold, self.settings.max_questions)
        if faq is not None:
            known = {normalise_example(q) for e in faq.entries for _, q in e.all_questions()}
            rows = [r for r in rows if normalise_example(comparable(r.text)) not in known]
        key = (len(rows), rows[0].id, rows[-1].id) if rows else (0,)
        cached = self._reports.get(days)
        if cached and cached[0] == key and _age(cached[1].computed_at) < REPORT_MAX_AGE:
            return cached[1]
        task = self._tasks.get(days)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._report(days, rows, key))
            task.add_done_callback(_log_failure)
            self._tasks[days] = task
        try:
            return await asyncio.wait_for(asyncio.shield(task), wait)
        except TimeoutError:
            return None

    async def _report(
        self, days: int, rows: list[UnansweredQuestion], key: tuple[int, ...]
    ) -> Report:
        questions = [Question(r.id, r.text, _time(r.created_at), r.language or None) for r in rows]
        texts = [comparable(q.text) for q in questions]
        vectors = await self.vectors([(q.id, t) for q, t in zip(questions, texts, strict=True)])
        s = self.settings
        grouped, rest = await asyncio.get_running_loop().run_in_executor(
            None,
            lambda: group(
                texts, vectors, s.cluster_distance, s.cluster_word_weight, s.min_cluster_size
            ),
        )
        now = datetime.now(UTC)
        earlier_days = days - s.recent_days
        clusters = []
        for members in grouped:
            chosen = tuple(questions[i] for i in members)
            recent, earlier = self.growth.split([q.at for q in chosen], now)
            growing = self.growth.is_growing(recent, earlier, earlier_days)
            clusters.append(Cluster(chosen, recent, earlier, growing))
        report = Report(
            days=days,
            questions=len(questions),
            clusters=tuple(clusters),
            other=tuple(questions[i] for i in reversed(rest)),
            limited=len(questions) >= s.max_questions,
            computed_at=now,
        )
        self._reports[days] = (key, report)
        return report

    async def vectors(self, items: Sequence[tuple[int, str]]) -> np.ndarray:
        """Embeddings of ``(message id, text)`` pairs, embedding only those not cached
        (a message's text never changes; the retention purge only blanks it)."""
        if self.embed is None:
            raise RuntimeError("the sentence encoder is not loaded")
        missing = [(i, t) for i, t in items if i not in self._vectors]
        if missing:
            embed = self.embed
            matrix = await asyncio.get_running_loop().run_in_executor(
                None, lambda: embed([t for _, t in missing])
            )
            for (i, _), vector in zip(missing, matrix, strict=True):
                norm = float(np.linalg.norm(vector)) or 1.0
                self._vectors[i] = (vector / norm).astype(np.float32)
            # Bounded: a few periods' worth of questions; the oldest go first.
            while len(self._vectors) > 4 * self.settings.max_questions:
                self._vectors.popitem(last=False)
        if not items:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[i] for i, _ in items])

    # Rumours

    def hoax_entries(self, faq: Faq) -> list[Entry]:
        """The clarifications rumours are matched against: the FAQ's hoax topic."""
        return [e for e in faq.entries if e.topic == self.settings.hoax_topic]

    async def rumours(self, days: int, faq: Faq) -> list[Rumour]:
        """Messages of the last ``days`` that may carry misinformation, newest first, each
        with the hoax clarification it is most like (when similar enough)."""
        entries = self.hoax_entries(faq)
        rows = self.queries.rumours(_since(days), [e.id for e in entries], MAX_RUMOURS)
        readable = [r for r in rows if r.kind == "text" and r.text]
        matches: dict[int, HoaxMatch] = {}
        if self._matcher is not None and readable and entries:
            texts = [comparable(r.text or "") for r in readable]
            vectors = await self.vectors([(r.id, t) for r, t in zip(readable, texts, strict=True)])
            matcher = self._matcher
            scores = await asyncio.get_running_loop().run_in_executor(
                None, lambda: matcher.scores(texts, vectors, entries)
            )
            for row, row_scores in zip(readable, scores, strict=True):
                found = _match(row, row_scores, entries, self.settings.hoax_similarity)
                if found is not None:
                    matches[row.id] = found
        return [
            Rumour(
                id=r.id,
                text=r.text or "",
                kind=r.kind,
                at=_time(r.created_at),
                channel=r.channel,
                signs=Sign(r.rumour or 0),
                answered_with=r.faq_id if r.action is MessageAction.ANSWER else None,
                ticket=r.ticket,
                match=matches.get(r.id),
            )
            for r in rows
        ]


def _match(
    row: RumourMessage, scores: np.ndarray, entries: Sequence[Entry], threshold: float
) -> HoaxMatch | None:
    """The clarification the bot answered with, if it did; else the most similar one."""
    if row.action is MessageAction.ANSWER:
        for index, entry in enumerate(entries):
            if entry.id == row.faq_id:
                return HoaxMatch(entry, float(scores[index]))
    index = int(np.argmax(scores))
    if float(scores[index]) < threshold:
        return None
    return HoaxMatch(entries[index], float(scores[index]))


def _log_failure(task: asyncio.Task[Report]) -> None:
    """A failed computation is logged even when no page waits for it any more; the next
    visit starts another."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("working out the question clusters failed", exc_info=exc)


def _since(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds")


def _time(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _age(moment: datetime) -> timedelta:
    return datetime.now(UTC) - moment
