"""Human hand-over: officials answer or close escalations, and answers reach the citizen.

An answer is stored first (so it is never lost), then delivered on the citizen's own
channel; how that went is recorded on the escalation for the desk to show. The channel
decides what its platform allows (Messenger's 24-hour window, for one), the core only
hands it the replies and the time of the citizen's last message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from bot.core.conversation import Conversation
from bot.core.messages import Delivery, DeliveryState, Reply
from bot.store import Store
from bot.store.officials import Official
from bot.store.store import Citizen

log = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], np.ndarray]


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
        """Close without an answer; raises ``AlreadyHandled`` when someone was quicker."""
        self.store.escalations.close(ticket, official.id, reason)
        self.store.officials.audit(official, "close", f"ticket #{ticket}", reason)
        self._vectors.pop(ticket, None)

    async def answer(self, ticket: int, official: Official, text: str) -> Delivery:
        """Store the answer, then deliver it; raises ``AlreadyHandled`` when someone was
        quicker (the citizen gets one answer, not two)."""
        self.store.escalations.answer(ticket, official.id, text)
        self.store.officials.audit(official, "answer", f"ticket #{ticket}", text)
        self._vectors.pop(ticket, None)
        return await self.deliver(ticket)

    async def deliver(self, ticket: int) -> Delivery:
        """Send a stored answer (again, after a failure); records and returns the outcome."""
        row = self.store.escalations.get(ticket)
        if row is None or row["status"] != "answered" or not row["answer"]:
            raise ValueError(f"ticket #{ticket} has no answer to deliver")
        if row["delivery"] == "sent":  # a stale "send again": the citizen has it already
            return Delivery(DeliveryState.SENT, row["delivery_detail"] or "")
        citizen = Citizen(
            row["citizen_id"], row["channel"], row["platform_id"], row["citizen_language"]
        )
        sender = self.senders.get(citizen.channel)
        if sender is None:
            outcome = Delivery(
                DeliveryState.FAILED, f"the {citizen.channel} channel is not running"
            )
        else:
            replies = self.conversation.official_answer(citizen, ticket, row["answer"])
            last = self.store.escalations.last_inbound_at(citizen.id)
            try:
                outcome = await sender.deliver_official(
                    citizen.platform_id, replies, datetime.fromisoformat(last) if last else None
                )
            except Exception as exc:  # recorded and shown; the official may retry
                log.exception("delivering the answer to ticket #%d failed", ticket)
                outcome = Delivery(DeliveryState.FAILED, f"{type(exc).__name__}: {exc}")
        self.store.escalations.set_delivery(ticket, outcome.state.value, outcome.detail)
        return outcome

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
