"""Platform-neutral messages: what channel adapters hand to the core and get back."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime


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
    """One event from a citizen, as every channel reports it (see :func:`clean`)."""

    channel: str
    citizen: str  # the platform's id for the citizen (chat id, page-scoped id, session)
    kind: Kind = Kind.TEXT
    text: str = ""
    language: str | None = None  # the platform's hint (e.g. Telegram's language_code)
    message_id: str | None = None  # the platform's message id, for de-duplication
    payload: str | None = None  # for buttons: what the pressed button carries
    forwarded: bool = False  # forwarded from elsewhere (Telegram): possible misinformation
    sent_at: datetime | None = None  # when the citizen sent it, by the platform's clock
    attachment: str | None = None  # a photo, video... that came with the text (its caption)


# Characters no message needs and storage or rendering chokes on: NUL, and the lone
# surrogates JSON lets through ("\\ud800"), which cannot be encoded as UTF-8 for SQLite.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_PAYLOAD = 200


def clean_text(text: str) -> str:
    """Text as the core can store and show it: NUL and lone surrogates as U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)


def clean(message: Incoming) -> Incoming:
    """A message as the core can store and show it, whatever a client sent: NUL and lone
    surrogates replaced by U+FFFD (in its ids too), a button's payload bounded."""
    text = clean_text(message.text)
    payload = message.payload
    if payload is not None:
        payload = clean_text(payload)[:MAX_PAYLOAD]
    citizen = clean_text(message.citizen)
    message_id = clean_text(message.message_id) if message.message_id is not None else None
    if (text, payload, citizen, message_id) == (
        message.text,
        message.payload,
        message.citizen,
        message.message_id,
    ):
        return message
    return replace(message, text=text, payload=payload, citizen=citizen, message_id=message_id)


@dataclass(frozen=True)
class Button:
    label: str
    payload: str


@dataclass(frozen=True)
class Reply:
    """Text for the citizen, with optional buttons the channel renders its own way."""

    text: str
    buttons: tuple[Button, ...] = field(default=())


def replies_to_json(replies: Sequence[Reply]) -> str:
    """Replies as the outbox stores them until they are sent."""
    return json.dumps(
        [
            {
                "text": r.text,
                "buttons": [{"label": b.label, "payload": b.payload} for b in r.buttons],
            }
            for r in replies
        ],
        ensure_ascii=False,
    )


def replies_from_json(text: str) -> list[Reply]:
    return [
        Reply(r["text"], tuple(Button(b["label"], b["payload"]) for b in r["buttons"]))
        for r in json.loads(text)
    ]


class DeliveryState(enum.StrEnum):
    SENT = "sent"  # the platform confirmed it
    WAITING = "waiting"  # stored; the web chat page shows it when open (it polls) or next visit
    RETRY = "retry"  # a temporary failure (timeout, 5xx, rate limit, outage): try again later
    FAILED = "failed"  # the platform refused it for good (e.g. a malformed request)
    UNDELIVERABLE = "undeliverable"  # the platform's rules forbid sending it now
    BLOCKED = "blocked"  # the citizen blocked the bot


@dataclass(frozen=True)
class Delivery:
    """How one attempt to send went, as the outbox records it and officials see it."""

    state: DeliveryState
    detail: str = ""
    ref: str | None = None  # the platform's id for what was sent (e.g. a Telegram poll)
    # How many of the rendered platform messages got through in this attempt (a long
    # reply is several): a retry starts after them, so none is sent twice.
    parts: int = 0
    retry_after: float | None = None  # seconds the platform asked us to wait (a 429)


# Told, while an attempt goes on, how many of its rendered messages the platform has
# confirmed so far (after each but the last, whose count the attempt's Delivery carries):
# the outbox records it before the next part's wait, so a worker dying in between does not
# leave the confirmed parts to be sent again.
Progress = Callable[[int], None]


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
