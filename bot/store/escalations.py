"""What the officials' desk reads and writes about escalations.

An escalation is ``open`` until an official answers it (``answered``) or closes it without
an answer (``closed``). An official's answer is stored as an outgoing message of the
citizen's conversation (action ``official``), so the citizen's history and the web chat
show it like any other reply; ``delivery`` says whether it reached the citizen.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, fields
from typing import Any

from bot.store.clock import now_iso
from bot.store.engine import Dialect, Engine
from bot.store.messages import MESSAGE_COLUMNS, Message
from bot.store.outbox import Outbox, OutboxKind


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


STATUSES = tuple(TicketStatus)
# Between a ticket's question and what the citizen added while it was open.
FOLLOW_UP_SEPARATOR = "\n＋ "
# "retrying": the platform failed for now, the outbox tries again; "gave_up": it kept
# failing until the platform's window to send it closed.


class AnswerDelivery(enum.StrEnum):
    """Where an official's answer is on its way to the citizen (``escalations.delivery``)."""

    PENDING = "pending"
    RETRYING = "retrying"
    SENT = "sent"
    WAITING = "waiting"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"
    BLOCKED = "blocked"
    GAVE_UP = "gave_up"


DELIVERY_STATES = tuple(AnswerDelivery)


@dataclass(frozen=True, slots=True)
class Ticket:
    """An escalation as the desk shows it, with its citizen's address and the names of
    the officials it is assigned to and answered by."""

    id: int
    citizen_id: int
    message_id: int  # the citizen's message that was escalated
    reason: str
    status: TicketStatus
    created_at: str
    updated_at: str
    question: str | None  # None once the retention purge blanked it
    topic: str | None
    assigned_to: int | None
    answer: str | None
    answered_by: int | None
    answered_at: str | None
    closed_reason: str | None
    delivery: AnswerDelivery | None
    delivery_detail: str | None
    delivered_at: str | None
    rating: int | None
    group_message_id: int | None
    faq_entry: str | None
    channel: str
    platform_id: str
    citizen_language: str | None
    assignee: str | None
    answered_by_name: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Ticket:
        values = {name: row[name] for name in _TICKET_FIELDS}
        values["status"] = TicketStatus(row["status"])
        values["delivery"] = AnswerDelivery(row["delivery"]) if row["delivery"] else None
        return cls(**values)


_TICKET_FIELDS = tuple(f.name for f in fields(Ticket))
_JOINED = ("channel", "platform_id", "citizen_language", "assignee", "answered_by_name")
_SELECT = (
    "SELECT "
    + ", ".join(f"e.{name}" for name in _TICKET_FIELDS if name not in _JOINED)
    + ", c.channel, c.platform_id, c.language AS citizen_language, "
    "a.name AS assignee, o.name AS answered_by_name "
    "FROM escalations e JOIN citizens c ON c.id = e.citizen_id "
    "LEFT JOIN officials a ON a.id = e.assigned_to "
    "LEFT JOIN officials o ON o.id = e.answered_by"
)


@dataclass(frozen=True)
class InboxFilter:
    status: str = TicketStatus.OPEN
    topic: str | None = None
    channel: str | None = None
    assignee: int | None = None  # an official's id; 0 means "nobody"
    search: str | None = None


def fts_query(text: str) -> str:
    """Citizens' words as an FTS5 query that cannot be a syntax error: each word quoted,
    all words required, the last one also as a prefix (search as you type)."""
    words = [w.replace('"', "") for w in text.split()]
    words = [w for w in words if w]
    if not words:
        return ""
    quoted = [f'"{w}"' for w in words]
    quoted[-1] = f"{quoted[-1]}*"
    return " ".join(quoted)


# ASCII punctuation: what the PostgreSQL index turns into spaces (migrations' [[:punct:]]).
_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]+")


def tsquery(text: str) -> str:
    """The same search for PostgreSQL: each word (its pieces between punctuation, one
    after the other) required, the last one also as a prefix; nothing left of the
    citizen's text can be an operator."""
    words = [[p for p in _PUNCTUATION.split(word) if p] for word in text.split()]
    phrases = [" <-> ".join(f"'{piece}'" for piece in pieces) for pieces in words if pieces]
    if not phrases:
        return ""
    phrases[-1] = f"{phrases[-1]}:*"
    return " & ".join(phrases)


class Escalations:
    def __init__(self, db: Engine, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox  # where an official's answer is queued

    def find(self, where: InboxFilter, limit: int = 100, offset: int = 0) -> list[Ticket]:
        """Open escalations oldest first (who waited longest comes first); others newest first."""
        clauses = ["e.status = ?"]
        params: list[Any] = [str(where.status)]
        if where.topic:
            clauses.append("e.topic = ?")
            params.append(where.topic)
        if where.channel:
            clauses.append("c.channel = ?")
            params.append(where.channel)
        if where.assignee is not None:
            if where.assignee == 0:
                clauses.append("e.assigned_to IS NULL")
            else:
                clauses.append("e.assigned_to = ?")
                params.append(where.assignee)
        if where.search and self.db.dialect is Dialect.POSTGRESQL:
            # Folded as the index was (diacritics), before it is split into words.
            [(folded,)] = self.db.execute("SELECT tanya_fold(?)", [where.search]).fetchall()
            if query := tsquery(folded):
                clauses.append("e.question_words @@ to_tsquery('simple', ?)")
                params.append(query)
            elif where.search.strip():
                clauses.append("1 = 0")  # only punctuation: no word to find, as in FTS5
        elif where.search and (query := fts_query(where.search)):
            clauses.append(
                "e.id IN (SELECT rowid FROM escalations_fts WHERE escalations_fts MATCH ?)"
            )
            params.append(query)
        order = "e.created_at ASC" if where.status == "open" else "e.updated_at DESC"
        sql = f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY {order} LIMIT ? OFFSET ?"
        return [Ticket.from_row(row) for row in self.db.query(sql, [*params, limit, offset])]

    def count_open(self) -> int:
        return int(
            self.db.execute("SELECT count(*) FROM escalations WHERE status = 'open'").fetchone()[0]
        )

    def newest_open(self) -> int | None:
        row = self.db.execute("SELECT max(id) FROM escalations WHERE status = 'open'").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def topics(self) -> list[str]:
        rows = self.db.execute(
            "SELECT DISTINCT topic FROM escalations WHERE topic IS NOT NULL ORDER BY topic"
        )
        return [r[0] for r in rows]

    def get(self, escalation_id: int) -> Ticket | None:
        rows = self.db.query(f"{_SELECT} WHERE e.id = ?", [escalation_id])
        return Ticket.from_row(rows[0]) if rows else None

    def by_group_post(self, group_message_id: int) -> Ticket | None:
        rows = self.db.query(f"{_SELECT} WHERE e.group_message_id = ?", [group_message_id])
        return Ticket.from_row(rows[0]) if rows else None

    def conversation(self, citizen_id: int, up_to_message: int, limit: int = 20) -> list[Message]:
        """The citizen's messages before the escalated one, and everything since."""
        rows = self.db.query(
            f"SELECT * FROM (SELECT {MESSAGE_COLUMNS} FROM messages WHERE citizen_id = ? "
            "AND id <= ? ORDER BY id DESC LIMIT ?) AS before "
            f"UNION SELECT {MESSAGE_COLUMNS} FROM messages WHERE citizen_id = ? "
            "AND id > ? ORDER BY id",
            [citizen_id, up_to_message, limit, citizen_id, up_to_message],
        )
        return [Message.from_row(row) for row in rows]

    def ticket_for_message(self, message_id: int) -> int | None:
        row = self.db.execute(
            "SELECT id FROM escalations WHERE message_id = ?", [message_id]
        ).fetchone()
        return int(row[0]) if row else None

    def last_inbound_at(self, citizen_id: int) -> str | None:
        row = self.db.execute(
            "SELECT max(created_at) FROM messages WHERE citizen_id = ? AND direction = 'in'",
            [citizen_id],
        ).fetchone()
        return row[0] if row else None

    def open_for_citizen(self, citizen_id: int) -> int | None:
        """The citizen's open ticket, if they have one (the newest)."""
        row = self.db.execute(
            "SELECT id FROM escalations WHERE citizen_id = ? AND status = 'open' "
            "ORDER BY id DESC LIMIT 1",
            [citizen_id],
        ).fetchone()
        return int(row[0]) if row else None

    def add_follow_up(self, escalation_id: int, message_id: int) -> None:
        """The citizen wrote again while their ticket is open: the message joins it (the
        desk shows the whole conversation since; the question that search and the inbox
        show gets the new words too)."""
        now = now_iso()
        with self.db.atomic():
            self.db.execute(
                "UPDATE escalations SET question = coalesce(question, '') || ? || "
                "(SELECT coalesce(text, '') FROM messages WHERE id = ?), updated_at = ? "
                "WHERE id = ? AND status = 'open'",
                [FOLLOW_UP_SEPARATOR, message_id, now, escalation_id],
            )

    def open_questions(self) -> list[tuple[int, str]]:
        rows = self.db.execute(
            "SELECT id, question FROM escalations WHERE status = 'open' AND question IS NOT NULL "
            "ORDER BY created_at"
        )
        return [(r[0], r[1]) for r in rows]

    def _update(self, escalation_id: int, **fields: Any) -> None:
        fields["updated_at"] = now_iso()
        assigned = ", ".join(f"{name} = ?" for name in fields)  # names from this module
        with self.db.atomic():
            self.db.execute(
                f"UPDATE escalations SET {assigned} WHERE id = ?", [*fields.values(), escalation_id]
            )

    def assign(self, escalation_id: int, official_id: int | None) -> None:
        self._update(escalation_id, assigned_to=official_id)

    def set_topic(self, escalation_id: int, topic: str) -> None:
        self._update(escalation_id, topic=topic)

    def set_group_post(self, escalation_id: int, group_message_id: int) -> None:
        self._update(escalation_id, group_message_id=group_message_id)

    def answer(self, escalation_id: int, official_id: int, text: str, replies: str) -> int:
        """Record an official's answer and queue it in the outbox (``replies``: what the
        channel renders, as JSON); returns the outbox id.

        Only an open escalation can be answered: when two officials answer at once, the
        citizen gets one answer and the second official gets ``AlreadyHandled``.
        """
        now = now_iso()
        with self.db.atomic():
            row = self.db.execute(
                "SELECT citizen_id, message_id FROM escalations WHERE id = ?", [escalation_id]
            ).fetchone()
            if row is None:
                raise AlreadyHandled(escalation_id)
            message_id = self.db.insert(
                "INSERT INTO messages (citizen_id, direction, kind, text, created_at, status, "
                "action, reply_to) VALUES (?, 'out', 'text', ?, ?, 'pending', 'official', ?)",
                [row[0], text, now, row[1]],
            )
            # The ticket names its answer by id; a second official's update waits for this
            # one's commit, finds the ticket answered, and the answer it wrote is undone.
            cursor = self.db.execute(
                "UPDATE escalations SET status = 'answered', answer = ?, answered_by = ?, "
                "answered_at = ?, updated_at = ?, delivery = 'pending', delivery_detail = NULL, "
                "answer_message_id = ? WHERE id = ? AND status = 'open'",
                [text, official_id, now, now, message_id, escalation_id],
            )
            if cursor.rowcount != 1:
                raise AlreadyHandled(escalation_id)
            return self.outbox.add(row[0], OutboxKind.OFFICIAL, replies, message_id=message_id)

    def close(self, escalation_id: int, official_id: int, reason: str) -> None:
        now = now_iso()
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE escalations SET status = 'closed', closed_reason = ?, answered_by = ?, "
                "answered_at = ?, updated_at = ? WHERE id = ? AND status = 'open'",
                [reason, official_id, now, now, escalation_id],
            )
            if cursor.rowcount != 1:
                raise AlreadyHandled(escalation_id)

    def set_delivery(self, escalation_id: int, state: str, detail: str = "") -> None:
        """Record how delivering the answer went; the outgoing message follows along."""
        if state not in DELIVERY_STATES:
            raise ValueError(f"unknown delivery state {state!r}")
        now = now_iso()
        with self.db.atomic():
            self.db.execute(
                "UPDATE escalations SET delivery = ?, delivery_detail = ?, updated_at = ?, "
                "delivered_at = CASE WHEN ? = 'sent' THEN ? ELSE delivered_at END WHERE id = ?",
                [state, detail or None, now, state, now, escalation_id],
            )
            self.db.execute(
                "UPDATE messages SET status = ? "
                "WHERE id = (SELECT answer_message_id FROM escalations WHERE id = ?)",
                ["sent" if state == "sent" else state, escalation_id],
            )

    def shown_in_webchat(self, citizen_id: int) -> list[int]:
        """Answers waiting for a web chat visitor are delivered by showing them: mark so."""
        rows = self.db.execute(
            "SELECT id FROM escalations WHERE citizen_id = ? AND status = 'answered' "
            "AND delivery = 'waiting'",
            [citizen_id],
        ).fetchall()
        for (escalation_id,) in rows:
            self.set_delivery(escalation_id, "sent", "shown in the web chat")
        if rows:
            now = now_iso()
            with self.db.atomic():
                self.db.execute(
                    "UPDATE outbox SET state = 'sent', sent_at = ?, updated_at = ? "
                    "WHERE kind = 'official' AND state = 'waiting' AND citizen_id = ?",
                    [now, now, citizen_id],
                )
        return [r[0] for r in rows]

    def rate(self, escalation_id: int, citizen_id: int, rating: int) -> bool:
        """The citizen's 1-5 rating of an official's answer; only the asker may rate it."""
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE escalations SET rating = ? WHERE id = ? AND citizen_id = ? "
                "AND status = 'answered'",
                [rating, escalation_id, citizen_id],
            )
        return cursor.rowcount == 1

    def mark_added_to_faq(self, escalation_id: int, entry_id: str) -> None:
        self._update(escalation_id, faq_entry=entry_id)


class AlreadyHandled(Exception):
    """Another official answered or closed this escalation first."""
