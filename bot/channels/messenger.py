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

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.background import BackgroundTasks
from bot.channels.text import split_text
from bot.config import MessengerSettings
from bot.core.conversation import Conversation
from bot.core.messages import Delivery, DeliveryState, Incoming, Kind, Outgoing, Reply

log = logging.getLogger(__name__)

NAME = "messenger"
GET_STARTED = "GET_STARTED"
MAX_TEXT = 2000  # Send API limit per message
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_BODY_BYTES = 1024 * 1024
ATTACHMENT_KINDS = {
    "image": Kind.PHOTO,
    "audio": Kind.VOICE,
    "video": Kind.VIDEO,
    "file": Kind.FILE,
    "location": Kind.LOCATION,
}
# Graph API error codes worth retrying: temporary errors and rate limits.
RETRY_CODES = frozenset({1, 2, 4, 17, 32, 613})
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


class SendFailed(Exception):
    """The Send API refused a message for good (or kept failing)."""


def signature_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def parse_events(payload: Any) -> Iterator[Incoming]:
    """Turn a webhook payload into incoming messages; unknown events are skipped."""
    if not isinstance(payload, dict) or payload.get("object") != "page":
        return
    for entry in payload.get("entry") or []:
        for event in (entry.get("messaging") or []) if isinstance(entry, dict) else []:
            incoming = _parse_event(event) if isinstance(event, dict) else None
            if incoming is not None:
                yield incoming


def _parse_event(event: dict[str, Any]) -> Incoming | None:
    sender = (event.get("sender") or {}).get("id")
    if not sender:
        return None
    sender = str(sender)
    message, postback = event.get("message"), event.get("postback")
    if isinstance(message, dict) and not message.get("is_echo"):
        mid = message.get("mid")
        quick_reply = (message.get("quick_reply") or {}).get("payload")
        if quick_reply:
            return Incoming(NAME, sender, Kind.BUTTON, payload=str(quick_reply), message_id=mid)
        if isinstance(message.get("text"), str):
            text = message["text"]
            kind = Kind.COMMAND if text.startswith("/") else Kind.TEXT
            return Incoming(NAME, sender, kind, text=text, message_id=mid)
        attachments = message.get("attachments") or [{}]
        first = attachments[0] if isinstance(attachments[0], dict) else {}
        kind = (
            Kind.STICKER
            if message.get("sticker_id")
            else ATTACHMENT_KINDS.get(str(first.get("type")), Kind.OTHER)
        )
        return Incoming(NAME, sender, kind, message_id=mid)
    if isinstance(postback, dict):
        payload = str(postback.get("payload") or "")
        mid = postback.get("mid") or f"postback:{event.get('timestamp')}:{payload}"
        if payload == GET_STARTED:  # with a campaign, when opened from m.me/<page>?ref=...
            start = f"/start {_ref(postback.get('referral'))}".strip()
            return Incoming(NAME, sender, Kind.COMMAND, text=start, message_id=mid)
        if payload.startswith("/"):  # a persistent-menu item: "/langganan", "/hapusdata"
            return Incoming(NAME, sender, Kind.COMMAND, text=payload, message_id=mid)
        return Incoming(NAME, sender, Kind.BUTTON, payload=payload, message_id=mid)
    referral = event.get("referral")
    if isinstance(referral, dict) and _ref(referral):  # an m.me?ref= link, thread open
        mid = f"referral:{event.get('timestamp')}:{_ref(referral)}"
        return Incoming(NAME, sender, Kind.COMMAND, text=f"/start {_ref(referral)}", message_id=mid)
    return None  # delivery, read, reaction and other events need no answer


def _ref(referral: Any) -> str:
    """A campaign code from a referral object; only slug characters are kept."""
    ref = str(referral.get("ref") or "") if isinstance(referral, dict) else ""
    return "".join(ch for ch in ref.lower() if ch.isalnum() or ch == "-")[:60]


def render(reply: Reply) -> list[dict[str, Any]]:
    """A reply as Send API ``message`` objects: long text split, buttons as quick replies."""
    parts = split_text(reply.text, MAX_TEXT) or [""]
    messages: list[dict[str, Any]] = [{"text": part} for part in parts]
    if reply.buttons:
        messages[-1]["quick_replies"] = [
            {"content_type": "text", "title": _title(button.label), "payload": button.payload}
            for button in reply.buttons[:MAX_QUICK_REPLIES]
        ]
    return messages


def _title(label: str) -> str:
    return (
        label
        if len(label) <= MAX_QUICK_REPLY_TITLE
        else label[: MAX_QUICK_REPLY_TITLE - 1].rstrip() + "…"
    )


class SendApi:
    """A small client for the Send API, on aiohttp."""

    def __init__(
        self,
        base_url: str,
        token: str,
        session: aiohttp.ClientSession,
        attempts: int = 4,
        backoff: float = 0.5,
    ) -> None:
        self.url = base_url.rstrip("/") + "/me/messages"
        self.token = token
        self.session = session
        self.attempts = attempts
        self.backoff = backoff

    async def send(
        self,
        psid: str,
        message: dict[str, Any],
        tag: str | None = None,
        messaging_type: str = "RESPONSE",
    ) -> None:
        body: dict[str, Any] = {"recipient": {"id": psid}, "message": message}
        if tag:
            body |= {"messaging_type": "MESSAGE_TAG", "tag": tag}
        else:
            body["messaging_type"] = messaging_type
        for attempt in range(1, self.attempts + 1):
            try:
                async with self.session.post(
                    self.url, params={"access_token": self.token}, json=body
                ) as response:
                    if response.status == 200:
                        return
                    data = await response.json(content_type=None)
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                data, reason = None, f"{type(exc).__name__}: {exc}"
                retry = True
            else:
                error = (data or {}).get("error") or {} if isinstance(data, dict) else {}
                reason = f"HTTP {response.status}: {error.get('message', data)}"
                retry = response.status >= 500 or error.get("code") in RETRY_CODES
            if not retry or attempt == self.attempts:
                raise SendFailed(reason)
            log.warning("Send API attempt %d failed (%s); retrying", attempt, reason)
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1))


class MessengerChannel:
    name = NAME

    def __init__(
        self,
        settings: MessengerSettings,
        credentials: tuple[str, str, str],
        conversation: Conversation,
    ) -> None:
        self.settings = settings
        self.page_token, self.app_secret, self.verify_token = credentials
        self.conversation = conversation
        self._background = BackgroundTasks(NAME)
        self._session: aiohttp.ClientSession | None = None
        self.api: SendApi | None = None
        self.broadcast_rate: float | None = 20.0
        self.announcement_tag = ""

    def setup(self, app: web.Application) -> None:
        app.router.add_get(self.settings.webhook_path, self.verify)
        app.router.add_post(self.settings.webhook_path, self.receive)
        app.cleanup_ctx.append(self._lifetime)

    async def _lifetime(self, app: web.Application) -> Any:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
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
        body = await request.content.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
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
                self._background.answer(self.conversation, accepted, self.send)
        return web.Response(text="EVENT_RECEIVED")

    async def send(self, psid: str, replies: list[Reply]) -> None:
        await self._send(psid, replies)

    async def _send(
        self,
        psid: str,
        replies: list[Reply],
        tag: str | None = None,
        messaging_type: str = "RESPONSE",
    ) -> Delivery:
        assert self.api is not None, "the channel is not started"
        for reply in replies:
            for message in render(reply):
                try:
                    await self.api.send(psid, message, tag, messaging_type)
                except SendFailed as exc:
                    log.error("Messenger: message to %s not delivered: %s", psid, exc)
                    return Delivery(DeliveryState.FAILED, str(exc))
        return Delivery(DeliveryState.SENT)

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
        self, psid: str, replies: list[Reply], last_inbound: datetime | None
    ) -> Delivery:
        """Send an official's answer if Meta's messaging windows still allow it."""
        age = datetime.now(UTC) - last_inbound if last_inbound else HUMAN_AGENT_WINDOW * 2
        if age <= STANDARD_WINDOW:
            return await self._send(psid, replies)
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
        return await self._send(psid, replies, tag="HUMAN_AGENT")
