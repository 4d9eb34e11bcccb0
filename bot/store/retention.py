"""Retention: citizens' words are kept for a limited time, the figures about them for good.

A purge blanks every copy of what citizens (and officials answering them) wrote before a
cut-off: the text of messages, the question and answer copied into escalations (and so
their full-text index), free-text survey answers, officials' notes on closed tickets
and the answers repeated in the audit log. Rows are never deleted: ids, times, channels,
decisions, confidences, FAQ entries, ratings, feedback, votes and scale or choice survey
answers stay, so every count, share, response time and rating is the same afterwards.

Two kinds of text are kept past the cut-off, because work on them is not finished: a
message not yet answered or delivered, and the question of a ticket still open.

The work is done in batches of ``BATCH_ROWS`` rows, one transaction each, so the bot
keeps answering while a large first purge runs. Blanked values do not shrink the file:
SQLite reuses the space for new messages (``secure_delete``, on in ``Store.open``,
overwrites it with zeros); only ``VACUUM`` (``tanya purge --vacuum``, with the bot
stopped) gives it back to the file system.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.store.clock import iso
from bot.store.engine import Dialect, Engine
from bot.store.leases import Jobs, worker_name
from bot.store.officials import Officials

log = logging.getLogger(__name__)

BATCH_ROWS = 5000
DAY_SECONDS = 24 * 3600
# How often each worker looks whether the day's purge is due (one of them runs it).
PURGE_CHECK_SECONDS = 600.0
# Officials close a ticket with "<reason code>: <their note>"; the note goes, the code stays.
CLOSE_CODE = "CASE WHEN instr({0}, ':') > 0 THEN substr({0}, 1, instr({0}, ':') - 1) ELSE {0} END"
# Audit entries that repeat words about a citizen (an answer's text, a closing note)...
AUDIT_WORDS = (
    "((action = 'answer' AND detail IS NOT NULL) OR (action = 'close' AND detail LIKE '%:%'))"
)
# ...and what is kept of their detail: nothing of an answer, a closing note's reason code.
AUDIT_KEPT = f"CASE WHEN action = 'answer' THEN NULL ELSE {CLOSE_CODE.format('detail')} END"


@dataclass(frozen=True)
class Purged:
    """How many rows had words removed (or would have, for a dry run), per kind."""

    messages: int = 0
    escalations: int = 0
    survey_answers: int = 0
    audit_entries: int = 0

    def __add__(self, other: Purged) -> Purged:
        return Purged(
            *(
                a + b
                for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)
            )
        )

    @property
    def total(self) -> int:
        return sum(dataclasses.astuple(self))

    def describe(self) -> str:
        return (
            f"{self.messages} messages, {self.escalations} escalations, "
            f"{self.survey_answers} survey answers, {self.audit_entries} audit entries"
        )


@dataclass(frozen=True)
class _Step:
    """One kind of row to blank: ``where`` (parameters: the cut-off, then ``extra``) picks
    the rows still holding words from before the cut-off; ``blank`` is the SET clause."""

    field: str
    table: str
    key: str  # the integer key the batches walk along: id, or the rowid; "": no batches
    where: str
    blank: str
    extra: tuple[str, ...] = ()

    def rows(self) -> str:
        return f"SELECT {self.key or 1} FROM {self.table} WHERE ({self.where})"


def cutoff(days: int, now: datetime | None = None) -> datetime:
    """The moment before which texts are removed, ``days`` before ``now``."""
    return (now or datetime.now(UTC)) - timedelta(days=days)


def _steps(db: Engine) -> list[_Step]:
    steps = [
        _Step(
            "messages",
            "messages",
            "id",
            "created_at < ? AND text IS NOT NULL "
            "AND status NOT IN ('received', 'pending', 'waiting') "
            "AND id NOT IN (SELECT message_id FROM escalations WHERE status = 'open')",
            "text = NULL",
        ),
        _Step(
            "escalations",
            "escalations",
            "id",
            "status != 'open' AND coalesce(answered_at, updated_at) < ? "
            "AND (question IS NOT NULL OR answer IS NOT NULL OR closed_reason LIKE '%:%')",
            # Updating ``question`` fires the FTS trigger: the index forgets the words.
            f"question = NULL, answer = NULL, closed_reason = {CLOSE_CODE.format('closed_reason')}",
        ),
        _Step(
            "audit_entries",
            "audit_log",
            "id",
            f"at < ? AND {AUDIT_WORDS}",
            f"detail = {AUDIT_KEPT}",
        ),
    ]
    free_text = _free_text_questions(db)
    if free_text:
        marks = ", ".join("?" for _ in free_text)
        steps.append(
            _Step(
                "survey_answers",
                "survey_answers",
                # PostgreSQL has no rowid; its ctid is not ordered: one batch there.
                "rowid" if db.dialect is Dialect.SQLITE else "",
                # ``answer`` may not be NULL: an empty answer says "was given, now removed".
                f"created_at < ? AND answer != '' AND broadcast_id || ':' || question IN ({marks})",
                "answer = ''",
                free_text,
            )
        )
    return steps


def _free_text_questions(db: Engine) -> tuple[str, ...]:
    """``"<survey id>:<question index>"`` of every free-text survey question: scale and
    choice answers are the survey's results and stay."""
    found = []
    for survey_id, options in db.execute(
        "SELECT id, options FROM broadcasts WHERE kind = 'survey'"
    ).fetchall():
        for index, item in enumerate(json.loads(options or "[]")):
            if json.loads(item).get("kind") == "text":
                found.append(f"{survey_id}:{index}")
    return tuple(found)


class Retention:
    """Purges of citizens' words past the retention period, over the store's database."""

    def __init__(self, db: Engine, jobs: Jobs) -> None:
        self.db = db
        self.jobs = jobs  # the store's: which worker purges this period

    def would_purge(self, older_than: datetime) -> Purged:
        """What a purge with this cut-off would blank; changes nothing."""
        counts = {}
        for step in _steps(self.db):
            row = self.db.execute(
                f"SELECT count(*) FROM ({step.rows()}) AS found", [iso(older_than), *step.extra]
            ).fetchone()
            counts[step.field] = int(row[0])
        return Purged(**counts)

    def purging(self, older_than: datetime, batch_rows: int = BATCH_ROWS) -> Iterator[Purged]:
        """Purge one batch at a time, yielding what each committed batch blanked.

        When the last batch is done, the full-text index is compacted (until then it still
        holds deleted words in its old segments), the WAL file is emptied of old page
        images, and the audit log records the counts.
        """
        db = self.db
        cut = iso(older_than)
        total = Purged()
        for step in _steps(db):
            if not step.key:
                with db.atomic():
                    cursor = db.execute(
                        f"UPDATE {step.table} SET {step.blank} WHERE ({step.where})",
                        [cut, *step.extra],
                    )
                batch = Purged(**{step.field: cursor.rowcount})
                total += batch
                yield batch
                continue
            after = -1
            while True:
                last = db.execute(
                    f"SELECT max({step.key}) FROM ({step.rows()} AND {step.key} > ? "
                    f"ORDER BY {step.key} LIMIT ?) AS batch",
                    [cut, *step.extra, after, batch_rows],
                ).fetchone()[0]
                if last is None:
                    break
                with db.atomic():
                    cursor = db.execute(
                        f"UPDATE {step.table} SET {step.blank} WHERE {step.key} IN "
                        f"({step.rows()} AND {step.key} > ? AND {step.key} <= ?)",
                        [cut, *step.extra, after, last],
                    )
                after = last
                batch = Purged(**{step.field: cursor.rowcount})
                total += batch
                yield batch
        compact(db, escalations=total.escalations > 0)
        Officials(db).audit(
            None, "retention-purge", f"texts before {older_than:%Y-%m-%d}", total.describe()
        )

    def purge(self, older_than: datetime, batch_rows: int = BATCH_ROWS) -> Purged:
        """Blank every citizen's words from before ``older_than``; keep every row."""
        return sum(self.purging(older_than, batch_rows), Purged())

    async def purge_daily(
        self, days: int, every: float = DAY_SECONDS, worker: str | None = None
    ) -> None:
        """Purge once every ``every`` seconds, letting the bot work between batches: the
        first run at start unless one ran less than ``every`` ago. With several workers
        every one runs this and one of them purges per period (``Jobs``, job "purge").

        ``days`` of 0 keeps texts forever. A failed run (e.g. the database was locked by a
        ``tanya`` command for too long) is logged and tried again at the next turn.
        """
        if days <= 0:
            return
        jobs, worker = self.jobs, worker or worker_name()
        while True:
            try:
                due = jobs.take_every("purge", worker, every)
            except Exception:
                log.exception("retention: could not tell whether the purge is due")
                due = False
            if not due:
                await asyncio.sleep(min(every, PURGE_CHECK_SECONDS))
                continue
            older_than = cutoff(days)
            total = Purged()
            try:
                for batch in self.purging(older_than):
                    total += batch
                    await asyncio.sleep(0)
            except Exception:
                log.exception("retention: purging texts older than %s failed", older_than)
            else:
                log.info("retention: removed texts older than %d days: %s", days, total.describe())
            await asyncio.sleep(min(every, PURGE_CHECK_SECONDS))

    def vacuum(self) -> None:
        """Rebuild the file without its free space; locks the database while it runs.
        On PostgreSQL a plain VACUUM, which locks nothing (its space goes back to the
        tables, not the file system)."""
        self.db.execute("VACUUM")
        if self.db.dialect is Dialect.POSTGRESQL:
            return
        # In WAL mode the rebuilt pages land in the -wal file; the checkpoint shrinks it.
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def compact(db: Engine, *, escalations: bool = True) -> None:
    """Make removed words unreadable in the file itself, not only in queries. (On
    PostgreSQL a row's old version stays until autovacuum reclaims it: nothing to do.)"""
    if db.dialect is Dialect.POSTGRESQL:
        return
    if escalations:
        # FTS5 only marks deleted entries; merging the segments drops them for good.
        with db.atomic():
            db.execute("INSERT INTO escalations_fts (escalations_fts) VALUES ('optimize')")
    # Old versions of changed pages stay in the -wal file until it is truncated (this
    # waits for other connections' transactions, up to the busy timeout, and gives up).
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
