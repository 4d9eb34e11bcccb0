"""Web chat: a chat page served by the bot, and a snippet that embeds it in any website.

No token and no third-party script: the page is plain HTML, CSS and a small script
served from here. A citizen is identified by a random session id in an HttpOnly cookie,
so a returning visitor sees the conversation so far. What reaches a citizen without a
question of theirs (an official's answer, an announcement, a poll) is stored and waits;
an open chat page asks for it every few seconds (``/chat/api/updates``), as chat widgets
such as Chatwoot's do without a socket, and a closed one shows it at the next visit.
Every message carries a client-made id, so a resubmission after a network error is not
answered twice.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from datetime import datetime
from importlib import resources
from typing import Any

from aiohttp import web

from bot.config import WebChatSettings
from bot.core.broadcasting import outgoing
from bot.core.conversation import Conversation
from bot.core.messages import Delivery, DeliveryState, Incoming, Kind, Outgoing, Reply
from bot.store.store import Citizen, Store

NAME = "webchat"
COOKIE = "tanya_chat"
MAX_TEXT = 4000
_SESSION = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STATIC = resources.files("bot.channels") / "webchat_static"
# Outgoing messages that no request of the citizen's page answered: polled for.
PUSHED = ("official", "broadcast")
WAITING_DETAIL = "shown within seconds if the citizen's chat is open, else at the next visit"


@functools.cache
def _asset(name: str) -> str:
    """A static file, read once: the page is served on every visit."""
    return (_STATIC / name).read_text(encoding="utf-8")


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

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/chat", self.page)
        app.router.add_get("/chat/chat.js", self.script)
        app.router.add_get("/chat/embed.js", self.embed)
        app.router.add_get("/chat/api/history", self.history)
        app.router.add_get("/chat/api/updates", self.updates)
        app.router.add_post("/chat/api/messages", self.message)

    async def send(self, citizen: str, replies: list[Reply]) -> None:
        """Nothing to push: the replies are stored, and the chat page polls for them."""

    broadcast_rate: float | None = None

    async def broadcast(
        self, citizen: str, item: Outgoing, last_inbound: datetime | None
    ) -> Delivery:
        """Announcements wait in the conversation, like officials' answers."""
        return Delivery(DeliveryState.WAITING, WAITING_DETAIL)

    async def deliver_official(
        self, citizen: str, replies: list[Reply], last_inbound: datetime | None
    ) -> Delivery:
        """An official's answer waits in the conversation until the chat page shows it."""
        return Delivery(DeliveryState.WAITING, WAITING_DETAIL)

    async def page(self, request: web.Request) -> web.Response:
        response = web.Response(text=_asset("chat.html"), content_type="text/html")
        self._session(request, response)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors *"
        )
        return response

    async def script(self, request: web.Request) -> web.Response:
        return web.Response(text=_asset("chat.js"), content_type="application/javascript")

    async def embed(self, request: web.Request) -> web.Response:
        return web.Response(text=_asset("embed.js"), content_type="application/javascript")

    def _session(self, request: web.Request, response: web.StreamResponse) -> str:
        session = request.cookies.get(COOKIE, "")
        if not _SESSION.match(session):
            session = secrets.token_urlsafe(24)
            response.set_cookie(
                COOKIE,
                session,
                max_age=365 * 24 * 3600,
                httponly=True,
                samesite="Lax",
                secure=request.secure,
                path="/chat",
            )
        return session

    def _citizen(self, request: web.Request) -> Citizen | None:
        session = request.cookies.get(COOKIE, "")
        if not _SESSION.match(session):
            return None
        return self.store.find_citizen(NAME, session)

    async def history(self, request: web.Request) -> web.Response:
        """The conversation so far, and the cursor from which to poll for updates."""
        citizen = self._citizen(request)
        if citizen is None:
            return web.json_response({"messages": [], "cursor": 0})
        rows = self.store.messages(citizen.id)
        messages = self._render(citizen, [r for r in rows if r["kind"] != "button"])
        self.store.escalations.shown_in_webchat(citizen.id)
        return web.json_response(
            {"messages": messages[-100:], "cursor": rows[-1]["id"] if rows else 0}
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
        pushed = [r for r in rows if r["direction"] == "out" and r["action"] in PUSHED]
        messages = self._render(citizen, pushed)
        if any(r["action"] == "official" for r in pushed):
            self.store.escalations.shown_in_webchat(citizen.id)
        return web.json_response(
            {"messages": messages, "cursor": rows[-1]["id"] if rows else after}
        )

    def _render(self, citizen: Citizen, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Stored messages as the page shows them, announcements and officials' answers
        rendered as the citizen receives them (with their buttons)."""
        messages: list[dict[str, Any]] = []
        for row in rows:
            if row["action"] == "broadcast" and row["broadcast_id"]:
                broadcast = self.store.broadcasts.get(row["broadcast_id"])
                if broadcast is not None:
                    replies = outgoing(broadcast).as_replies()
                    messages += [{"from": "bot", **reply_json(r)} for r in replies]
                continue
            if row["action"] == "official" and row["text"] is not None:
                ticket = self.store.escalations.ticket_for_message(row["reply_to"])
                replies = self.conversation.official_answer(citizen, ticket or 0, row["text"])
                messages += [{"from": "bot", **reply_json(r)} for r in replies]
            else:
                sender = "citizen" if row["direction"] == "in" else "bot"
                messages.append({"from": sender, "text": row["text"] or "", "buttons": []})
        return messages

    async def message(self, request: web.Request) -> web.Response:
        session = request.cookies.get(COOKIE, "")
        if not _SESSION.match(session):
            return web.json_response({"error": "no chat session: reload the page"}, status=400)
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.json_response({"error": "the body must be JSON"}, status=400)
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
