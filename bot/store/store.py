"""The conversation store: citizens, every message in and out, feedback, escalations.

One SQLite file in WAL mode (readers never block the writer), or PostgreSQL for several
workers (``storage.url``; ``bot.store.engine``). Every incoming message is
written before it is answered, with status ``received``; the bot's reply is stored as
``pending`` and both become ``answered``/``sent`` once the channel delivered it. After a
crash, :meth:`Store.unanswered` lists what still needs an answer (including replies that
were worked out but never sent), so no citizen is left without one.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from bot.store.broadcasts import Broadcasts, Subscriptions, Surveys
from bot.store.campaigns import Campaigns
from bot.store.clock import now_iso
from bot.store.conversation_export import ConversationExport
from bot.store.copy import TableCopy, copy_store
from bot.store.engine import Dialect, Engine, open_engine
from bot.store.escalations import Escalations
from bot.store.insight import Insights
from bot.store.leases import Jobs
from bot.store.liveness import BEAT_EVERY, SILENT_AFTER, Heartbeat, Workers
from bot.store.messages import MESSAGE_COLUMNS, Direction, Message, MessageStatus
from bot.store.migrations import migrate, schema_version
from bot.store.models import ModelVersions
from bot.store.officials import Officials
from bot.store.outbox import HELD_BACK, Outbox, OutboxKind
from bot.store.retention import AUDIT_KEPT, AUDIT_WORDS, Retention, compact
from bot.store.stats import Stats

__all__ = [
    "AddressedText",
    "AlreadyAnswered",
    "Citizen",
    "Decided",
    "MessageStatus",
    "Saved",
    "Store",
    "Unanswerable",
    "Unanswered",
    "now_iso",
]


class AlreadyAnswered(Exception):
    """The message was answered meanwhile (by another worker): this reply is not kept."""


class Decided(Protocol):
    """What the store records of the core's decision on a message (``bot.core.decision.
    Decision`` has these): the store does not import the core, the core calls the store."""

    @property
    def action(self) -> enum.Enum: ...

    @property
    def reason(self) -> enum.Enum | None: ...

    @property
    def confidence(self) -> float: ...

    @property
    def faq_id(self) -> str | None: ...

    @property
    def language(self) -> str: ...


class UnfinishedSurvey(NamedTuple):
    """The survey a citizen started most recently and has not finished, and when they
    last moved on in it; both ``None`` when there is none."""

    broadcast_id: int | None
    moved_at: str | None


@dataclass(frozen=True)
class Citizen:
    id: int
    channel: str
    platform_id: str
    language: str | None
    # True once the citizen picked the language (/bahasa en, the web chat's switch):
    # the bot then keeps to it instead of following what each message looks like.
    language_chosen: bool = False
    # Read with the citizen's row as their message came in, which saves a statement per
    # message (``SurveyFlow.typed``); ``None`` when not read: ask ``Surveys.unfinished``.
    survey: UnfinishedSurvey | None = None


@dataclass(frozen=True)
class Saved:
    """An incoming message as stored; ``is_new`` is false for a redelivered one.
    ``officials_waiting``: officials' answers to this citizen wait for their next message
    (a platform's window kept them back; ``Outbox.reopen_officials``)."""

    id: int
    is_new: bool
    status: str
    officials_waiting: bool = False


@dataclass(frozen=True, slots=True)
class Unanswered:
    """A citizen's message stored but not answered (the process stopped in between),
    with who sent it."""

    id: int
    citizen: Citizen
    kind: str
    text: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class Unanswerable:
    """A citizen's message set aside because working out a reply kept failing."""

    id: int
    citizen_id: int
    channel: str
    kind: str
    text: str | None
    created_at: str
    error: str | None
    attempts: int | None


class AddressedText(NamedTuple):
    """A message's text with the platform address of its citizen."""

    channel: str
    platform_id: str
    text: str | None


class Store:
    def __init__(self, engine: Engine, *, silent_after: float = SILENT_AFTER) -> None:
        """``silent_after``: how long a worker may go without a heartbeat before its
        claims are free for the others (``bot.store.liveness``; shorter in tests)."""
        self.engine = engine
        self.db = db = engine  # the sub-stores' name for it; nothing outside bot/store
        self.workers = Workers(db, silent_after=silent_after)
        self.officials = Officials(db)
        self.subscriptions = Subscriptions(db)
        self.broadcasts = Broadcasts(db, self.workers)
        self.surveys = Surveys(db)
        self.outbox = Outbox(db, self.workers)
        self.escalations = Escalations(db, self.outbox)
        self.stats = Stats(db)
        self.insights = Insights(db)
        self.jobs = Jobs(db)
        self.retention = Retention(db, self.jobs)
        self.conversations = ConversationExport(db)
        self.campaigns = Campaigns(db)
        self.models = ModelVersions(db)

    @classmethod
    def open(cls, url: str | Path, *, silent_after: float = SILENT_AFTER) -> Store:
        """Open (creating and migrating when needed) the database at ``url``: a SQLite
        file's path, or a ``postgresql://`` URL."""
        engine = open_engine(url)
        try:
            migrate(engine)
        except BaseException:
            engine.close()
            raise
        return cls(engine, silent_after=silent_after)

    def heartbeat(self, name: str, *, every: float = BEAT_EVERY) -> Heartbeat:
        """The heartbeat of the worker ``name`` on this database (started by its caller)."""
        return Heartbeat(self.engine.url, name, every=every, silent_after=self.workers.silent_after)

    @property
    def dialect(self) -> Dialect:
        return self.engine.dialect

    @property
    def single_process(self) -> bool:
        """Whether one process serves this database (SQLite: one bot on one file). Then
        claims and locks found at start are its own dead predecessor's and are let go at
        once; on PostgreSQL other workers may hold them: they are free once their
        claimant's heartbeat stops (``bot.store.liveness``), or with their lease."""
        return self.engine.dialect is Dialect.SQLITE

    def close(self) -> None:
        self.engine.close()

    def schema_version(self) -> int:
        """How many of ``MIGRATIONS`` this database has had."""
        return schema_version(self.engine)

    def copy_into(self, target: Store) -> list[TableCopy]:
        """``tanya copy-store``: every table, ids kept, into ``target``'s empty database,
        checked table by table before it commits (``bot.store.copy``)."""
        return copy_store(self.engine, target.engine)

    def secret(self, name: str) -> str:
        """The install's own secret called ``name`` (e.g. the key that signs web chat
        sessions), made at first use and the same for every worker on this database."""
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                [name, secrets.token_urlsafe(32), now_iso()],
            )
            row = self.db.execute("SELECT value FROM secrets WHERE name = ?", [name]).fetchone()
        return str(row[0])

    def channels(self) -> set[str]:
        """Every channel a citizen has come from."""
        return {r[0] for r in self.db.execute("SELECT DISTINCT channel FROM citizens")}

    def erased(self, channel: str, platform_id: str) -> str | None:
        """When this platform id's citizen had everything erased (/hapusdata), if ever."""
        row = self.db.execute(
            "SELECT erased_at FROM erased_citizens WHERE channel = ? AND platform_hash = ?",
            [channel, _platform_hash(channel, platform_id)],
        ).fetchone()
        return row[0] if row else None

    def citizen(self, channel: str, platform_id: str, language: str | None = None) -> Citizen:
        """The citizen with this platform id, created on first contact; marks them seen."""
        now = now_iso()
        row = self.db.execute_atomic(
            "INSERT INTO citizens (channel, platform_id, language, first_seen, last_seen) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel, platform_id) "
            f"DO UPDATE SET last_seen = excluded.last_seen RETURNING {_CITIZEN_SEEN}",
            [channel, platform_id, language, now, now],
        ).fetchone()
        assert row is not None  # just inserted or updated
        return _seen(channel, platform_id, row)

    def seen_again(self, channel: str, platform_id: str) -> Citizen | None:
        """The citizen with this platform id, marked seen, when they exist: one statement
        for a message from someone known (most messages), where :meth:`citizen` would be
        preceded by the check that an erased citizen's old message does not bring them
        back (``Conversation.accept``)."""
        row = self.db.execute_atomic(
            "UPDATE citizens SET last_seen = ? WHERE channel = ? AND platform_id = ? "
            f"RETURNING {_CITIZEN_SEEN}",
            [now_iso(), channel, platform_id],
        ).fetchone()
        return _seen(channel, platform_id, row) if row else None

    def find_citizen(self, channel: str, platform_id: str) -> Citizen | None:
        row = self.db.execute(
            "SELECT id, language, language_chosen FROM citizens "
            "WHERE channel = ? AND platform_id = ?",
            [channel, platform_id],
        ).fetchone()
        return Citizen(row[0], channel, platform_id, row[1], bool(row[2])) if row else None

    def set_language(self, citizen_id: int, language: str, *, chosen: bool = False) -> None:
        """Record the citizen's language; ``chosen`` when they picked it themselves (a
        detected language never overrides a chosen one: callers check first)."""
        if chosen:
            self.db.execute_atomic(
                "UPDATE citizens SET language = ?, language_chosen = 1 WHERE id = ?",
                [language, citizen_id],
            )
        else:
            self.db.execute_atomic(_SET_LANGUAGE, [language, citizen_id])

    def save_incoming(
        self,
        citizen_id: int,
        channel_message_id: str | None,
        kind: str,
        text: str,
        rumour: int = 0,
        attachment: str | None = None,
        received_by: str | None = None,
    ) -> Saved:
        """Store a citizen's message before anything else happens to it; ``rumour`` tags
        it as possible misinformation (``bot.core.rumours.Sign`` flags) for the desk;
        ``received_by`` names the worker that answers it (should it die first, another
        answers it at once: :meth:`unanswered`).

        One statement keyed by (citizen, platform message id), the unique index
        ``idx_messages_channel_message``: when a platform delivers the same webhook to two
        workers at once, exactly one insert makes a row (``is_new``), the other waits for
        it to commit and gets ``is_new=False``, so the message is answered once. A check
        before the insert would let both see nothing and both answer."""
        rows = self.db.execute_atomic(
            "INSERT INTO messages (citizen_id, direction, channel_message_id, kind, text, "
            "created_at, status, rumour, attachment, received_by) "
            "VALUES (?, 'in', ?, ?, ?, ?, 'received', ?, ?, ?) "
            "ON CONFLICT (citizen_id, channel_message_id) WHERE channel_message_id IS NOT NULL "
            f"DO NOTHING RETURNING id, {OFFICIALS_WAITING.format('messages.citizen_id')}",
            [
                citizen_id,
                channel_message_id,
                kind,
                text,
                now_iso(),
                int(rumour),
                attachment,
                received_by,
            ],
        ).fetchall()
        if rows:
            return Saved(int(rows[0][0]), True, "received", officials_waiting=bool(rows[0][1]))
        return self._stored_before(citizen_id, channel_message_id)

    def _stored_before(self, citizen_id: int, channel_message_id: str | None) -> Saved:
        found = self.db.execute(
            "SELECT id, status FROM messages WHERE citizen_id = ? AND channel_message_id = ?",
            [citizen_id, channel_message_id],
        ).fetchone()
        assert found is not None  # the conflicting row is committed: the insert waited on it
        return Saved(id=int(found[0]), is_new=False, status=found[1])

    def save_incoming_if_known(
        self,
        channel: str,
        platform_id: str,
        channel_message_id: str | None,
        kind: str,
        text: str,
        rumour: int = 0,
        attachment: str | None = None,
        received_by: str | None = None,
    ) -> tuple[Citizen, Saved] | None:
        """:meth:`seen_again` then :meth:`save_incoming`, for a message from someone known
        (most messages); ``None``, with nothing written, when no citizen has this platform
        id. On PostgreSQL one statement, which marks the citizen seen only once the insert
        is done: taking their row's lock first would deadlock with a reply being queued
        for this very message (``_queue_reply_at_once`` updates the message, then locks
        the citizen) when the platform delivers it again meanwhile."""
        if self.db.dialect is not Dialect.POSTGRESQL:
            citizen = self.seen_again(channel, platform_id)
            if citizen is None:
                return None
            saved = self.save_incoming(
                citizen.id,
                channel_message_id,
                kind,
                text,
                rumour=rumour,
                attachment=attachment,
                received_by=received_by,
            )
            return citizen, saved
        now = now_iso()
        row = self.db.execute_atomic(
            "WITH known AS (SELECT id FROM citizens WHERE channel = ? AND platform_id = ?), "
            "saved AS (INSERT INTO messages (citizen_id, direction, channel_message_id, kind, "
            "text, created_at, status, rumour, attachment, received_by) "
            "SELECT known.id, 'in', ?, ?, ?, ?, 'received', ?, ?, ? FROM known "
            "ON CONFLICT (citizen_id, channel_message_id) WHERE channel_message_id IS NOT NULL "
            f"DO NOTHING RETURNING id, {OFFICIALS_WAITING.format('messages.citizen_id')} "
            "AS waiting), "
            # After the insert: the condition on ``saved`` is evaluated before the update
            # reads (and locks) a row.
            "seen AS (UPDATE citizens SET last_seen = ? WHERE id = (SELECT id FROM known) "
            f"AND (SELECT count(*) FROM saved) >= 0 RETURNING {_CITIZEN_SEEN}) "
            "SELECT seen.*, saved.id, saved.waiting FROM seen LEFT JOIN saved ON true",
            [
                channel,
                platform_id,
                channel_message_id,
                kind,
                text,
                now,
                int(rumour),
                attachment,
                received_by,
                now,
            ],
        ).fetchone()
        if row is None:
            return None
        citizen = _seen(channel, platform_id, row)
        if row[5] is None:  # a redelivery: the row is another request's
            return citizen, self._stored_before(citizen.id, channel_message_id)
        return citizen, Saved(int(row[5]), True, "received", officials_waiting=bool(row[6]))

    def save_reply(
        self,
        incoming_id: int,
        citizen_id: int,
        text: str,
        decision: Decided | None,
        buttons: str | None = None,
        language: str | None = None,
    ) -> int:
        """Store the bot's reply as delivered (it went back in the same request, as in the
        web chat), with the decision on the incoming message, which is then answered;
        ``buttons`` (JSON) are those under its last part; ``language``: the citizen's
        language as the message showed it (:meth:`set_language`), recorded with it.

        Raises :class:`AlreadyAnswered` (and keeps nothing but ``language``) when the
        message was answered meanwhile, as :meth:`queue_reply` does: another worker's pass
        over messages left unanswered took it while this request was slow."""
        try:
            with self.db.atomic():
                reply_id = self._reply(
                    incoming_id, citizen_id, text, decision, "sent", buttons, answering=True
                )
                if language is not None:
                    self.db.execute(_SET_LANGUAGE, [language, citizen_id])
        except AlreadyAnswered:
            if language is not None:  # the citizen's whoever answers, as in queue_reply
                self.set_language(citizen_id, language)
            raise
        return reply_id

    def queue_reply(
        self,
        incoming_id: int,
        citizen_id: int,
        text: str,
        decision: Decided | None,
        replies: str,
        *,
        give_up_at: str | None = None,
        then_erase: bool = False,
        language: str | None = None,
    ) -> int:
        """Store the bot's reply and queue it in the outbox, in one transaction: from then
        on the message counts as answered, and the outbox owns getting the reply out.
        ``replies`` is what the channel renders (JSON); returns the outbox id.
        ``language``: the citizen's language as the message showed it
        (:meth:`set_language`), recorded in the same statement or transaction.

        Raises :class:`AlreadyAnswered` (and keeps nothing but ``language``) when the
        message is no longer waiting for an answer: two workers that both worked one out
        (a pass over messages a dead worker left, racing a live one that was only slow)
        queue one reply."""
        if self.db.dialect is Dialect.POSTGRESQL:
            return self._queue_reply_at_once(
                incoming_id, citizen_id, text, decision, replies, give_up_at, then_erase, language
            )
        try:
            with self.db.atomic():
                reply_id = self._reply(
                    incoming_id, citizen_id, text, decision, "pending", answering=True
                )
                item = self.outbox.add(
                    citizen_id,
                    OutboxKind.REPLY,
                    replies,
                    message_id=reply_id,
                    give_up_at=give_up_at,
                    then_erase=then_erase,
                )
                if language is not None:
                    self.db.execute(_SET_LANGUAGE, [language, citizen_id])
        except AlreadyAnswered:
            if language is not None:  # the citizen's whoever answers, as on PostgreSQL
                self.set_language(citizen_id, language)
            raise
        return item

    def _queue_reply_at_once(
        self,
        incoming_id: int,
        citizen_id: int,
        text: str,
        decision: Decided | None,
        replies: str,
        give_up_at: str | None,
        then_erase: bool,
        language: str | None,
    ) -> int:
        """:meth:`queue_reply` on PostgreSQL in one statement (one round trip instead of
        six, and no BEGIN/COMMIT: a statement is its own transaction), doing what
        :meth:`_reply` and :meth:`Outbox.add` do in order: the incoming message taken
        (only while ``received``), the reply's row, the citizen's row locked (``Outbox.
        add`` says why), then the outbox row, whose id is drawn once that lock is held
        (the insert reads ``locked``). Nothing is written when the message was taken, but
        the ``language``, which is the citizen's whoever answers (an UPDATE's lock is the
        same NO KEY UPDATE)."""
        fields = _decision_fields(decision)
        now = now_iso()
        citizen: list[object]
        if language is None:
            locked, citizen = "SELECT id FROM citizens WHERE id = ? FOR NO KEY UPDATE", [citizen_id]
        else:
            locked, citizen = f"{_SET_LANGUAGE} RETURNING id", [language, citizen_id]
        row = self.db.execute_atomic(
            "WITH taken AS (UPDATE messages SET action = ?, reason = ?, confidence = ?, "
            "faq_id = ?, language = ?, status = 'answered' WHERE id = ? AND status = 'received' "
            "RETURNING id), "
            "reply AS (INSERT INTO messages (citizen_id, direction, kind, text, created_at, "
            "status, action, reason, confidence, faq_id, language, reply_to) "
            "SELECT ?, 'out', 'text', ?, ?, 'pending', ?, ?, ?, ?, ?, taken.id FROM taken "
            "RETURNING id), "
            f"locked AS ({locked}) "
            "INSERT INTO outbox (citizen_id, message_id, kind, replies, state, next_attempt_at, "
            "give_up_at, then_erase, created_at, updated_at) "
            "SELECT locked.id, reply.id, ?, ?, 'queued', ?, ?, ?, ?, ? FROM reply, locked "
            "RETURNING id",
            [
                *fields,
                incoming_id,
                citizen_id,
                text,
                now,
                *fields,
                *citizen,
                OutboxKind.REPLY.value,
                replies,
                now,
                give_up_at,
                int(then_erase),
                now,
                now,
            ],
        ).fetchone()
        if row is None:
            raise AlreadyAnswered(f"message {incoming_id} was answered already")
        return int(row[0])

    def _reply(
        self,
        incoming_id: int,
        citizen_id: int,
        text: str,
        decision: Decided | None,
        status: str,
        buttons: str | None = None,
        *,
        answering: bool = False,
    ) -> int:
        """The decision on the incoming message and the reply's row; ``answering``: the
        incoming message turns ``answered`` in the same statement, and
        :class:`AlreadyAnswered` is raised when it was no longer ``received``."""
        fields = _decision_fields(decision)
        taking = ", status = 'answered'" if answering else ""
        waiting = " AND status = 'received'" if answering else ""
        taken = self.db.execute(
            "UPDATE messages SET action = ?, reason = ?, confidence = ?, faq_id = ?, "
            f"language = ?{taking} WHERE id = ?{waiting}",
            [*fields, incoming_id],
        )
        if answering and taken.rowcount != 1:
            raise AlreadyAnswered(f"message {incoming_id} was answered already")
        return self.db.insert(
            "INSERT INTO messages (citizen_id, direction, kind, text, created_at, status, "
            "action, reason, confidence, faq_id, language, reply_to, buttons) "
            "VALUES (?, 'out', 'text', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [citizen_id, text, now_iso(), status, *fields, incoming_id, buttons],
        )

    def answer_failed(self, incoming_id: int, error: str, max_attempts: int) -> bool:
        """Working out a reply to this message raised ``error``; after ``max_attempts``
        such failures it is set aside (``failed``, for officials to see) instead of being
        tried at every start. True when it was set aside."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE messages SET attempts = coalesce(attempts, 0) + 1, error = ?, "
                "status = CASE WHEN coalesce(attempts, 0) + 1 >= ? THEN 'failed' ELSE status END "
                "WHERE id = ? AND status = 'received'",
                [error[:500], max_attempts, incoming_id],
            )
            row = self.db.execute(
                "SELECT status FROM messages WHERE id = ?", [incoming_id]
            ).fetchone()
        return row is not None and row[0] == "failed"

    def unanswerable(self, limit: int = 100) -> list[Unanswerable]:
        """Citizens' messages set aside because working out a reply kept failing."""
        rows = self.db.execute(
            "SELECT m.id, m.citizen_id, c.channel, m.kind, m.text, m.created_at, m.error, "
            "m.attempts FROM messages m JOIN citizens c ON c.id = m.citizen_id "
            "WHERE m.direction = 'in' AND m.status = 'failed' ORDER BY m.id DESC LIMIT ?",
            [limit],
        )
        return [Unanswerable(*row) for row in rows]

    def open_escalation(
        self, citizen_id: int, message_id: int, reason: str, topic: str | None = None
    ) -> tuple[int, bool]:
        """Record that an official must answer; return (ticket number, newly opened).

        Idempotent per message: answering a message again after a crash keeps its ticket.
        """
        existing = self.db.execute(
            "SELECT id FROM escalations WHERE message_id = ? AND status = 'open'", [message_id]
        ).fetchone()
        if existing is not None:
            return int(existing[0]), False
        now = now_iso()
        row = self.db.execute_atomic(
            "INSERT INTO escalations (citizen_id, message_id, reason, status, created_at, "
            "updated_at, question, topic) VALUES (?, ?, ?, 'open', ?, ?, "
            "(SELECT text FROM messages WHERE id = ?), ?) RETURNING id",
            [citizen_id, message_id, reason, now, now, message_id, topic],
        ).fetchone()
        assert row is not None  # an INSERT ... VALUES makes its row
        return int(row[0]), True

    def last_question(self, citizen_id: int, before: int) -> int | None:
        """The citizen's latest text message before ``before``: what "/petugas" is about."""
        row = self.db.execute(
            "SELECT id FROM messages WHERE citizen_id = ? AND id < ? AND direction = 'in' "
            "AND kind = 'text' ORDER BY id DESC LIMIT 1",
            [citizen_id, before],
        ).fetchone()
        return int(row[0]) if row else None

    def save_broadcast_message(self, citizen_id: int, broadcast_id: int, text: str) -> None:
        """An announcement or poll a citizen received, as part of their conversation."""
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO messages (citizen_id, direction, kind, text, created_at, status, "
                "action, broadcast_id) VALUES (?, 'out', 'text', ?, ?, 'sent', 'broadcast', ?)",
                [citizen_id, text, now_iso(), broadcast_id],
            )

    def owner_of(self, message_id: int) -> int | None:
        """The citizen a message belongs to."""
        row = self.db.execute(
            "SELECT citizen_id FROM messages WHERE id = ?", [message_id]
        ).fetchone()
        return int(row[0]) if row else None

    def text_of(self, message_id: int) -> str | None:
        row = self.db.execute("SELECT text FROM messages WHERE id = ?", [message_id]).fetchone()
        return row[0] if row else None

    def faq_id_of(self, message_id: int) -> str | None:
        row = self.db.execute("SELECT faq_id FROM messages WHERE id = ?", [message_id]).fetchone()
        return row[0] if row else None

    def record_campaign(self, citizen_id: int, slug: str) -> bool:
        """Note the campaign link that brought a citizen in (the first one counts)."""
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE citizens SET campaign = ? WHERE id = ? AND campaign IS NULL "
                "AND EXISTS (SELECT 1 FROM campaigns WHERE slug = ?)",
                [slug, citizen_id, slug],
            )
        return cursor.rowcount == 1

    def erase_citizen(self, citizen_id: int) -> None:
        """/hapusdata: delete everything held about one citizen, in one transaction, then
        compact what still held their words in the file (search index, WAL)."""
        messages = "SELECT id FROM messages WHERE citizen_id = ?"
        tickets = "SELECT 'ticket #' || id FROM escalations WHERE citizen_id = ?"
        found = self.db.execute(
            "SELECT channel, platform_id FROM citizens WHERE id = ?", [citizen_id]
        ).fetchone()
        if found is None:
            return  # erased already
        had_tickets = (
            self.db.execute(f"SELECT count(*) FROM ({tickets}) AS t", [citizen_id]).fetchone()[0]
            > 0
        )
        with self.db.atomic():
            self.db.execute(f"DELETE FROM feedback WHERE message_id IN ({messages})", [citizen_id])
            # The audit log keeps who did what to their tickets, not the words of it.
            self.db.execute(
                f"UPDATE audit_log SET detail = {AUDIT_KEPT} WHERE {AUDIT_WORDS} "
                f"AND target IN ({tickets})",
                [citizen_id],
            )
            for table in (
                "outbox",
                "escalations",
                "subscriptions",
                "subscription_offers",
                "votes",
                "survey_answers",
                "survey_progress",
                "deliveries",
            ):
                self.db.execute(f"DELETE FROM {table} WHERE citizen_id = ?", [citizen_id])
            self.db.execute(
                "UPDATE messages SET reply_to = NULL WHERE citizen_id = ?", [citizen_id]
            )
            self.db.execute("DELETE FROM messages WHERE citizen_id = ?", [citizen_id])
            self.db.execute("DELETE FROM citizens WHERE id = ?", [citizen_id])
            # Only a hash of the platform id: enough to recognise a redelivered webhook,
            # nothing to read back.
            self.db.execute(
                "INSERT INTO erased_citizens (channel, platform_hash, erased_at) VALUES (?, ?, ?) "
                "ON CONFLICT (channel, platform_hash) DO UPDATE SET erased_at = excluded.erased_at",
                [found[0], _platform_hash(found[0], found[1]), now_iso()],
            )
            self.db.execute(
                "INSERT INTO audit_log (at, action, target) VALUES (?, 'citizen-data-erased', ?)",
                [now_iso(), f"citizen {citizen_id}"],
            )
        compact(self.db, escalations=had_tickets)

    def save_feedback(self, message_id: int, helpful: bool) -> bool:
        """The citizen's verdict on an answer: one per answer, a second tap replaces the
        first. True when it is their first verdict on it."""
        with self.db.atomic():
            existing = self.db.execute(
                "SELECT helpful FROM feedback WHERE message_id = ?", [message_id]
            ).fetchone()
            if existing is None:
                self.db.execute(
                    "INSERT INTO feedback (message_id, helpful, created_at) VALUES (?, ?, ?)",
                    [message_id, int(helpful), now_iso()],
                )
            elif existing[0] != int(helpful):
                self.db.execute(
                    "UPDATE feedback SET helpful = ?, created_at = ? WHERE message_id = ?",
                    [int(helpful), now_iso(), message_id],
                )
        return existing is None

    def queue_notice(self, citizen_id: int, about: int, text: str, replies: str) -> int:
        """A message from the officials that answers no question (e.g. why a ticket was
        closed), queued in the outbox like an official's answer; ``about`` is the
        citizen's message it concerns. Returns the outbox id."""
        with self.db.atomic():
            message_id = self.db.insert(
                "INSERT INTO messages (citizen_id, direction, kind, text, created_at, status, "
                "action, reply_to) VALUES (?, 'out', 'text', ?, ?, 'pending', 'notice', ?)",
                [citizen_id, text, now_iso(), about],
            )
            return self.outbox.add(citizen_id, OutboxKind.OFFICIAL, replies, message_id=message_id)

    def unanswered(self, before: str | None = None) -> list[Unanswered]:
        """Incoming messages stored but not answered (e.g. the process died in between);
        with ``before``, only those stored before then or received by a worker known to
        be dead (with several workers, younger ones may be in a live worker's hands)."""
        since, params = "", list[Any]()
        if before is not None:
            dead, dead_params = self.workers.dead("m.received_by")
            since, params = f"AND (m.created_at < ? OR {dead}) ", [before, *dead_params]
        rows = self.db.execute(
            "SELECT m.id, m.kind, m.text, m.created_at, m.citizen_id, c.channel, "
            "c.platform_id, c.language, c.language_chosen "
            "FROM messages m JOIN citizens c ON c.id = m.citizen_id "
            f"WHERE m.direction = 'in' AND m.status = 'received' {since}ORDER BY m.id",
            params,
        )
        return [
            Unanswered(
                id, Citizen(citizen_id, channel, platform_id, language, bool(chosen)), *message
            )
            for id, *message, citizen_id, channel, platform_id, language, chosen in rows
        ]

    def messages(self, citizen_id: int, after: int = 0) -> list[Message]:
        """A citizen's messages in and out, oldest first; only those after message ``after``."""
        rows = self.db.query(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE citizen_id = ? AND id > ? ORDER BY id",
            [citizen_id, after],
        )
        return [Message.from_row(row) for row in rows]

    def texts(
        self, direction: Direction, status: MessageStatus | None = None
    ) -> list[AddressedText]:
        """Every text message in one direction (and status), oldest first, with its
        citizen's address: what benchmarks compare with what the platforms received."""
        where, params = "m.direction = ? AND m.kind = 'text'", [str(direction)]
        if status is not None:
            where, params = f"{where} AND m.status = ?", [*params, str(status)]
        rows = self.db.execute(
            "SELECT c.channel, c.platform_id, m.text FROM messages m "
            f"JOIN citizens c ON c.id = m.citizen_id WHERE {where} ORDER BY m.id",
            params,
        )
        return [AddressedText(*row) for row in rows]


# Whether officials' answers to citizen ``{}`` wait for their next message (Messenger's
# window): almost never, so one subquery in the incoming message's INSERT instead of a
# statement of its own per message.
OFFICIALS_WAITING = (
    f"EXISTS (SELECT 1 FROM outbox w WHERE w.citizen_id = {{}} AND {HELD_BACK.format('w')})"
)


_SET_LANGUAGE = "UPDATE citizens SET language = ? WHERE id = ?"

# What :meth:`Store.citizen` and :meth:`Store.seen_again` return of the citizen's row,
# with their unfinished survey (as ``Surveys.unfinished`` finds it, without ``since``).
_CITIZEN_SEEN = (
    "id, language, language_chosen, "
    "(SELECT broadcast_id FROM survey_progress WHERE citizen_id = citizens.id "
    "AND status = 'answering' ORDER BY updated_at DESC LIMIT 1) AS survey, "
    "(SELECT max(updated_at) FROM survey_progress WHERE citizen_id = citizens.id "
    "AND status = 'answering') AS survey_moved_at"
)


def _seen(channel: str, platform_id: str, row: Sequence[Any]) -> Citizen:
    survey = UnfinishedSurvey(None if row[3] is None else int(row[3]), row[4])
    return Citizen(row[0], channel, platform_id, row[1], bool(row[2]), survey)


def _platform_hash(channel: str, platform_id: str) -> str:
    return hashlib.sha256(f"{channel}\x00{platform_id}".encode()).hexdigest()


def _decision_fields(decision: Decided | None) -> list[Any]:
    if decision is None:
        return [None, None, None, None, None]
    return [
        decision.action.value,
        decision.reason.value if decision.reason else None,
        decision.confidence,
        decision.faq_id,
        decision.language,
    ]
