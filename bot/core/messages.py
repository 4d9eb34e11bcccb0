"""Platform-neutral messages: what channel adapters hand to the core and get back."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Kind(enum.StrEnum):
    TEXT = "text"
    COMMAND = "command"  # "/start", "/bahasa en": the channel saw a command
    BUTTON = "button"  # a button or quick reply was pressed; see ``payload``
    PHOTO = "photo"
    STICKER = "sticker"
    VOICE = "voice"
    VIDEO = "video"
    LOCATION = "location"
    FILE = "file"
    OTHER = "other"


READABLE = frozenset({Kind.TEXT, Kind.COMMAND, Kind.BUTTON})


@dataclass(frozen=True)
class Incoming:
    """One event from a citizen, as every channel reports it."""

    channel: str
    citizen: str  # the platform's id for the citizen (chat id, page-scoped id, session)
    kind: Kind = Kind.TEXT
    text: str = ""
    language: str | None = None  # the platform's hint (e.g. Telegram's language_code)
    message_id: str | None = None  # the platform's message id, for de-duplication
    payload: str | None = None  # for buttons: what the pressed button carries


@dataclass(frozen=True)
class Button:
    label: str
    payload: str


@dataclass(frozen=True)
class Reply:
    """Text for the citizen, with optional buttons the channel renders its own way."""

    text: str
    buttons: tuple[Button, ...] = field(default=())


class DeliveryState(enum.StrEnum):
    SENT = "sent"
    WAITING = "waiting"  # stored; the citizen sees it on their next visit (web chat)
    FAILED = "failed"  # the platform refused it (e.g. the citizen blocked the bot)
    UNDELIVERABLE = "undeliverable"  # the platform's rules forbid sending it now


@dataclass(frozen=True)
class Delivery:
    """How sending an official's answer went, as officials see it on the desk."""

    state: DeliveryState
    detail: str = ""
