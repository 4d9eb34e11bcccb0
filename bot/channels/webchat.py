"""Web chat: a chat page served by the bot, and a snippet that embeds it in any website.

No token and no third-party script: the page is plain HTML, CSS and a small script
served from here. A citizen is identified by a random session id in an HttpOnly cookie,
so a returning visitor sees the conversation so far. What reaches a citizen without a
question of theirs (an official's answer, an announcement, a poll) is stored and waits;
an open chat page asks for it every few seconds (``/chat/api/updates``), as chat widgets
such as Chatwoot's do without a socket, and a closed one shows it at the next visit.
Every message carries a client-made id, so a resubmission after a network error is not
answered twice.

Anyone on the internet can post here, so: sessions are issued by the bot and signed with
the install's own key (an invented session id is refused, so made-up citizens cannot vote
or fill the officials' inbox); messages are limited per session and per address (429 with
``Retry-After`` beyond that); and bodies are bounded (413).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import math
import re
import secrets
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from aiohttp import web

from bot.channels.limits import RateLimit
from bot.config import WebChatSettings
from bot.core.broadcasting import outgoing
from bot.core.conversation import Conversation
from bot.core.messages import (
    Delivery,
    DeliveryState,
    Incoming,
    Kind,
    Outgoing,
    Progress,
    Reply,
    replies_from_json,
)
from bot.store.messages import Direction, Message, MessageAction, MessageStatus
from bot.store.store import Citizen, Store

NAME = "webchat"
COOKIE = "tanya_chat"
SESSION_HEADER = "X-Tanya-Session"
SESSION_SLOT = "<!-- tanya-session -->"
PAGE_COMMANDS = frozenset({"/start", "/bahasa", "/language"})
MAX_TEXT = 4000
MAX_BODY_BYTES = 32 * 1024
MAX_JSON_DEPTH = 4
_SESSION = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
_TOKEN_CHARS = 24  # secrets.token_urlsafe(18)
_SIGNATURE_CHARS = 22  # 16 bytes of HMAC-SHA256, URL-safe base64 without padding
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STATIC = resources.files("bot.channels") / "webchat_static"
# Outgoing messages that no request of the citizen's page answered: polled for.
PUSHED = frozenset({MessageAction.OFFICIAL, MessageAction.BROADCAST, MessageAction.NOTICE})
WAITING_DETAIL = "shown within seconds if the citizen's chat is open, else at the next visit"


@functools.cache
def _asset(name: str) -> str:
    """A static file, read once: the page is served on every visit."""
    return (_STATIC / name).read_text(encoding="utf-8")


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or ``None`` when it is longer than ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = await request.content.read(limit + 1)
    while len(body) <= limit and not request.content.at_eof():
        more = await request.content.read(limit + 1 - len(body))
        if not more:
            break
        body += more
    return None if len(body) > limit else body


def json_depth(value: Any, depth: int = 1) -> int:
    """How deeply ``value`` nests (bounded work: stops counting past 64)."""
    if depth > 64 or not isinstance(value, dict | list):
        return depth
    items = value.values() if isinstance(value, dict) else value
    return max((json_depth(item, depth + 1) for item in items), default=depth)


def session_cookie(session: str, request: web.Request) -> str:
    """The session cookie, usable in a frame on another site: ``SameSite=None`` needs
    ``Secure`` (HTTPS, or a loopback address, which browsers treat as secure). On plain
    HTTP elsewhere it falls back to a first-party cookie. Where a browser blocks
    third-party cookies the page still works, its header carrying the session; only a
    reload then starts a new conversation. (``Partitioned`` would keep it, but Python's
    own cookie parser, which many clients use, drops a cookie that has it.)"""
    attributes = [f"{COOKIE}={session}", "Max-Age=31536000", "Path=/chat", "HttpOnly"]
    host = (request.host or "").rsplit(":", 1)[0].strip("[]")
    if request.secure or host == "localhost" or host.startswith("127.") or host == "::1":
        attributes += ["Secure", "SameSite=None"]
    else:
        attributes.append("SameSite=Lax")
    return "; ".join(attributes)


def _page_command(row: Message) -> bool:
    """The chat page's own commands (its first /start, the language switch), which the
    citizen did not type: not shown back to them."""
    text = (row.text or "").casefold()
    return row.kind == "command" and text.split(" ")[0] in PAGE_COMMANDS


def reply_json(reply: Reply) -> dict[str, Any]:
    return {
        "text": reply.text,
        "buttons": [{"label": b.label, "payload": b.payload} for b in reply.buttons],
    }


class WebChatChannel:
    name = NAME

    def __init__(self, settings: WebChatSettings, conversation: Conversation, store: Store) -> None:
        self.settings = settings
        self.conversation = conversation
        self.store = store
        self._key = store.secret("webchat-session").encode()
        self._per_session = RateLimit(settings.messages_per_minute, settings.burst)
        self._per_address = RateLimit(
            settings.messages_per_minute_per_address, settings.burst_per_address
        )

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/chat", self.page)
        app.router.add_get("/chat/chat.js", self.script)
        app.router.add_get("/chat/embed.js", self.embed)
        app.router.add_get("/chat/api/history", self.history)
        app.router.add_get("/chat/api/updates", self.updates)
        app.router.add_post("/chat/api/messages", self.message)

    async def send(
        self, citizen: str, replies: list[Reply], skip: int = 0, *, progress: Progress | None = None
    ) -> Delivery:
        """Nothing to push (a reply worked out after a restart): it is stored, and the
        chat page shows it when it next asks."""
        return Delivery(DeliveryState.WAITING, WAITING_DETAIL)

    broadcast_rate: float | None = None
    reply_window: timedelta | None = None

    async def broadcast(
        self, citizen: str, item: Outgoing, last_inbound: datetime | None
    ) -> Delivery:
        """Announcements wait in the conversation, like officials' answers."""
        return Delivery(DeliveryState.WAITING, WAITING_DETAIL)

    async def deliver_official(
        self,
        citizen: str,
        replies: list[Reply],
        last_inbound: datetime | None,
        skip: int = 0,
        *,
        progress: Progress | None = None,
    ) -> Delivery:
        """An official's answer waits in the conversation until the chat page shows it."""
        return Delivery(DeliveryState.WAITING, WAITING_DETAIL)

    async def page(self, request: web.Request) -> web.Response:
        response = web.Response(content_type="text/html")
        session = self._session(request, response)
        # The page carries its session and sends it with every request (a header, not
        # only a cookie): in a frame on the government's own site, browsers that block
        # third-party cookies still let the chat work, and a cookie alone cannot be used
        # by another site to post as the citizen.
        meta = f'<meta name="tanya-session" content="{session}">'
        response.text = _asset("chat.html").replace(SESSION_SLOT, meta, 1)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors *"
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    async def script(self, request: web.Request) -> web.Response:
        return web.Response(text=_asset("chat.js"), content_type="application/javascript")

    async def embed(self, request: web.Request) -> web.Response:
        return web.Response(text=_asset("embed.js"), content_type="application/javascript")

    def _sign(self, token: str) -> str:
        digest = hmac.new(self._key, token.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _issued(self, session: str) -> bool:
        """Whether the bot issued this session: signed with its key, or (from before
        sessions were signed) one a citizen already has."""
        if len(session) == _TOKEN_CHARS + _SIGNATURE_CHARS and _SESSION.match(session):
            token, signature = session[:_TOKEN_CHARS], session[_TOKEN_CHARS:]
            if hmac.compare_digest(signature, self._sign(token)):
                return True
        return bool(_SESSION.match(session)) and (
            self.store.find_citizen(NAME, session) is not None
        )

    def _session(self, request: web.Request, response: web.StreamResponse) -> str:
        """The visitor's session: the one their cookie keeps (so a returning citizen
        sees the conversation so far), else a new one, which the cookie then keeps."""
        session = request.cookies.get(COOKIE, "")
        if not self._issued(session):
            token = secrets.token_urlsafe(18)
            session = token + self._sign(token)
        response.headers.add("Set-Cookie", session_cookie(session, request))
        return session

    def _requested(self, request: web.Request) -> str:
        """The session a request speaks for: the page's header, else (from an older page,
        same site only) its cookie; "" when neither."""
        header = request.headers.get(SESSION_HEADER)
        if header is not None:
            return header
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return ""  # another site cannot use the citizen's cookie to post as them
        return request.cookies.get(COOKIE, "")

    def _citizen(self, request: web.Request) -> Citizen | None:
        session = self._requested(request)
        if not _SESSION.match(session):
            return None
        return self.store.find_citizen(NAME, session)

    def _limited(self, request: web.Request, session: str) -> web.Response | None:
        """429 when this session or this address sends faster than people type."""
        wait = max(self._per_session.take(session), self._per_address.take(request.remote or "?"))
        if not wait:
            return None
        return web.json_response(
            {
                "error": "Terlalu banyak pesan. Tunggu sebentar, lalu coba lagi. / "
                "Too many messages: wait a moment, then try again.",
                "retry_after": math.ceil(wait),
            },
            status=429,
            headers={"Retry-After": str(math.ceil(wait))},
        )

    async def history(self, request: web.Request) -> web.Response:
        """The conversation so far, and the cursor from which to poll for updates."""
        citizen = self._citizen(request)
        if citizen is None:
            return web.json_response({"messages": [], "cursor": 0})
        rows = self.store.messages(citizen.id)
        shown = [r for r in rows if r.kind != "button" and not _page_command(r)]
        messages = self._render(citizen, shown)
        self.store.escalations.shown_in_webchat(citizen.id)
        if messages and messages[-1]["from"] == "bot" and not messages[-1]["buttons"]:
            # The buttons under the bot's last message still work: show them again.
            last = shown[-1]
            if last.buttons:
                messages[-1]["buttons"] = reply_json(replies_from_json(last.buttons)[0])["buttons"]
        return web.json_response(
            {
                "messages": messages[-100:],
                "cursor": rows[-1].id if rows else 0,
                "language": citizen.language,
            }
        )

    async def updates(self, request: web.Request) -> web.Response:
        """Officials' answers and announcements stored after message ``after``, for an open
        chat page; the replies to the citizen's own messages came with those requests."""
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return web.json_response({"error": "after must be a message number"}, status=400)
        citizen = self._citizen(request)
        if citizen is None:
            return web.json_response({"messages": [], "cursor": after})
        rows = self.store.messages(citizen.id, after=after)
        pushed = [
            r
            for r in rows
            if r.direction is Direction.OUT
            and (r.action in PUSHED or r.status is MessageStatus.WAITING)
        ]
        messages = self._render(citizen, pushed)
        if any(r.action is MessageAction.OFFICIAL for r in pushed):
            self.store.escalations.shown_in_webchat(citizen.id)
        self.store.outbox.shown([r.id for r in pushed if r.status is MessageStatus.WAITING])
        return web.json_response({"messages": messages, "cursor": rows[-1].id if rows else after})

    def _render(self, citizen: Citizen, rows: list[Message]) -> list[dict[str, Any]]:
        """Stored messages as the page shows them, announcements and officials' answers
        rendered as the citizen receives them (with their buttons)."""
        messages: list[dict[str, Any]] = []
        for row in rows:
            if row.action is MessageAction.BROADCAST and row.broadcast_id:
                broadcast = self.store.broadcasts.get(row.broadcast_id)
                if broadcast is not None:
                    replies = outgoing(broadcast).as_replies()
                    messages += [{"from": "bot", **reply_json(r)} for r in replies]
                continue
            if row.action is MessageAction.OFFICIAL and row.text is not None:
                ticket = (
                    self.store.escalations.ticket_for_message(row.reply_to)
                    if row.reply_to is not None
                    else None
                )
                replies = self.conversation.official_answer(citizen, ticket or 0, row.text)
                messages += [{"from": "bot", **reply_json(r)} for r in replies]
            else:
                sender = "citizen" if row.incoming else "bot"
                messages.append({"from": sender, "text": row.text or "", "buttons": []})
        return messages

    async def message(self, request: web.Request) -> web.Response:
        session = self._requested(request)
        if not self._issued(session):
            return web.json_response(
                {
                    "error": "Sesi chat tidak dikenal: muat ulang halaman. / "
                    "Unknown chat session: reload the page."
                },
                status=400,
            )
        if (limited := self._limited(request, session)) is not None:
            return limited
        raw = await read_limited(request, MAX_BODY_BYTES)
        if raw is None:
            return web.json_response({"error": "the message is too large"}, status=413)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            return web.json_response({"error": "the body must be JSON"}, status=400)
        if json_depth(body) > MAX_JSON_DEPTH:
            return web.json_response({"error": "the body is nested too deeply"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        incoming = self._incoming(session, body)
        if isinstance(incoming, str):
            return web.json_response({"error": incoming}, status=400)
        replies = await self.conversation.handle(incoming)
        return web.json_response({"replies": [reply_json(r) for r in replies]})

    def _incoming(self, session: str, body: dict[str, Any]) -> Incoming | str:
        text, payload = body.get("text"), body.get("payload")
        client_id, language = body.get("id"), body.get("language")
        if client_id is not None and not (
            isinstance(client_id, str) and _CLIENT_ID.match(client_id)
        ):
            return "id must be a short string of letters, digits, - and _"
        if language not in (None, "id", "en"):
            return 'language must be "id", "en" or null'
        if isinstance(payload, str) and payload:
            return Incoming(
                NAME,
                session,
                Kind.BUTTON,
                payload=payload[:200],
                message_id=client_id,
                language=language,
            )
        if not isinstance(text, str):
            return "text must be a string"
        kind = Kind.COMMAND if text.startswith("/") else Kind.TEXT
        return Incoming(
            NAME, session, kind, text=text[:MAX_TEXT], message_id=client_id, language=language
        )
