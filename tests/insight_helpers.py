"""Questions with a history: messages stored as the conversation stores them, dated in
the past, for the desk's clusters and rumours pages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiohttp import ClientSession

from bot.core.decision import Action, Decision, EscalationReason
from bot.store import Store


def seed(
    store: Store,
    text: str,
    *,
    days_ago: float = 1,
    citizen: str = "warga-1",
    action: Action = Action.ESCALATE,
    reason: EscalationReason | None = EscalationReason.LOW_CONFIDENCE,
    confidence: float = 0.1,
    faq_id: str | None = None,
    rumour: int = 0,
) -> int:
    """Store a citizen's text and the bot's decision on it, ``days_ago`` days ago."""
    who = store.citizen("webchat", citizen)
    saved = store.save_incoming(who.id, None, "text", text, rumour=rumour)
    decision = Decision(
        text, action, "id", "…", confidence=confidence, faq_id=faq_id, reason=reason
    )
    store.save_reply(saved.id, who.id, "…", decision)
    when = datetime.now(UTC) - timedelta(days=days_ago)
    with store.db.atomic():
        store.db.execute(
            "UPDATE messages SET created_at = ? WHERE id = ?",
            [when.isoformat(timespec="milliseconds"), saved.id],
        )
    return saved.id


async def ready_page(client: ClientSession, path: str, timeout: float = 120) -> str:
    """A clusters or rumours page once its clusters are worked out (it reloads itself
    until then)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await client.get(path)
        assert response.status == 200, await response.text()
        page = await response.text()
        if 'http-equiv="refresh"' not in page:
            return page
        assert asyncio.get_running_loop().time() < deadline, "the clusters never came"
        await asyncio.sleep(0.5)
