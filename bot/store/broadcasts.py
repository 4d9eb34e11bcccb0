"""Subscriptions, announcements and polls, and the delivery state of every recipient.

A broadcast's recipients are written down once, when sending starts (one ``deliveries``
row each, unique per citizen); the sender then works through the ``pending`` rows and
records each outcome. A restart picks up where it stopped: nobody is skipped and nobody
gets it twice, except a message that was on its way at the very moment the process died,
which is sent again (Telegram and Messenger cannot be asked whether it arrived).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from bot.store.clock import now_iso
from bot.store.engine import Dialect, Engine
from bot.store.liveness import Workers


class BroadcastKind(enum.StrEnum):
    ANNOUNCEMENT = "announcement"
    POLL = "poll"
    SURVEY = "survey"


class BroadcastStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"


class RecipientState(enum.StrEnum):
    """One recipient's copy: pending -> sending -> sent | failed | skipped | blocked."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    BLOCKED = "blocked"


DELIVERY_STATES = tuple(RecipientState)


@dataclass(frozen=True)
class Broadcast:
    id: int
    kind: BroadcastKind
    text: str
    link: str | None
    image_url: str | None
    options: tuple[str, ...]
    multiple: bool
    topics: tuple[str, ...]
    channels: tuple[str, ...]
    status: BroadcastStatus
    send_at: str
    created_by: int | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    closed_at: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Broadcast:
        return cls(
            id=row["id"],
            kind=BroadcastKind(row["kind"]),
            text=row["text"],
            link=row["link"],
            image_url=row["image_url"],
            options=tuple(json.loads(row["options"] or "[]")),
            multiple=bool(row["multiple"]),
            topics=tuple(json.loads(row["topics"])),
            channels=tuple(json.loads(row["channels"])),
            status=BroadcastStatus(row["status"]),
            send_at=row["send_at"],
            created_by=row["created_by"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            closed_at=row["closed_at"],
        )


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    citizen_id: int
    channel: str
    platform_id: str
    language: str | None
    last_inbound: str | None
    attempts: int = 0  # temporary failures so far


class Subscriptions:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def subscribe(self, citizen_id: int, topic: str) -> bool:
        """True when newly subscribed (False: was already)."""
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO subscriptions (citizen_id, topic, created_at) "
                "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [citizen_id, topic, now_iso()],
            )
            self.db.execute("UPDATE citizens SET blocked_at = NULL WHERE id = ?", [citizen_id])
        return cursor.rowcount == 1

    def unsubscribe(self, citizen_id: int, topic: str | None = None) -> int:
        """Leave one topic, or every topic when ``topic`` is None; returns how many."""
        with self.db.atomic():
            if topic is None:
                cursor = self.db.execute(
                    "DELETE FROM subscriptions WHERE citizen_id = ?", [citizen_id]
                )
            else:
                cursor = self.db.execute(
                    "DELETE FROM subscriptions WHERE citizen_id = ? AND topic = ?",
                    [citizen_id, topic],
                )
        return cursor.rowcount

    def topics_of(self, citizen_id: int) -> list[str]:
        rows = self.db.execute(
            "SELECT topic FROM subscriptions WHERE citizen_id = ? ORDER BY topic", [citizen_id]
        )
        return [r[0] for r in rows]

    def offer_once(self, citizen_id: int, topic: str) -> bool:
        """True the first time this topic is offered to this citizen, False afterwards."""
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO subscription_offers (citizen_id, topic, created_at) "
                "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [citizen_id, topic, now_iso()],
            )
        return cursor.rowcount == 1

    def counts(self) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT s.topic, count(*) FROM subscriptions s JOIN citizens c ON c.id = s.citizen_id "
            "WHERE c.blocked_at IS NULL GROUP BY s.topic"
        )
        return {r[0]: r[1] for r in rows}

    def add_subscribers(
        self, channel: str, platform_ids: Iterable[str], topic: str, language: str | None
    ) -> None:
        """Citizens of ``channel`` (created when new) following ``topic``, in one
        transaction: a list of subscribers brought from elsewhere, or a benchmark's."""
        now = now_iso()
        with self.db.atomic():
            for platform_id in platform_ids:
                self.db.execute(
                    "INSERT INTO citizens (channel, platform_id, language, first_seen, "
                    "last_seen) VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel, platform_id) "
                    "DO NOTHING",
                    [channel, platform_id, language, now, now],
                )
                self.db.execute(
                    "INSERT INTO subscriptions (citizen_id, topic, created_at) SELECT id, ?, ? "
                    "FROM citizens WHERE channel = ? AND platform_id = ? ON CONFLICT DO NOTHING",
                    [topic, now, channel, platform_id],
                )


class Vote(NamedTuple):
    """One citizen's vote in a poll: who is a channel and a number, never a name."""

    citizen_id: int
    channel: str
    option: int  # index into the poll's options
    created_at: str


class SurveyState(enum.StrEnum):
    """``survey_progress.status``: a citizen's place in a survey."""

    ANSWERING = "answering"
    DONE = "done"


class SurveyProgress(NamedTuple):
    next_question: int  # index into the survey's questions
    state: SurveyState


class SurveyAnswer(NamedTuple):
    citizen_id: int
    question: int  # index into the survey's questions
    answer: str
    created_at: str


class Broadcasts:
    def __init__(self, db: Engine, workers: Workers) -> None:
        self.db = db
        self.workers = workers  # whose claims are free before their lease (a dead worker's)

    def create(
        self,
        *,
        kind: str,
        text: str,
        topics: Sequence[str],
        channels: Sequence[str],
        send_at: str,
        created_by: int | None,
        link: str | None = None,
        image_url: str | None = None,
        options: Sequence[str] = (),
        multiple: bool = False,
    ) -> int:
        with self.db.atomic():
            return self.db.insert(
                "INSERT INTO broadcasts (kind, text, link, image_url, options, multiple, topics, "
                "channels, status, send_at, created_by, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'scheduled', ?, ?, ?)",
                [
                    kind,
                    text,
                    link,
                    image_url,
                    json.dumps(list(options)),
                    int(multiple),
                    json.dumps(list(topics)),
                    json.dumps(list(channels)),
                    send_at,
                    created_by,
                    now_iso(),
                ],
            )

    def get(self, broadcast_id: int) -> Broadcast | None:
        rows = list(self.db.query("SELECT * FROM broadcasts WHERE id = ?", [broadcast_id]))
        return Broadcast.from_row(rows[0]) if rows else None

    def recent(self, kind: str | None = None, limit: int = 50) -> list[Broadcast]:
        where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
        rows = self.db.query(
            f"SELECT * FROM broadcasts {where} ORDER BY id DESC LIMIT ?", [*params, limit]
        )
        return [Broadcast.from_row(r) for r in rows]

    def audience(self, topics: Sequence[str], channels: Sequence[str]) -> dict[str, int]:
        """How many citizens per channel a broadcast to these topics would reach now."""
        if not topics or not channels:
            return {}
        rows = self.db.execute(
            "SELECT c.channel, count(DISTINCT c.id) FROM subscriptions s "
            "JOIN citizens c ON c.id = s.citizen_id WHERE c.blocked_at IS NULL "
            f"AND s.topic IN ({_marks(topics)}) AND c.channel IN ({_marks(channels)}) "
            "GROUP BY c.channel",
            [*topics, *channels],
        )
        return {r[0]: r[1] for r in rows}

    def silent_since(self, topics: Sequence[str], channel: str, since: str) -> int:
        """How many of the topics' subscribers on ``channel`` have not written since
        ``since`` (for Messenger: those outside the 24-hour window)."""
        if not topics:
            return 0
        row = self.db.execute(
            "SELECT count(DISTINCT c.id) FROM subscriptions s "
            "JOIN citizens c ON c.id = s.citizen_id WHERE c.blocked_at IS NULL "
            f"AND c.channel = ? AND s.topic IN ({_marks(topics)}) "
            "AND coalesce((SELECT max(created_at) FROM messages m WHERE m.citizen_id = c.id "
            "AND m.direction = 'in'), '') < ?",
            [channel, *topics, since],
        ).fetchone()
        return int(row[0])

    def due(self, now: str) -> list[int]:
        """Broadcasts to work on: those whose time has come, and those interrupted."""
        rows = self.db.execute(
            "SELECT id FROM broadcasts WHERE (status = 'scheduled' AND send_at <= ?) "
            "OR status = 'sending' ORDER BY send_at, id",
            [now],
        )
        return [r[0] for r in rows]

    def start(self, broadcast_id: int) -> int:
        """Write down the recipients (once: the worker whose update moves the broadcast
        from scheduled to sending does it; another one starting at the same moment waits
        for it and finds it done) and mark the broadcast as sending. Returns the count."""
        broadcast = self.get(broadcast_id)
        assert broadcast is not None
        now = now_iso()
        with self.db.atomic():
            started = self.db.execute(
                "UPDATE broadcasts SET status = 'sending', started_at = ? "
                "WHERE id = ? AND status = 'scheduled'",
                [now, broadcast_id],
            )
            if started.rowcount == 1:
                self.db.execute(
                    "INSERT INTO deliveries (broadcast_id, citizen_id, status, updated_at) "
                    "SELECT DISTINCT CAST(? AS BIGINT), c.id, 'pending', CAST(? AS TEXT) "
                    "FROM subscriptions s JOIN citizens c ON c.id = s.citizen_id "
                    f"WHERE c.blocked_at IS NULL AND s.topic IN ({_marks(broadcast.topics)}) "
                    f"AND c.channel IN ({_marks(broadcast.channels)}) ON CONFLICT DO NOTHING",
                    [broadcast_id, now, *broadcast.topics, *broadcast.channels],
                )
        row = self.db.execute(
            "SELECT count(*) FROM deliveries WHERE broadcast_id = ?", [broadcast_id]
        ).fetchone()
        return int(row[0])

    def pending(
        self, broadcast_id: int, channel: str, limit: int, now: str | None = None
    ) -> list[Recipient]:
        """Recipients still to be sent to, leaving out those waiting to be tried again
        (whose ``retry_at`` is after ``now``)."""
        rows = self.db.execute(
            "SELECT d.id, c.id, c.channel, c.platform_id, c.language, "
            "(SELECT max(created_at) FROM messages m WHERE m.citizen_id = c.id "
            "AND m.direction = 'in'), coalesce(d.attempts, 0) "
            "FROM deliveries d JOIN citizens c ON c.id = d.citizen_id "
            "WHERE d.broadcast_id = ? AND d.status = 'pending' AND c.channel = ? "
            "AND (d.retry_at IS NULL OR d.retry_at <= ?) ORDER BY d.id LIMIT ?",
            [broadcast_id, channel, now or now_iso(), limit],
        )
        return [Recipient(*row) for row in rows]

    def claim(
        self, broadcast_id: int, channel: str, worker: str, limit: int, now: str, until: str
    ) -> list[Recipient]:
        """Up to ``limit`` recipients on ``channel`` for ``worker`` to send to, claimed
        until ``until``: pending ones (due, if they failed before) and ``sending`` ones
        whose claim lapsed or whose claimant is dead (``bot.store.liveness``: they may
        have got the message already; delivery is at least once). They become
        ``sending``, in id order. One statement; on PostgreSQL rows another worker is
        claiming are skipped (``SKIP LOCKED``), so workers claiming at once get different
        recipients and never wait on each other.
        A claimant checks :meth:`still_mine` right before each send."""
        lock = " FOR UPDATE OF d SKIP LOCKED" if self.db.dialect is Dialect.POSTGRESQL else ""
        dead, dead_params = self.workers.dead("d.claimed_by")
        with self.db.atomic():
            claimed = self.db.execute(
                "UPDATE deliveries SET status = 'sending', claimed_by = ?, lease_until = ?, "
                "updated_at = ? WHERE id IN (SELECT d.id FROM deliveries d "
                "JOIN citizens c ON c.id = d.citizen_id WHERE d.broadcast_id = ? "
                "AND c.channel = ? AND ((d.status = 'pending' AND (d.retry_at IS NULL "
                "OR d.retry_at <= ?)) OR (d.status = 'sending' AND (d.lease_until IS NULL "
                f"OR d.lease_until < ? OR {dead}))) ORDER BY d.id LIMIT ?{lock}) RETURNING id",
                [worker, until, now, broadcast_id, channel, now, now, *dead_params, limit],
            ).fetchall()
        ids = sorted(r[0] for r in claimed)
        if not ids:
            return []
        rows = self.db.execute(
            "SELECT d.id, c.id, c.channel, c.platform_id, c.language, "
            "(SELECT max(created_at) FROM messages m WHERE m.citizen_id = c.id "
            "AND m.direction = 'in'), coalesce(d.attempts, 0) "
            "FROM deliveries d JOIN citizens c ON c.id = d.citizen_id "
            f"WHERE d.id IN ({_marks(ids)}) ORDER BY d.id",
            ids,
        )
        return [Recipient(*row) for row in rows]

    def still_mine(self, delivery_id: int, worker: str, until: str) -> bool:
        """Right before sending: whether ``worker``'s claim on this recipient still holds
        (renewed until ``until`` if so). False when another worker took it over after the
        lease, or the broadcast was cancelled: then it is not sent."""
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE deliveries SET lease_until = ? WHERE id = ? AND claimed_by = ? "
                "AND status = 'sending'",
                [until, delivery_id, worker],
            )
        return cursor.rowcount == 1

    def release(self, delivery_ids: Sequence[int], worker: str) -> None:
        """Claimed recipients this worker will not send to after all (it is stopping):
        pending again, for any worker."""
        if not delivery_ids:
            return
        with self.db.atomic():
            self.db.execute(
                "UPDATE deliveries SET status = 'pending', claimed_by = NULL, lease_until = NULL "
                f"WHERE id IN ({_marks(delivery_ids)}) AND claimed_by = ? AND status = 'sending'",
                [*delivery_ids, worker],
            )

    def release_claims(self) -> int:
        """Every recipient claimed and not finished is pending again: at the start of the
        only process on a database (``Store.single_process``), whose claims are its dead
        predecessor's, so what a crash interrupted is sent again at once."""
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE deliveries SET status = 'pending', detail = 'sent again after a restart', "
                "claimed_by = NULL, lease_until = NULL WHERE status = 'sending'"
            )
        return max(cursor.rowcount, 0)

    def reserve_start(self, channel: str, interval: float, now: float) -> float:
        """The time (seconds since the epoch) at which the next message on ``channel`` may
        start, ``interval`` after the one reserved before it, whichever worker reserved
        that: the channel's rate limit held by all workers together. One upsert, so two
        workers never get the same moment; a worker that dies leaves a gap, never a
        burst."""
        with self.db.atomic():
            row = self.db.execute(
                "INSERT INTO send_pace (channel, next_at) VALUES (?, ?) ON CONFLICT (channel) "
                "DO UPDATE SET next_at = CASE WHEN send_pace.next_at > ? THEN send_pace.next_at "
                "ELSE ? END + ? RETURNING next_at",
                [channel, now + interval, now, now, interval],
            ).fetchall()[0]
        return float(row[0]) - interval

    def next_retry(self, broadcast_id: int, channel: str) -> str | None:
        """When the earliest recipient waiting to be tried again is due, if any is."""
        row = self.db.execute(
            "SELECT min(d.retry_at) FROM deliveries d JOIN citizens c ON c.id = d.citizen_id "
            "WHERE d.broadcast_id = ? AND d.status = 'pending' AND c.channel = ? "
            "AND d.retry_at IS NOT NULL",
            [broadcast_id, channel],
        ).fetchone()
        return row[0] if row else None

    def retry_later(self, delivery_id: int, at: str, detail: str) -> None:
        """A temporary failure: pending again, from ``at``."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE deliveries SET status = 'pending', attempts = coalesce(attempts, 0) + 1, "
                "retry_at = ?, detail = ?, updated_at = ?, claimed_by = NULL, lease_until = NULL "
                "WHERE id = ?",
                [at, detail[:500] or None, now_iso(), delivery_id],
            )

    def mark(
        self, delivery_id: int, status: str, detail: str = "", platform_ref: str | None = None
    ) -> None:
        if status not in DELIVERY_STATES:
            raise ValueError(f"unknown delivery state {status!r}")
        with self.db.atomic():
            self.db.execute(
                "UPDATE deliveries SET status = ?, detail = ?, updated_at = ?, "
                "platform_ref = coalesce(?, platform_ref), claimed_by = NULL, lease_until = NULL "
                "WHERE id = ?",
                [status, detail or None, now_iso(), platform_ref, delivery_id],
            )

    def mark_many(self, delivery_ids: Iterable[int], status: str, detail: str = "") -> None:
        ids = list(delivery_ids)
        if not ids:
            return
        with self.db.atomic():
            self.db.execute(
                "UPDATE deliveries SET status = ?, detail = ?, updated_at = ?, "
                f"claimed_by = NULL, lease_until = NULL WHERE id IN ({_marks(ids)})",
                [status, detail or None, now_iso(), *ids],
            )

    def finish(self, broadcast_id: int) -> bool:
        """Mark the broadcast sent once no recipient is pending or being sent to (other
        workers may still be sending: the last one to finish marks it). True if it did."""
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE broadcasts SET status = 'sent', finished_at = ? "
                "WHERE id = ? AND status = 'sending' AND NOT EXISTS (SELECT 1 FROM deliveries "
                "WHERE broadcast_id = ? AND status IN ('pending', 'sending'))",
                [now_iso(), broadcast_id, broadcast_id],
            )
        return cursor.rowcount == 1

    def cancel(self, broadcast_id: int) -> bool:
        """Stop a scheduled or sending broadcast; who has not got it yet is skipped."""
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE broadcasts SET status = 'cancelled', finished_at = ? "
                "WHERE id = ? AND status IN ('scheduled', 'sending')",
                [now_iso(), broadcast_id],
            )
            self.db.execute(
                "UPDATE deliveries SET status = 'skipped', detail = 'cancelled', "
                "claimed_by = NULL, lease_until = NULL "
                "WHERE broadcast_id = ? AND status IN ('pending', 'sending')",
                [broadcast_id],
            )
        return cursor.rowcount == 1

    def status_of(self, broadcast_id: int) -> str | None:
        row = self.db.execute(
            "SELECT status FROM broadcasts WHERE id = ?", [broadcast_id]
        ).fetchone()
        return row[0] if row else None

    def progress(self, broadcast_id: int) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT status, count(*) FROM deliveries WHERE broadcast_id = ? GROUP BY status",
            [broadcast_id],
        )
        counts: dict[str, int] = {state.value: 0 for state in DELIVERY_STATES}
        counts.update({r[0]: r[1] for r in rows})
        return counts

    def skipped_reasons(self, broadcast_id: int) -> list[tuple[str, str, int]]:
        """(status, reason, count) for recipients who did not get it."""
        rows = self.db.execute(
            "SELECT status, coalesce(detail, ''), count(*) FROM deliveries "
            "WHERE broadcast_id = ? AND status IN ('failed', 'skipped', 'blocked') "
            "GROUP BY status, detail ORDER BY count(*) DESC",
            [broadcast_id],
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def block(self, citizen_id: int) -> None:
        """The citizen blocked the bot: no more announcements, subscriptions ended."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE citizens SET blocked_at = ? WHERE id = ?", [now_iso(), citizen_id]
            )
            self.db.execute("DELETE FROM subscriptions WHERE citizen_id = ?", [citizen_id])

    # Polls

    def by_platform_ref(self, ref: str) -> tuple[int, int] | None:
        row = self.db.execute(
            "SELECT broadcast_id, citizen_id FROM deliveries WHERE platform_ref = ?", [ref]
        ).fetchone()
        return (row[0], row[1]) if row else None

    def received(self, broadcast_id: int, citizen_id: int) -> bool:
        """Whether the citizen was sent this broadcast: only they may vote in a poll or
        answer a survey (a made-up web chat session must not stuff the results)."""
        row = self.db.execute(
            "SELECT 1 FROM deliveries WHERE broadcast_id = ? AND citizen_id = ? "
            "AND status = 'sent'",
            [broadcast_id, citizen_id],
        ).fetchone()
        return row is not None

    def vote(self, broadcast_id: int, citizen_id: int, options: Sequence[int]) -> bool:
        """Record a citizen's choice; a new vote replaces their earlier one (one voice
        each). False when the poll is closed, unknown, was not sent to this citizen, or
        the options are not valid."""
        poll = self.get(broadcast_id)
        if poll is None or poll.kind != "poll" or poll.closed_at or poll.status == "cancelled":
            return False
        if not self.received(broadcast_id, citizen_id):
            return False
        chosen = sorted(set(options))
        if any(not 0 <= o < len(poll.options) for o in chosen):
            return False
        if not poll.multiple and len(chosen) > 1:
            return False
        now = now_iso()
        with self.db.atomic():
            self.db.execute(
                "DELETE FROM votes WHERE broadcast_id = ? AND citizen_id = ?",
                [broadcast_id, citizen_id],
            )
            for option in chosen:
                self.db.execute(
                    "INSERT INTO votes (broadcast_id, citizen_id, option, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    [broadcast_id, citizen_id, option, now],
                )
        return True

    def choices(self, broadcast_id: int, citizen_id: int) -> list[int]:
        rows = self.db.execute(
            "SELECT option FROM votes WHERE broadcast_id = ? AND citizen_id = ? ORDER BY option",
            [broadcast_id, citizen_id],
        )
        return [r[0] for r in rows]

    def results(self, broadcast_id: int) -> tuple[list[int], int]:
        """Votes per option, and how many citizens voted."""
        poll = self.get(broadcast_id)
        counts = [0] * (len(poll.options) if poll else 0)
        for option, count in self.db.execute(
            "SELECT option, count(*) FROM votes WHERE broadcast_id = ? GROUP BY option",
            [broadcast_id],
        ):
            if 0 <= option < len(counts):
                counts[option] = count
        voters = self.db.execute(
            "SELECT count(DISTINCT citizen_id) FROM votes WHERE broadcast_id = ?", [broadcast_id]
        ).fetchone()[0]
        return counts, int(voters)

    def close_poll(self, broadcast_id: int) -> None:
        with self.db.atomic():
            self.db.execute(
                "UPDATE broadcasts SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
                [now_iso(), broadcast_id],
            )

    def votes(self, broadcast_id: int) -> list[Vote]:
        """Every vote, for the CSV export."""
        rows = self.db.execute(
            "SELECT v.citizen_id, c.channel, v.option, v.created_at FROM votes v "
            "JOIN citizens c ON c.id = v.citizen_id WHERE v.broadcast_id = ? "
            "ORDER BY v.created_at",
            [broadcast_id],
        )
        return [Vote(*row) for row in rows]


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


class Surveys:
    """Each citizen's place in a survey and their answers (one per question)."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    def progress(self, broadcast_id: int, citizen_id: int) -> SurveyProgress | None:
        row = self.db.execute(
            "SELECT next_question, status FROM survey_progress "
            "WHERE broadcast_id = ? AND citizen_id = ?",
            [broadcast_id, citizen_id],
        ).fetchone()
        return SurveyProgress(int(row[0]), SurveyState(row[1])) if row else None

    def start(self, broadcast_id: int, citizen_id: int) -> None:
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO survey_progress (broadcast_id, citizen_id, next_question, status, "
                "updated_at) VALUES (?, ?, 0, 'answering', ?) ON CONFLICT DO NOTHING",
                [broadcast_id, citizen_id, now_iso()],
            )

    def answer(
        self, broadcast_id: int, citizen_id: int, question: int, answer: str, total: int
    ) -> int:
        """Record an answer (again, to change it); returns the next question's index."""
        self.start(broadcast_id, citizen_id)
        now = now_iso()
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO survey_answers (broadcast_id, citizen_id, question, answer, "
                "created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (broadcast_id, citizen_id, "
                "question) DO UPDATE SET answer = excluded.answer, "
                "created_at = excluded.created_at",
                [broadcast_id, citizen_id, question, answer, now],
            )
            self.db.execute(
                "UPDATE survey_progress SET "
                "next_question = CASE WHEN next_question > ? THEN next_question ELSE ? END, "
                "status = CASE WHEN next_question >= ? OR ? >= ? THEN 'done' ELSE status END, "
                "updated_at = ? WHERE broadcast_id = ? AND citizen_id = ?",
                [question, question + 1, total, question + 1, total, now, broadcast_id, citizen_id],
            )
        progress = self.progress(broadcast_id, citizen_id)
        return progress.next_question if progress else question + 1

    def unfinished(self, citizen_id: int, since: str | None = None) -> int | None:
        """The survey this citizen started most recently and has not finished (and, with
        ``since``, has moved on in since that time)."""
        row = self.db.execute(
            "SELECT broadcast_id FROM survey_progress WHERE citizen_id = ? "
            "AND status = 'answering' AND updated_at >= ? ORDER BY updated_at DESC LIMIT 1",
            [citizen_id, since or ""],
        ).fetchone()
        return int(row[0]) if row else None

    def answers(self, broadcast_id: int) -> list[SurveyAnswer]:
        rows = self.db.execute(
            "SELECT citizen_id, question, answer, created_at FROM survey_answers "
            "WHERE broadcast_id = ? ORDER BY citizen_id, question",
            [broadcast_id],
        )
        return [SurveyAnswer(*row) for row in rows]

    def counts(self, broadcast_id: int) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT status, count(*) FROM survey_progress WHERE broadcast_id = ? GROUP BY status",
            [broadcast_id],
        )
        return {r[0]: r[1] for r in rows}
