"""What the desk's Clusters and Rumours pages read: questions the bot could not answer,
and messages tagged as possible misinformation, of a period."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.store.engine import Engine

# Escalations for these reasons carry no question: an empty or unreadable message, or
# "I want an official" (whose question is the earlier message the escalation points to).
NOT_QUESTIONS = ("empty", "unsupported", "asked_human")


class Insights:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def unanswered(self, since: str, answer_threshold: float, limit: int) -> list[dict[str, Any]]:
        """The latest ``limit`` text questions since ``since`` that the bot escalated, was
        unsure about, or an official was asked about; oldest first.

        Texts blanked by the retention purge are skipped: there is nothing to group; so
        are questions an official has answered since (they need no FAQ entry to be found).
        """
        marks = ", ".join("?" for _ in NOT_QUESTIONS)
        rows = self.db.query(
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
        return list(reversed(list(rows)))

    def rumours(self, since: str, hoax_entries: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """Messages since ``since`` tagged as possible misinformation, or that the bot
        answered with a hoax clarification (``hoax_entries``); newest first, with the
        ticket of their escalation if there is one."""
        marks = ", ".join("?" for _ in hoax_entries) or "NULL"
        return list(
            self.db.query(
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
        )
