"""Rows of the ``messages`` table as the rest of the bot reads them: every message in and
out of a citizen's conversation, with its direction, status and what decided it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any


class Direction(enum.StrEnum):
    """``messages.direction``: from the citizen (in) or to them (out)."""

    IN = "in"
    OUT = "out"


class MessageAction(enum.StrEnum):
    """``messages.action``: what the bot decided about a citizen's message (the core's
    ``Action``, the same values), and who an outgoing message came from when it was not
    the bot's answer to a question."""

    ANSWER = "answer"
    CLARIFY = "clarify"
    SMALLTALK = "smalltalk"
    ESCALATE = "escalate"
    OFFICIAL = "official"  # an official's answer to a ticket
    NOTICE = "notice"  # officials' message that answers no question (a ticket closed)
    BROADCAST = "broadcast"  # an announcement, poll or survey


class MessageStatus(enum.StrEnum):
    """``messages.status``: a citizen's message is received, then answered (or failed:
    working out a reply kept failing); a reply is pending until its outbox row ends,
    then says how (``bot.store.outbox.OutboxState``)."""

    RECEIVED = "received"
    ANSWERED = "answered"
    PENDING = "pending"
    SENT = "sent"
    WAITING = "waiting"
    FAILED = "failed"
    BLOCKED = "blocked"
    UNDELIVERABLE = "undeliverable"
    GAVE_UP = "gave_up"


@dataclass(frozen=True, slots=True)
class Message:
    """One stored message; ``text`` is None once the retention purge blanked it."""

    id: int
    citizen_id: int
    direction: Direction
    channel_message_id: str | None
    kind: str
    text: str | None
    created_at: str
    status: MessageStatus
    action: MessageAction | None
    reason: str | None
    confidence: float | None
    faq_id: str | None
    language: str | None
    reply_to: int | None
    broadcast_id: int | None
    rumour: int | None
    attempts: int | None
    error: str | None
    buttons: str | None  # JSON: the buttons under the bot's reply
    attachment: str | None

    @property
    def incoming(self) -> bool:
        return self.direction is Direction.IN

    @property
    def sender(self) -> str:
        """Who wrote it, as the desk and the conversation export name them."""
        if self.incoming:
            return "citizen"
        if self.action is MessageAction.OFFICIAL:
            return "official"
        if self.action is MessageAction.BROADCAST:
            return "announcement"
        return "bot"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Message:
        values = {name: row[name] for name in MESSAGE_FIELDS}
        values["direction"] = Direction(row["direction"])
        values["status"] = MessageStatus(row["status"])
        values["action"] = MessageAction(row["action"]) if row["action"] else None
        return cls(**values)


MESSAGE_FIELDS = tuple(f.name for f in fields(Message))
# The columns a Message is read from, for a query on ``messages`` (or one aliased ``m``).
MESSAGE_COLUMNS = ", ".join(MESSAGE_FIELDS)
