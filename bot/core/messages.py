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
    forwarded: bool = False  # forwarded from elsewhere (Telegram): possible misinformation


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
    WAITING = "waiting"  # stored; the web chat page shows it when open (it polls) or next visit
    FAILED = "failed"  # the platform refused it (e.g. the citizen blocked the bot)
    UNDELIVERABLE = "undeliverable"  # the platform's rules forbid sending it now
    BLOCKED = "blocked"  # the citizen blocked the bot


@dataclass(frozen=True)
class Delivery:
    """How sending an official's answer went, as officials see it on the desk."""

    state: DeliveryState
    detail: str = ""
    ref: str | None = None  # the platform's id for what was sent (e.g. a Telegram poll)


@dataclass(frozen=True)
class Outgoing:
    """An announcement or a poll, as one citizen receives it."""

    broadcast_id: int
    kind: str  # announcement | poll | survey
    text: str
    link: str | None = None
    image_url: str | None = None
    options: tuple[str, ...] = ()
    multiple: bool = False

    def as_replies(self, poll_hint: str = "") -> list[Reply]:
        """For channels without native polls: the text, and the choices as buttons."""
        text = f"{self.text}\n\n{self.link}" if self.link else self.text
        if self.image_url:
            text = f"{text}\n\n{self.image_url}"
        if self.kind == "survey":
            start = Button("Mulai / Start", f"survey:{self.broadcast_id}:start")
            return [Reply(text, (start,))]
        if self.kind != "poll":
            return [Reply(text)]
        buttons = tuple(
            Button(option, f"vote:{self.broadcast_id}:{index}")
            for index, option in enumerate(self.options)
        )
        if poll_hint:
            text = f"{text}\n\n{poll_hint}"
        return [Reply(text, buttons)]
