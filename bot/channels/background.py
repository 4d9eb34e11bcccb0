"""Answering stored messages in the background, for channels that acknowledge first."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from bot.core.conversation import Accepted, Conversation

log = logging.getLogger(__name__)


class BackgroundTasks:
    """Tasks a channel started and must see finished (or drained) before it stops."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str | None = None) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def answer(self, conversation: Conversation, accepted: Accepted) -> None:
        """Work out the replies to a stored message and queue them, in the background
        (the outbox sends them)."""
        self.spawn(conversation.answer(accepted))

    async def cancel(self, name: str) -> None:
        for task in [t for t in self._tasks if t.get_name() == name]:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def drain(self, timeout: float = 30) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
