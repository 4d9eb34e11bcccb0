"""What the desk's Clusters and Rumours pages read: questions the bot could not answer,
and messages tagged as possible misinformation, of a period."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.store.engine import Engine
from bot.store.messages import MessageAction

# Escalations for these reasons carry no question: an empty or unreadable message, or
# "I want an official" (whose question is the earlier message the escalation points to).
NOT_QUESTIONS = ("empty", "unsupported", "asked_human")


@dataclass(frozen=True, slots=True)
class UnansweredQuestion:
    id: int  # the message's
    text: str
    created_at: str
    language: str | None


@dataclass(frozen=True, slots=True)
class RumourMessage:
    """A citizen's message that may carry misinformation."""

    id: int
    text: str | None
    kind: str
    created_at: str
    action: MessageAction | None  # what the bot did with it
    faq_id: str | None  # the entry it answered with, if it did
    language: str | None
    rumour: int  # ``bot.core.rumours.Sign`` flags
    channel: str
    ticket: int | None  # its escalation, if there is one


class Insights:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def unanswered(
        self, since: str, answer_threshold: float, limit: int
    ) -> list[UnansweredQuestion]:
        """The latest ``limit`` text questions since ``since`` that the bot escalated, was
        unsure about, or an official was asked about; oldest first.

        Texts blanked by the retention purge are skipped: there is nothing to group; so
        are questions an official has answered since (they need no FAQ entry to be found).
        """
        marks = ", ".join("?" for _ in NOT_QUESTIONS)
        rows = self.db.execute(
            "SELECT m.id, m.text, m.created_at, m.language FROM messages m "
            "WHERE m.direction = 'in' AND m.created_at >= ? AND m.kind = 'text' "
            "AND coalesce(trim(m.text), '') != '' AND ("
            f" (m.action = 'escalate' AND coalesce(m.reason, '') NOT IN ({marks}))"
            " OR (m.action IN ('answer', 'clarify') AND m.confidence < ?)"
            " OR EXISTS (SELECT 1 FROM escalations e WHERE e.message_id = m.id)"
            ") AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.message_id = m.id "
            " AND e.status = 'answered') ORDER BY m.id DESC LIMIT ?",
            [since, *NOT_QUESTIONS, answer_threshold, limit],
        )
        return [UnansweredQuestion(*row) for row in reversed(rows.fetchall())]

    def rumours(self, since: str, hoax_entries: Sequence[str], limit: int) -> list[RumourMessage]:
        """Messages since ``since`` tagged as possible misinformation, or that the bot
        answered with a hoax clarification (``hoax_entries``); newest first, with the
        ticket of their escalation if there is one."""
        marks = ", ".join("?" for _ in hoax_entries) or "NULL"
        rows = self.db.execute(
            "SELECT m.id, m.text, m.kind, m.created_at, m.action, m.faq_id, "
            "m.language, coalesce(m.rumour, 0) AS rumour, c.channel, "
            "(SELECT max(e.id) FROM escalations e WHERE e.message_id = m.id) AS ticket "
            "FROM messages m JOIN citizens c ON c.id = m.citizen_id "
            "WHERE m.direction = 'in' AND m.created_at >= ? "
            f"AND (m.rumour > 0 OR (m.action = 'answer' AND m.faq_id IN ({marks}))) "
            "AND (m.kind != 'text' OR coalesce(trim(m.text), '') != '') "
            "ORDER BY m.id DESC LIMIT ?",
            [since, *hoax_entries, limit],
        )
        return [
            RumourMessage(id, text, kind, at, MessageAction(action) if action else None, *rest)
            for id, text, kind, at, action, *rest in rows
        ]
