"""Human hand-over: officials answer or close escalations, and answers reach the citizen.

An answer is stored and queued in the outbox in one transaction (so it is never lost),
then delivered on the citizen's own channel until the platform confirms it; how that
goes is recorded on the escalation for the desk to show. The channel decides what its
platform allows (Messenger's 24-hour window, for one), the core only hands it the replies
and the time of the citizen's last message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from bot.core.clusters import DEFAULT_DISTANCE, DEFAULT_WORD_WEIGHT, comparable, cut, similarities
from bot.core.conversation import Conversation
from bot.core.dispatch import first_outcome
from bot.core.messages import Delivery, DeliveryState, Reply, replies_to_json
from bot.store import Store
from bot.store.escalations import TicketStatus
from bot.store.officials import Official
from bot.store.outbox import OutboxState
from bot.store.store import Citizen

log = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], np.ndarray]
# Seconds the desk waits for the platform's answer to the first attempt before it says
# "still trying" (the outbox goes on trying after that).
FIRST_ATTEMPT_WAIT = 8.0


class OfficialSender(Protocol):
    async def deliver_official(
        self, citizen: str, replies: list[Reply], last_inbound: datetime | None
    ) -> Delivery: ...


class Handover:
    def __init__(
        self,
        store: Store,
        conversation: Conversation,
        senders: Mapping[str, OfficialSender],
        embed: Embed | None = None,
        cluster_distance: float = DEFAULT_DISTANCE,
        word_weight: float = DEFAULT_WORD_WEIGHT,
    ) -> None:
        self.store = store
        self.conversation = conversation
        self.senders = senders
        self.embed = embed
        self.cluster_distance = cluster_distance
        self.word_weight = word_weight
        self._vectors: dict[int, np.ndarray] = {}
        # The open tickets' clusters, worked out again only when the open tickets change.
        self._grouping: tuple[tuple[int, ...], dict[int, int], np.ndarray] | None = None

    def assign(self, ticket: int, official: Official | None, by: Official) -> None:
        self.store.escalations.assign(ticket, official.id if official else None)
        self.store.officials.audit(
            by, "assign", f"ticket #{ticket}", official.name if official else "nobody"
        )

    def close(self, ticket: int, official: Official, reason: str) -> None:
        """Close without an answer; raises ``AlreadyHandled`` when someone was quicker.
        ``reason`` is the reason's code, then ": " and the official's note, if any; the
        citizen is told (in their language) unless it was spam."""
        self.store.escalations.close(ticket, official.id, reason)
        self.store.officials.audit(official, "close", f"ticket #{ticket}", reason)
        self._vectors.pop(ticket, None)
        row = self.store.escalations.get(ticket)
        if row is None:
            return
        code, _, note = reason.partition(": ")
        citizen = Citizen(row.citizen_id, row.channel, row.platform_id, row.citizen_language)
        replies = self.conversation.closed_notice(citizen, ticket, code, note.strip())
        if replies is None:
            return
        item = self.store.queue_notice(
            citizen.id, row.message_id, replies[0].text, replies_to_json(replies)
        )
        if self.conversation.dispatcher is not None and citizen.channel in self.senders:
            self.conversation.dispatcher.submit(item, citizen.id)

    async def answer(self, ticket: int, official: Official, text: str) -> Delivery:
        """Store the answer and queue it for the citizen; raises ``AlreadyHandled`` when
        someone was quicker (the citizen gets one answer, not two). Returns how the first
        attempt went (the outbox keeps trying after a temporary failure)."""
        row = self.store.escalations.get(ticket)
        if row is None:
            raise ValueError(f"no ticket #{ticket}")
        citizen = Citizen(row.citizen_id, row.channel, row.platform_id, row.citizen_language)
        replies = self.conversation.official_answer(citizen, ticket, text)
        item = self.store.escalations.answer(ticket, official.id, text, replies_to_json(replies))
        self.store.officials.audit(official, "answer", f"ticket #{ticket}", text)
        self._vectors.pop(ticket, None)
        return await self._first_attempt(item, citizen.id, citizen.channel)

    async def deliver(self, ticket: int) -> Delivery:
        """Send a stored answer again after it was not delivered (an official's "send
        again"); returns how the first new attempt went."""
        row = self.store.escalations.get(ticket)
        if row is None or row.status is not TicketStatus.ANSWERED or not row.answer:
            raise ValueError(f"ticket #{ticket} has no answer to deliver")
        item = self.store.outbox.for_official_answer(ticket)
        if item is None:
            raise ValueError(f"ticket #{ticket} has no answer to deliver")
        if item.state in (OutboxState.SENT, OutboxState.WAITING):  # a stale "send again"
            return Delivery(DeliveryState.SENT, row.delivery_detail or "")
        self.store.outbox.requeue(item.id)
        return await self._first_attempt(item.id, item.citizen_id, item.channel)

    async def resend(self, item_id: int) -> bool:
        """Queue a message that did not get through once more; False when there is no
        such message, or it is not one that failed."""
        item = self.store.outbox.get(item_id)
        if item is None or not self.store.outbox.requeue(item_id):
            return False
        await self._first_attempt(item.id, item.citizen_id, item.channel)
        return True

    async def _first_attempt(self, item: int, citizen_id: int, channel: str) -> Delivery:
        dispatcher = self.conversation.dispatcher
        if dispatcher is None or channel not in self.senders:
            detail = f"the {channel} channel is not running"
            self.store.outbox.finish(item, OutboxState.FAILED, detail, 0)
            return Delivery(DeliveryState.FAILED, detail)
        return await first_outcome(dispatcher.submit(item, citizen_id), FIRST_ATTEMPT_WAIT)

    async def similar(self, ticket: int, limit: int = 20) -> list[dict[str, Any]]:
        """Other open escalations asking the same thing, most similar first: those the
        desk's Clusters page would put in the same cluster (the same measure of meaning
        and shared words, the same distance; ``bot.core.clusters``), made of the open
        tickets. ``bench/clusters.py`` measures it against the former rule (MiniLM
        cosine >= 0.8, which only near-verbatim pairs passed)."""
        row = self.store.escalations.get(ticket)
        if row is None or self.embed is None or not row.question:
            return []
        questions = dict(self.store.escalations.open_questions())
        questions.setdefault(ticket, row.question)
        if len(questions) < 2:
            return []
        try:
            ids, labels, similarity = await self._clusters(questions)
        except Exception:  # the encoder did not load: the ticket page works on without them
            log.warning("similar questions are off for ticket #%d", ticket, exc_info=True)
            return []
        index = {number: position for position, number in enumerate(ids)}
        mine = index[ticket]
        scored = [
            (float(similarity[mine, index[other]]), other)
            for other in ids
            if other != ticket and labels[other] == labels[ticket]
        ]
        scored.sort(reverse=True)
        return [
            {"id": other, "question": questions[other], "similarity": max(0.0, score)}
            for score, other in scored[:limit]
        ]

    async def _clusters(
        self, questions: dict[int, str]
    ) -> tuple[tuple[int, ...], dict[int, int], np.ndarray]:
        ids = tuple(sorted(questions))
        if self._grouping is not None and self._grouping[0] == ids:
            return self._grouping
        texts = [comparable(questions[number]) for number in ids]
        vectors = await self._embed_tickets(list(zip(ids, texts, strict=True)))
        matrix = np.stack([vectors[number] for number in ids])
        weight, distance = self.word_weight, self.cluster_distance

        def work() -> tuple[np.ndarray, list[int]]:
            similarity = similarities(texts, matrix, weight)
            return similarity, cut(similarity, distance)

        similarity, labels = await asyncio.get_running_loop().run_in_executor(None, work)
        self._grouping = (ids, dict(zip(ids, labels, strict=True)), similarity)
        return self._grouping

    async def _embed_tickets(self, items: list[tuple[int, str]]) -> dict[int, np.ndarray]:
        assert self.embed is not None
        missing = [(t, q) for t, q in items if t not in self._vectors]
        if missing:
            embed = self.embed
            matrix = await asyncio.get_running_loop().run_in_executor(
                None, lambda: embed([q for _, q in missing])
            )
            for (t, _), vector in zip(missing, matrix, strict=True):
                norm = float(np.linalg.norm(vector)) or 1.0
                self._vectors[t] = vector / norm
        return {t: self._vectors[t] for t, _ in items}
