"""What the desk's handlers share: settings, store, the hand-over and learning services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.config import Settings
from bot.core.broadcasting import Broadcaster
from bot.core.decision import Decision
from bot.core.handover import Handover
from bot.core.learning import Learning
from bot.desk.auth import Auth
from bot.service import Live
from bot.store import Store
from bot.store.officials import Official


@dataclass(frozen=True)
class DeskContext:
    settings: Settings
    store: Store
    auth: Auth
    handover: Handover
    learning: Learning
    live: Live
    decide: Callable[[str, str | None], Awaitable[Decision]]
    channels: Mapping[str, Any]
    broadcaster: Broadcaster

    @property
    def languages(self) -> tuple[str, ...]:
        return self.settings.languages


CONTEXT = web.AppKey("desk", DeskContext)


def official_of(request: web.Request) -> Official:
    """The signed-in official (the guard refuses requests without one)."""
    official: Official = request["official"]
    return official
