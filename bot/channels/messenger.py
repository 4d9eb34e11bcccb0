"""Facebook Messenger: the page's webhook in, the Send API out.

Meta's rules, followed here: the webhook answers the ``hub.verify_token`` handshake; every
POST is signed with the app secret (``X-Hub-Signature-256``) and one without a valid
signature is refused with 403 and logged; the webhook must answer 200 quickly, so events
are stored (``Conversation.accept``) before the 200 and answered in the background;
Meta redelivers events it is unsure about, and the store drops those by message id.
Replies go out through the Send API with ``messaging_type: RESPONSE`` (inside the
24-hour window that the citizen's own message opened), with retries on temporary errors.
An official's answer may come later: after 24 hours it can only be sent with the
``HUMAN_AGENT`` message tag, for up to 7 days, and only when the page's app has been
granted that permission (``messenger.human_agent_tag``); after that Meta allows nothing,
and the desk shows the answer as undeliverable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.background import BackgroundTasks
from bot.channels.text import split_text
from bot.config import MessengerSettings
from bot.core.conversation import Conversation
from bot.core.messages import (
    Delivery,
    DeliveryState,
    Incoming,
    Kind,
    Outgoing,
    Progress,
    Reply,
)

log = logging.getLogger(__name__)

NAME = "messenger"
GET_STARTED = "GET_STARTED"
MAX_TEXT = 2000  # Send API limit per message
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_BODY_BYTES = 1024 * 1024
# Page-scoped ids are digits, message ids printable ASCII ("m_..."); nothing longer than
# this is one.
_ID = re.compile(r"[!-~]{1,64}")
MAX_PAYLOAD = 1000  # Meta allows postback and quick-reply payloads of up to 1,000 characters
ATTACHMENT_KINDS = {
    "image": Kind.PHOTO,
    "audio": Kind.VOICE,
    "video": Kind.VIDEO,
    "file": Kind.FILE,
    "location": Kind.LOCATION,
}
# Graph API errors that pass: server trouble (1, 2, 1200) and rate limits (4, 17, 32, 613),
# and an access token that is wrong or expired (190), which the operator can fix: the
# outbox keeps the messages until then.
RETRY_CODES = frozenset({1, 2, 4, 17, 32, 190, 613, 1200})
OUTSIDE_WINDOW_SUBCODE = 2018278  # code 10: "sent outside of allowed window"
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


def signature_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole raw body, however it arrives (in one piece or many): the signature is
    over all of it. ``None`` when it is longer than ``limit``, as soon as that is known."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def parse_events(payload: Any) -> Iterator[Incoming]:
    """Turn a webhook payload into incoming messages; unknown events are skipped."""
    if not isinstance(payload, dict) or payload.get("object") != "page":
        return
    entries = payload.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        events = _dict(entry).get("messaging")
        for event in events if isinstance(events, list) else []:
            incoming = _parse_event(event) if isinstance(event, dict) else None
            if incoming is not None:
                yield incoming


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id(value: Any) -> str | None:
    """A page-scoped id or message id as Meta sends them (strings of at most 64 characters,
    or numbers); anything else makes the event unreadable."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text if _ID.fullmatch(text) else None


def _parse_event(event: dict[str, Any]) -> Incoming | None:
    sender = _id(_dict(event.get("sender")).get("id"))
    if sender is None:
        return None
    sent_at = _when(event.get("timestamp"))
    message, postback = event.get("message"), event.get("postback")
    if isinstance(message, dict) and not message.get("is_echo"):
        mid = _id(message.get("mid"))
        quick_reply = _dict(message.get("quick_reply")).get("payload")
        if quick_reply:
            return Incoming(
                NAME, sender, Kind.BUTTON, payload=str(quick_reply), message_id=mid, sent_at=sent_at
            )
        if isinstance(message.get("text"), str):
            text = message["text"]
            kind = Kind.COMMAND if text.startswith("/") else Kind.TEXT
            return Incoming(NAME, sender, kind, text=text, message_id=mid, sent_at=sent_at)
        attachments = message.get("attachments")
        first = _dict(attachments[0]) if isinstance(attachments, list) and attachments else {}
        kind = (
            Kind.STICKER
            if message.get("sticker_id")
            else ATTACHMENT_KINDS.get(str(first.get("type")), Kind.OTHER)
        )
        return Incoming(NAME, sender, kind, message_id=mid, sent_at=sent_at)
    if isinstance(postback, dict):
        payload = str(postback.get("payload") or "")[:MAX_PAYLOAD]
        mid = _id(postback.get("mid")) or f"postback:{sent_at}:{payload}"
        if payload == GET_STARTED:  # with a campaign, when opened from m.me/<page>?ref=...
            start = f"/start {_ref(postback.get('referral'))}".strip()
            return Incoming(NAME, sender, Kind.COMMAND, text=start, message_id=mid, sent_at=sent_at)
        if payload.startswith("/"):  # a persistent-menu item: "/langganan", "/hapusdata"
            return Incoming(
                NAME, sender, Kind.COMMAND, text=payload, message_id=mid, sent_at=sent_at
            )
        return Incoming(NAME, sender, Kind.BUTTON, payload=payload, message_id=mid, sent_at=sent_at)
    referral = event.get("referral")
    if isinstance(referral, dict) and _ref(referral):  # an m.me?ref= link, thread open
        mid = f"referral:{sent_at}:{_ref(referral)}"
        return Incoming(
            NAME,
            sender,
            Kind.COMMAND,
            text=f"/start {_ref(referral)}",
            message_id=mid,
            sent_at=sent_at,
        )
    return None  # delivery, read, reaction and other events need no answer


def _when(timestamp: Any) -> datetime | None:
    """An event's time (Meta sends milliseconds since the epoch), if it is a sane one."""
    if isinstance(timestamp, int | float) and 0 < timestamp < 10**14:
        return datetime.fromtimestamp(timestamp / 1000, UTC)
    return None


def _ref(referral: Any) -> str:
    """A campaign code from a referral object; only slug characters are kept."""
    ref = str(referral.get("ref") or "") if isinstance(referral, dict) else ""
    return "".join(ch for ch in ref.lower() if ch.isalnum() or ch == "-")[:60]


def render(reply: Reply) -> list[dict[str, Any]]:
    """A reply as Send API ``message`` objects: long text split, buttons as quick replies.

    A quick reply's title shows 20 characters, and a message takes 13 of them. Choices
    that do not fit ("Bagaimana cara meng…" twice) are listed in the text, numbered, and
    their quick replies are the numbers (short ones, like "Teruskan ke petugas", keep their
    label); past 13 choices all are numbered, and the citizen may type the number."""
    buttons = reply.buttons
    text = reply.text
    every = len(buttons) > MAX_QUICK_REPLIES
    numbered = [
        every or (len(buttons) > 1 and len(b.label) > MAX_QUICK_REPLY_TITLE) for b in buttons
    ]
    lines = [f"{n}. {b.label}" for n, b in enumerate(buttons, start=1) if numbered[n - 1]]
    missing = [line for line in lines if line not in text]
    if missing:
        text = "\n".join([text, "", *missing]) if text else "\n".join(missing)
    parts = split_text(text, MAX_TEXT) or [""]
    messages: list[dict[str, Any]] = [{"text": part} for part in parts]
    if buttons:
        messages[-1]["quick_replies"] = [
            {
                "content_type": "text",
                "title": str(n) if numbered[n - 1] else _title(button.label),
                "payload": button.payload,
            }
            for n, button in enumerate(buttons[:MAX_QUICK_REPLIES], start=1)
        ]
    return messages


def _title(label: str) -> str:
    """A lone choice's label, cut to what a quick reply shows."""
    if len(label) <= MAX_QUICK_REPLY_TITLE:
        return label
    return label[: MAX_QUICK_REPLY_TITLE - 1].rstrip() + "…"


class SendApi:
    """A small client for the Send API, on aiohttp: one attempt per call, its outcome
    sorted into sent, try again later, or refused for good (the outbox retries)."""

    def __init__(self, base_url: str, token: str, session: aiohttp.ClientSession) -> None:
        self.url = base_url.rstrip("/") + "/me/messages"
        self.token = token
        self.session = session

    async def send(
        self,
        psid: str,
        message: dict[str, Any],
        tag: str | None = None,
        messaging_type: str = "RESPONSE",
    ) -> Delivery:
        body: dict[str, Any] = {"recipient": {"id": psid}, "message": message}
        if tag:
            body |= {"messaging_type": "MESSAGE_TAG", "tag": tag}
        else:
            body["messaging_type"] = messaging_type
        try:
            async with self.session.post(
                self.url, params={"access_token": self.token}, json=body
            ) as response:
                if response.status == 200:
                    data = await response.json(content_type=None)
                    ref = data.get("message_id") if isinstance(data, dict) else None
                    return Delivery(DeliveryState.SENT, ref=str(ref) if ref else None)
                status = response.status
                retry_after = _retry_after(response.headers.get("Retry-After"))
                data = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            # A timeout may hide a message that arrived: sending it again is the lesser harm.
            return Delivery(DeliveryState.RETRY, f"{type(exc).__name__}: {exc}".strip(": "))
        return _outcome(status, data, retry_after)


def _retry_after(header: str | None) -> float | None:
    try:
        return min(float(header), 3600.0) if header else None
    except ValueError:
        return None


def _outcome(status: int, data: Any, retry_after: float | None) -> Delivery:
    """A refused request as a delivery outcome, by Meta's documented error codes."""
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    code, subcode = error.get("code"), error.get("error_subcode")
    reason = f"HTTP {status}: {error.get('message') or data}"
    if code == 10 and subcode == OUTSIDE_WINDOW_SUBCODE:
        return Delivery(DeliveryState.UNDELIVERABLE, reason)
    if status >= 500 or status == 429 or code in RETRY_CODES:
        return Delivery(DeliveryState.RETRY, reason, retry_after=retry_after)
    return Delivery(DeliveryState.FAILED, reason)


class MessengerChannel:
    name = NAME

    def __init__(
        self,
        settings: MessengerSettings,
        credentials: tuple[str, str, str],
        conversation: Conversation,
        announcement_tag: str = "",
    ) -> None:
        self.settings = settings
        self.page_token, self.app_secret, self.verify_token = credentials
        self.conversation = conversation
        self._background = BackgroundTasks(NAME)
        self._session: aiohttp.ClientSession | None = None
        self.api: SendApi | None = None
        self.broadcast_rate: float | None = 20.0
        # The message tag announcements go with outside the 24-hour window ("" : none).
        self.announcement_tag = announcement_tag
        # Replies of type RESPONSE are allowed within 24 hours of the citizen's message.
        self.reply_window: timedelta | None = STANDARD_WINDOW

    def setup(self, app: web.Application) -> None:
        app.router.add_get(self.settings.webhook_path, self.verify)
        app.router.add_post(self.settings.webhook_path, self.receive)
        app.cleanup_ctx.append(self._lifetime)

    async def _lifetime(self, app: web.Application) -> Any:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10, connect=5))
        self.api = SendApi(self.settings.graph_api_url, self.page_token, self._session)
        yield
        await self._background.drain()
        await self._session.close()

    async def verify(self, request: web.Request) -> web.Response:
        """The subscription handshake Meta makes when the webhook is set up."""
        query = request.query
        if query.get("hub.mode") == "subscribe" and hmac.compare_digest(
            query.get("hub.verify_token", ""), self.verify_token
        ):
            return web.Response(text=query.get("hub.challenge", ""))
        log.warning("Messenger webhook verification refused from %s", request.remote)
        return web.Response(status=403, text="verification failed")

    async def receive(self, request: web.Request) -> web.Response:
        body = await read_body(request, MAX_BODY_BYTES)
        if body is None:
            return web.Response(status=413, text="payload too large")
        if not signature_valid(self.app_secret, body, request.headers.get("X-Hub-Signature-256")):
            log.warning("Messenger webhook: missing or forged signature from %s", request.remote)
            return web.Response(status=403, text="invalid signature")
        try:
            payload = json.loads(body)
        except ValueError:
            log.warning("Messenger webhook: body is not JSON")
            return web.Response(status=400, text="invalid JSON")
        for incoming in parse_events(payload):
            accepted = self.conversation.accept(incoming)  # stored before the 200
            if accepted is not None:
                self._background.answer(self.conversation, accepted)
        return web.Response(text="EVENT_RECEIVED")

    async def send(
        self, psid: str, replies: list[Reply], skip: int = 0, *, progress: Progress | None = None
    ) -> Delivery:
        """A reply to the citizen's message, inside the 24 hours it opened."""
        return await self._send(psid, replies, skip=skip, progress=progress)

    async def _send(
        self,
        psid: str,
        replies: list[Reply],
        tag: str | None = None,
        messaging_type: str = "RESPONSE",
        skip: int = 0,
        progress: Progress | None = None,
    ) -> Delivery:
        """Send every rendered message from the ``skip``-th on, stopping at the first that
        does not get through (its outcome is the result; ``parts`` counts those that did;
        ``progress`` hears of each confirmed one before the next is sent)."""
        if self.api is None:
            return Delivery(DeliveryState.RETRY, "the Messenger channel is not started yet")
        messages = [m for reply in replies for m in render(reply)][skip:]
        for sent, message in enumerate(messages):
            outcome = await self.api.send(psid, message, tag, messaging_type)
            if outcome.state is not DeliveryState.SENT:
                return dataclasses.replace(outcome, parts=sent)
            if progress is not None and sent + 1 < len(messages):
                progress(sent + 1)
        return Delivery(DeliveryState.SENT, parts=len(messages))

    async def broadcast(self, psid: str, item: Outgoing, last_inbound: datetime | None) -> Delivery:
        """An announcement or poll: Meta allows it within 24 h of the citizen's last
        message (``UPDATE``), later only with a tag permitted for the content."""
        age = datetime.now(UTC) - last_inbound if last_inbound else HUMAN_AGENT_WINDOW
        replies = item.as_replies()
        if age <= STANDARD_WINDOW:
            return await self._send(psid, replies, messaging_type="UPDATE")
        if self.announcement_tag:
            return await self._send(psid, replies, tag=self.announcement_tag)
        return Delivery(
            DeliveryState.UNDELIVERABLE,
            "outside Messenger's 24-hour window (no message tag is set for announcements)",
        )

    async def deliver_official(
        self,
        psid: str,
        replies: list[Reply],
        last_inbound: datetime | None,
        skip: int = 0,
        *,
        progress: Progress | None = None,
    ) -> Delivery:
        """Send an official's answer if Meta's messaging windows still allow it."""
        age = datetime.now(UTC) - last_inbound if last_inbound else HUMAN_AGENT_WINDOW * 2
        if age <= STANDARD_WINDOW:
            return await self._send(psid, replies, skip=skip, progress=progress)
        if age > HUMAN_AGENT_WINDOW:
            return Delivery(
                DeliveryState.UNDELIVERABLE,
                "the citizen last wrote more than 7 days ago: Messenger allows no reply",
            )
        if not self.settings.human_agent_tag:
            return Delivery(
                DeliveryState.UNDELIVERABLE,
                "the citizen last wrote more than 24 hours ago: a reply needs the HUMAN_AGENT "
                "tag (set messenger.human_agent_tag once the app has that permission)",
            )
        return await self._send(psid, replies, tag="HUMAN_AGENT", skip=skip, progress=progress)
