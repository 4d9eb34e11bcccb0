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

from bot.core.conversation import Conversation
from bot.core.dispatch import first_outcome
from bot.core.messages import Delivery, DeliveryState, Reply, replies_to_json
from bot.store import Store
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
        similar_threshold: float = 0.8,
    ) -> None:
        self.store = store
        self.conversation = conversation
        self.senders = senders
        self.embed = embed
        self.similar_threshold = similar_threshold
        self._vectors: dict[int, np.ndarray] = {}

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
        citizen = Citizen(
            row["citizen_id"], row["channel"], row["platform_id"], row["citizen_language"]
        )
        replies = self.conversation.closed_notice(citizen, ticket, code, note.strip())
        if replies is None:
            return
        item = self.store.queue_notice(
            citizen.id, row["message_id"], replies[0].text, replies_to_json(replies)
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
        citizen = Citizen(
            row["citizen_id"], row["channel"], row["platform_id"], row["citizen_language"]
        )
        replies = self.conversation.official_answer(citizen, ticket, text)
        item = self.store.escalations.answer(ticket, official.id, text, replies_to_json(replies))
        self.store.officials.audit(official, "answer", f"ticket #{ticket}", text)
        self._vectors.pop(ticket, None)
        return await self._first_attempt(item, citizen.id, citizen.channel)

    async def deliver(self, ticket: int) -> Delivery:
        """Send a stored answer again after it was not delivered (an official's "send
        again"); returns how the first new attempt went."""
        row = self.store.escalations.get(ticket)
        if row is None or row["status"] != "answered" or not row["answer"]:
            raise ValueError(f"ticket #{ticket} has no answer to deliver")
        item = self.store.outbox.for_official_answer(ticket)
        if item is None:
            raise ValueError(f"ticket #{ticket} has no answer to deliver")
        if item.state.value in ("sent", "waiting"):  # a stale "send again": it arrived
            return Delivery(DeliveryState.SENT, row["delivery_detail"] or "")
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
        """Other open escalations asking the same thing, by the model's sentence embeddings
        (cosine similarity), most similar first."""
        row = self.store.escalations.get(ticket)
        if row is None or self.embed is None or not row["question"]:
            return []
        others = [(t, q) for t, q in self.store.escalations.open_questions() if t != ticket]
        if not others:
            return []
        vectors = await self._embed_tickets([(ticket, row["question"]), *others])
        mine = vectors[ticket]
        scored = [(float(np.dot(mine, vectors[t])), t, q) for t, q in others]
        scored = [s for s in scored if s[0] >= self.similar_threshold]
        scored.sort(reverse=True)
        return [{"id": t, "question": q, "similarity": s} for s, t, q in scored[:limit]]

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
