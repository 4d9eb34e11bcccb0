"""Channel adapters: each turns one platform's events into ``Incoming`` messages and
renders ``Reply`` objects back. The registry below is the whole plugin system."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from bot.config import Settings
from bot.core.conversation import Conversation
from bot.core.messages import Delivery, Outgoing, Progress, Reply
from bot.store import Store

if TYPE_CHECKING:
    from bot.core.handover import Handover

log = logging.getLogger(__name__)


class Channel(Protocol):
    name: str
    # How long after a citizen's message the platform accepts a reply (None: any time).
    reply_window: timedelta | None

    def setup(self, app: web.Application) -> None:
        """Add the channel's routes and start/stop hooks to the application."""

    async def send(
        self, citizen: str, replies: list[Reply], skip: int = 0, *, progress: Progress | None = None
    ) -> Delivery:
        """One attempt to send a reply from the outbox, from its ``skip``-th rendered
        message on; the outcome says whether the platform confirmed it, refused it for
        good, or failed for now (the outbox tries again). ``progress`` is told the parts
        confirmed so far, after each but the last."""

    # Announcements and polls: messages per second this channel may start (None: any).
    broadcast_rate: float | None

    async def broadcast(
        self, citizen: str, item: Outgoing, last_inbound: datetime | None
    ) -> Delivery:
        """Deliver an announcement or poll, if the platform's rules allow it now."""

    async def deliver_official(
        self,
        citizen: str,
        replies: list[Reply],
        last_inbound: datetime | None,
        skip: int = 0,
        *,
        progress: Progress | None = None,
    ) -> Delivery:
        """One attempt to deliver an official's answer, if the platform's rules allow it."""


def build_channels(
    settings: Settings,
    conversation: Conversation,
    store: Store,
    handover: Handover | None = None,
) -> dict[str, Channel]:
    """The channels that are configured, each built whole; a channel without its secrets
    stays off. ``handover`` serves officials answering from Telegram's officials' group."""
    channels: dict[str, Channel] = {}
    if settings.webchat.enabled:
        from bot.channels.webchat import WebChatChannel

        channels["webchat"] = WebChatChannel(settings.webchat, conversation, store)
    credentials = settings.messenger.credentials()
    if credentials:
        from bot.channels.messenger import MessengerChannel

        channels["messenger"] = MessengerChannel(
            settings.messenger,
            credentials,
            conversation,
            announcement_tag=settings.announcements.messenger_tag,
        )
    else:
        log.debug(
            "Messenger is off: set %s, %s and %s to turn it on",
            settings.messenger.page_token_env,
            settings.messenger.app_secret_env,
            settings.messenger.verify_token_env,
        )
    token = settings.telegram.token()
    if token:
        from bot.channels.telegram import TelegramChannel

        channels["telegram"] = TelegramChannel(
            settings.telegram,
            token,
            conversation,
            broadcast_rate=settings.announcements.messages_per_second,
            handover=handover,
        )
    else:
        log.debug("Telegram is off: set %s to turn it on", settings.telegram.token_env)
    return channels
