"""Telegram, with python-telegram-bot's Bot API client: long polling or a webhook.

No update is lost: in polling mode an update is confirmed to Telegram (by the next
getUpdates ``offset``) only after it has been stored (``Conversation.accept``); in
webhook mode it is stored before the 200. Answers are worked out and sent in the
background. Sending respects Telegram's limits: python-telegram-bot's ``AIORateLimiter``
keeps to the global ~30 messages/s and honours 429 ``retry_after``; it does not limit
messages to one private chat, so this adapter spaces them by ``per_chat_interval``,
counted from Telegram's answer to the previous message (a request's trip time varies, so
spacing the starts would let two messages arrive closer than the interval).
Announcements are also spaced at ``broadcast_rate`` right before each attempt, retries
included (``SpacedRateLimiter``): after a 429's pause they resume at that pace, not in a
burst that would earn the next 429.

The officials' group (``telegram.officials_chat_id``): every new escalation is posted
there, masked; a registered official who replies to a post answers that citizen. The bot
needs no admin rights: in privacy mode Telegram still sends it replies to its own posts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import html
import logging
import os
import re
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from bot.channels.background import BackgroundTasks
from bot.channels.text import split_text
from bot.config import TelegramSettings
from bot.core.broadcasting import Pacer
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
from bot.privacy import mask
from bot.store.escalations import AlreadyHandled

if TYPE_CHECKING:
    from bot.core.handover import Handover

log = logging.getLogger(__name__)

NAME = "telegram"
WEBHOOK_PATH = "/webhooks/telegram"
MAX_TEXT = 4000  # Telegram allows 4,096 characters; markup added below needs room
MAX_CALLBACK_DATA = 64
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "poll_answer"]
# Buttons that do their work once: after a tap they are taken off the message, so the
# citizen does not tap them again (votes and subscriptions may be tapped several times).
ONE_TAP = ("helpful:", "rate:", "erase:", "escalate:", "faq:")
MAX_CAPTION = 1024
MAX_POLL_OPTIONS = 10
POLL_TASK = "telegram-poll"
RECONNECT_FIRST = 1.0  # seconds before connecting again after a failure, doubling...
RECONNECT_CAP = 10.0  # ...up to this: back within seconds of Telegram coming back
PACE_MEMORY = 1024  # chats whose last send time is kept before the stale ones are dropped
# True in the task sending an announcement or poll (the rate limiter spaces those).
_BROADCASTING: ContextVar[bool] = ContextVar("telegram_broadcasting", default=False)
_BOLD = re.compile(r"\*([^*\n]+)\*")
_ITALIC = re.compile(r"(?<![\w/])_([^_\n]+)_(?![\w/])")


def _seconds(retry_after: int | timedelta) -> float:
    return float(retry_after if isinstance(retry_after, int) else retry_after.total_seconds())


def to_html(text: str) -> str:
    """The FAQ's light markup (*bold*, _italic_) as Telegram HTML, everything else escaped."""
    escaped = html.escape(text, quote=False)
    return _ITALIC.sub(r"<i>\1</i>", _BOLD.sub(r"<b>\1</b>", escaped))


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    buttons = [b for b in reply.buttons if len(b.payload.encode()) <= MAX_CALLBACK_DATA]
    if len(buttons) < len(reply.buttons):
        log.warning("Telegram: dropped buttons whose data exceeds %d bytes", MAX_CALLBACK_DATA)
    if not buttons:
        return None
    keys = [InlineKeyboardButton(b.label, callback_data=b.payload) for b in buttons]
    if all(len(b.label) <= 12 for b in buttons):  # 👍 / 👎 side by side
        return InlineKeyboardMarkup([keys])
    return InlineKeyboardMarkup([[key] for key in keys])  # "did you mean" options stacked


def _language(user: Any) -> str | None:
    code = (getattr(user, "language_code", None) or "")[:2].lower()
    return code if code in ("id", "en") else None


def _forwarded(message: Message) -> bool:
    """Whether the citizen forwarded this from elsewhere: ``forward_origin`` since Bot API
    7.0; older servers' ``forward_from``/``forward_date`` land in ``api_kwargs``."""
    legacy = ("forward_date", "forward_from", "forward_from_chat", "forward_sender_name")
    return message.forward_origin is not None or any(k in message.api_kwargs for k in legacy)


def parse_update(update: Update) -> Incoming | None:
    """An update as an incoming message; updates a citizen did not send are skipped."""
    query = update.callback_query
    if query is not None and query.message is not None:
        return Incoming(
            NAME,
            str(query.message.chat.id),
            Kind.BUTTON,
            payload=query.data or "",
            message_id=f"callback:{query.id}",
            language=_language(query.from_user),
        )
    message = update.message or update.edited_message
    if message is None or message.chat.type != "private":
        return None  # groups and channels: the officials' group is handled elsewhere
    message_id = str(message.message_id)
    if update.edited_message is not None:
        # The citizen corrected a message: the new wording is a message of its own.
        edited = message.edit_date.timestamp() if message.edit_date else 0
        message_id = f"edit:{message.message_id}:{int(edited)}"
    common = {
        "message_id": message_id,
        "language": _language(message.from_user),
        "forwarded": _forwarded(message),
        "sent_at": message.edit_date or message.date,
    }
    chat = str(message.chat.id)
    if message.text is not None:
        kind = Kind.COMMAND if message.text.startswith("/") else Kind.TEXT
        return Incoming(NAME, chat, kind, text=message.text, **common)  # type: ignore[arg-type]
    kinds = (
        ("photo", Kind.PHOTO),
        ("sticker", Kind.STICKER),
        ("voice", Kind.VOICE),
        ("audio", Kind.VOICE),
        ("video", Kind.VIDEO),
        ("video_note", Kind.VIDEO),
        ("animation", Kind.VIDEO),
        ("location", Kind.LOCATION),
        ("venue", Kind.LOCATION),
        ("document", Kind.FILE),
    )
    kind = next((k for attribute, k in kinds if getattr(message, attribute, None)), Kind.OTHER)
    if message.caption:
        # "ini jalan rusak depan rumah sy" under a photo: the words are the question.
        return Incoming(
            NAME,
            chat,
            Kind.TEXT,
            text=message.caption,
            attachment=kind.value,
            **common,  # type: ignore[arg-type]
        )
    return Incoming(NAME, chat, kind, **common)  # type: ignore[arg-type]


class SpacedRateLimiter(AIORateLimiter):
    """python-telegram-bot's limiter (about 30 messages/s, 20 a minute per group; a 429
    holds every request back for its retry_after, then retries), where announcements
    start at most ``rate`` per second, evenly spaced, before every attempt. The stock
    limiter lets everything a 429 held back go at once when the pause ends: up to
    ``IN_FLIGHT`` messages in a burst, then the broadcast's own pace, which together
    exceed the limit again within the second, so one 429 became a 429 every two seconds
    until the end of the broadcast (29 messages/s fell to about 16 on the emulator)."""

    def __init__(self, rate: float | None, max_retries: int) -> None:
        super().__init__(max_retries=max_retries)
        self.spacing = Pacer(rate)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if _BROADCASTING.get():
            send = callback

            async def callback(*a: Any, **kw: Any) -> Any:
                await self.spacing.wait()
                return await send(*a, **kw)

        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


class TelegramChannel:
    name = NAME

    def __init__(
        self,
        settings: TelegramSettings,
        token: str,
        conversation: Conversation,
        request_class: type[HTTPXRequest] = HTTPXRequest,
        *,
        broadcast_rate: float | None = 25.0,
        handover: Handover | None = None,
    ) -> None:
        self.settings = settings
        self.conversation = conversation
        api = settings.api_url.rstrip("/")
        # Announcements per second (``announcements.messages_per_second``).
        self.broadcast_rate = broadcast_rate
        self._limiter = SpacedRateLimiter(broadcast_rate, max_retries=5)
        self.bot: ExtBot[Any] = ExtBot(
            token,
            base_url=f"{api}/bot",
            base_file_url=f"{api}/file/bot",
            request=request_class(connection_pool_size=16),
            get_updates_request=request_class(read_timeout=settings.poll_timeout + 10),
            rate_limiter=self._limiter,
        )
        # Telegram echoes this in every webhook call. Workers serving one webhook share the
        # one in the environment (`tanya run --workers N` sets one for its workers when
        # none is); a single process may make a fresh one per start, since the webhook is
        # registered again at every start.
        self.webhook_secret = os.environ.get(
            settings.webhook_secret_env, ""
        ).strip() or secrets.token_urlsafe(24)
        self._background = BackgroundTasks(NAME)
        # Answers officials give in the officials' group (None: the group is not served).
        self.handover = handover
        self._last_sent: dict[str, float] = {}
        # One lock per chat, kept only while someone holds or awaits it.
        self._chat_locks: dict[str, asyncio.Lock] = {}
        self._chat_users: Counter[str] = Counter()
        # Whether Telegram answers (getMe, getUpdates); told to whoever listens when it
        # comes back, so that messages held back go out at once.
        self.up = False
        self.detail = "not connected yet"
        self.up_listeners: list[Callable[[str], None]] = []
        self.reply_window: timedelta | None = None  # a bot may write to a chat any time

    def setup(self, app: web.Application) -> None:
        if self.settings.mode == "webhook":
            app.router.add_post(WEBHOOK_PATH, self.webhook)
        app.cleanup_ctx.append(self._lifetime)
        app.on_shutdown.append(self._stop_polling)  # type: ignore[arg-type]

    async def _stop_polling(self, app: web.Application) -> None:
        """aiohttp waits for running tasks on shutdown; the polling loop never ends itself."""
        await self._background.cancel(POLL_TASK)

    async def _lifetime(self, app: web.Application) -> Any:
        # Telegram being away (or the token refused) must not stop the other channels:
        # connecting goes on in the background until it succeeds.
        self._background.spawn(self._connect(), name=POLL_TASK)
        yield
        await self._stop_polling(app)
        await self._background.drain()
        with contextlib.suppress(TelegramError, RuntimeError):
            await self.bot.shutdown()

    def _set_up(self, up: bool, detail: str = "") -> None:
        was = self.up
        self.up, self.detail = up, detail
        if up and not was:
            for listener in self.up_listeners:
                listener(NAME)

    async def _connect(self) -> None:
        """Sign in (getMe) and register the webhook or start polling, retrying until
        Telegram answers; then, in polling mode, poll for as long as the bot runs."""
        delay = RECONNECT_FIRST
        while True:
            try:
                await self.bot.initialize()
                if self.settings.mode == "webhook":
                    url = self.settings.webhook_url.rstrip("/") + WEBHOOK_PATH
                    await self.bot.set_webhook(
                        url, secret_token=self.webhook_secret, allowed_updates=ALLOWED_UPDATES
                    )
                else:
                    await self.bot.delete_webhook()
                break
            except InvalidToken as exc:
                self._set_up(False, f"the bot token was refused: {exc}")
                log.error("Telegram: the bot token was refused; trying again in %.0f s", delay)
            except (TelegramError, OSError) as exc:
                self._set_up(False, f"Telegram is not reachable: {exc}")
                log.warning("Telegram: cannot connect (%s); trying again in %.0f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_CAP)
        log.info("Telegram: signed in as @%s (%s mode)", self.bot.username, self.settings.mode)
        self._set_up(True)
        if self.settings.mode != "webhook":
            await self._poll()

    async def _poll(self) -> None:
        offset: int | None = None
        delay = RECONNECT_FIRST
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    timeout=self.settings.poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                )
                delay = RECONNECT_FIRST
                self._set_up(True)
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except (InvalidToken, Forbidden) as exc:
                self._set_up(False, f"the bot token was refused: {exc}")
                log.error(
                    "Telegram: the bot token was refused (%s); retrying in %.0f s", exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_CAP)
                continue
            except (TelegramError, OSError) as exc:
                if delay > RECONNECT_FIRST:  # one failed poll is a hiccup; two, an outage
                    self._set_up(False, f"Telegram is not reachable: {exc}")
                log.warning("Telegram: getUpdates failed (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_CAP)
                continue
            for update in updates:
                try:
                    self.receive(update)  # stored now; confirmed by the next getUpdates
                except Exception:  # one unreadable update must not stop the others
                    log.exception("Telegram: could not take update %d", update.update_id)
                offset = update.update_id + 1

    def receive(self, update: Update) -> None:
        """Store an update's message and answer it in the background."""
        if update.poll_answer is not None:  # a vote in a poll the bot sent
            answer = update.poll_answer
            self.conversation.native_vote(answer.poll_id, list(answer.option_ids))
            return
        group = self.settings.officials_chat_id
        if group and update.message is not None and update.message.chat.id == group:
            self._background.spawn(self._officials_reply(update.message))
            return
        if update.callback_query is not None:
            self._background.spawn(self._answer_callback(update.callback_query))
        incoming = parse_update(update)
        if incoming is None:
            return
        accepted = self.conversation.accept(incoming)
        if accepted is not None:
            self._background.answer(self.conversation, accepted)

    async def webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), self.webhook_secret.encode()):
            log.warning("Telegram webhook: wrong or missing secret token from %s", request.remote)
            return web.Response(status=403)
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("an update is a JSON object")
            update = Update.de_json(data, self.bot)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            log.warning("Telegram webhook: malformed update from %s", request.remote)
            return web.Response(status=400, text="invalid update")
        self.receive(update)
        return web.Response()

    async def _answer_callback(self, query: CallbackQuery) -> None:
        try:
            await self.bot.answer_callback_query(query.id)
        except TelegramError as exc:  # the button still works; the spinner just lingers
            log.debug("answerCallbackQuery failed: %s", exc)
        message = query.message
        if (query.data or "").startswith(ONE_TAP) and isinstance(message, Message):
            try:
                await self.bot.edit_message_reply_markup(
                    chat_id=message.chat.id, message_id=message.message_id, reply_markup=None
                )
            except TelegramError as exc:  # the buttons stay; a second tap changes nothing
                log.debug("editMessageReplyMarkup failed: %s", exc)

    async def send(
        self, citizen: str, replies: list[Reply], skip: int = 0, *, progress: Progress | None = None
    ) -> Delivery:
        return await self._send(citizen, replies, skip, progress)

    async def deliver_official(
        self,
        citizen: str,
        replies: list[Reply],
        last_inbound: datetime | None,
        skip: int = 0,
        *,
        progress: Progress | None = None,
    ) -> Delivery:
        """Telegram lets a bot write to a private chat at any time, unless it was blocked."""
        return await self._send(citizen, replies, skip, progress)

    @contextlib.asynccontextmanager
    async def _chat_lock(self, chat: str) -> AsyncIterator[None]:
        """One sender at a time per chat, so its messages keep their order. The lock is
        dropped when nobody holds or awaits it: memory does not grow with every chat the
        bot ever wrote to (an announcement writes to every subscriber)."""
        lock = self._chat_locks.get(chat)
        if lock is None:
            lock = self._chat_locks[chat] = asyncio.Lock()
        self._chat_users[chat] += 1
        try:
            async with lock:
                yield
        finally:
            self._chat_users[chat] -= 1
            if not self._chat_users[chat]:
                del self._chat_users[chat], self._chat_locks[chat]

    async def _send(
        self, citizen: str, replies: list[Reply], skip: int = 0, progress: Progress | None = None
    ) -> Delivery:
        """Send every part from the ``skip``-th on, stopping at the first that does not get
        through: its outcome is the result, and ``parts`` counts those that did
        (``progress`` hears of each confirmed part before the next one's pacing wait)."""
        if not self.up:
            return Delivery(DeliveryState.RETRY, self.detail or "Telegram is not connected yet")
        parts = [
            (part, keyboard(reply) if index == len(texts) - 1 else None)
            for reply in replies
            for texts in [split_text(reply.text, MAX_TEXT) or [""]]
            for index, part in enumerate(texts)
        ][skip:]
        async with self._chat_lock(citizen):
            for sent, (part, markup) in enumerate(parts):
                try:
                    async with self._paced(citizen):
                        await self.bot.send_message(
                            chat_id=int(citizen),
                            text=to_html(part),
                            parse_mode=ParseMode.HTML,
                            reply_markup=markup,
                            link_preview_options=LinkPreviewOptions(is_disabled=True),
                        )
                except TelegramError as exc:
                    return dataclasses.replace(self._outcome(citizen, exc), parts=sent)
                if progress is not None and sent + 1 < len(parts):
                    progress(sent + 1)
        return Delivery(DeliveryState.SENT, parts=len(parts))

    def _outcome(self, citizen: str, exc: TelegramError) -> Delivery:
        """A failed request as a delivery outcome: a refusal for good, or a temporary
        failure the outbox tries again (a timeout may hide a message that arrived)."""
        if isinstance(exc, Forbidden):
            log.info("Telegram: chat %s blocked the bot; not delivered", citizen)
            return Delivery(DeliveryState.BLOCKED, "the citizen blocked the bot")
        if isinstance(exc, BadRequest):
            log.error("Telegram: message to chat %s refused: %s", citizen, exc)
            return Delivery(DeliveryState.FAILED, f"Telegram refused it: {exc}")
        if isinstance(exc, RetryAfter):
            return Delivery(
                DeliveryState.RETRY,
                f"Telegram asked to wait: {exc}",
                retry_after=_seconds(exc.retry_after),
            )
        if isinstance(exc, InvalidToken):
            self._set_up(False, f"the bot token was refused: {exc}")
        return Delivery(DeliveryState.RETRY, f"{type(exc).__name__}: {exc}")

    # Announcements and polls

    async def broadcast(
        self, citizen: str, item: Outgoing, last_inbound: datetime | None
    ) -> Delivery:
        """Telegram's own poll for polls (votes come back as poll_answer updates); a photo
        with a caption, or a text, for announcements."""
        spaced = _BROADCASTING.set(True)  # SpacedRateLimiter paces this task's requests
        try:
            return await self._broadcast(citizen, item)
        finally:
            _BROADCASTING.reset(spaced)

    async def _broadcast(self, citizen: str, item: Outgoing) -> Delivery:
        if not self.up:
            return Delivery(DeliveryState.RETRY, self.detail or "Telegram is not connected yet")
        if item.kind == "survey":  # its "start" button needs the inline keyboard
            return await self._send(citizen, item.as_replies())
        text = f"{item.text}\n\n{item.link}" if item.link else item.text
        try:
            # Each branch paces itself: _send (texts) does, per part, and pacing here as
            # well would hold every text announcement for a whole per_chat_interval.
            if item.kind == "poll":
                async with self._chat_lock(citizen), self._paced(citizen):
                    sent = await self.bot.send_poll(
                        chat_id=int(citizen),
                        question=item.text[:300],
                        options=[option[:100] for option in item.options[:MAX_POLL_OPTIONS]],
                        is_anonymous=False,
                        allows_multiple_answers=item.multiple,
                    )
                return Delivery(DeliveryState.SENT, ref=sent.poll.id if sent.poll else None)
            if item.image_url and len(text) <= MAX_CAPTION:
                async with self._chat_lock(citizen), self._paced(citizen):
                    await self.bot.send_photo(
                        chat_id=int(citizen),
                        photo=item.image_url,
                        caption=to_html(text),
                        parse_mode=ParseMode.HTML,
                    )
                return Delivery(DeliveryState.SENT)
        except TelegramError as exc:
            return self._outcome(citizen, exc)
        if item.image_url:
            text = f"{text}\n\n{item.image_url}"
        return await self._send(citizen, [Reply(text)])

    # The officials' group

    def post_escalation(self, ticket: int) -> None:
        """Escalation listener: post the new ticket to the officials' group, masked."""
        if self.settings.officials_chat_id and self.handover is not None:
            self._background.spawn(self._post_escalation(ticket))

    async def _post_escalation(self, ticket: int) -> None:
        assert self.handover is not None
        store = self.handover.store
        row = store.escalations.get(ticket)
        if row is None:
            return
        text = (
            f"🆕 <b>#{ticket}</b> · {html.escape(row.channel)} · {html.escape(row.reason)}\n"
            f"{html.escape(mask(row.question or ''))}\n\n"
            "<i>Balas pesan ini untuk menjawab warga. / Reply to this message to answer.</i>"
        )
        try:
            posted = await self.bot.send_message(
                chat_id=self.settings.officials_chat_id, text=text, parse_mode=ParseMode.HTML
            )
        except TelegramError as exc:
            log.error(
                "Telegram: could not post ticket #%d to the officials' group: %s", ticket, exc
            )
            return
        store.escalations.set_group_post(ticket, posted.message_id)

    async def _officials_reply(self, message: Message) -> None:
        """An official replied to a ticket's post in the group: that is the answer."""
        if self.handover is None or message.reply_to_message is None or not message.text:
            return
        store = self.handover.store
        row = store.escalations.by_group_post(message.reply_to_message.message_id)
        if row is None:
            return  # a reply to something else: group chatter
        user = message.from_user
        official = store.officials.by_telegram_user(user.id) if user else None
        if official is None:
            log.warning(
                "Telegram: ignored a reply to ticket #%d from %s, who is not a registered official",
                row.id,
                user.id if user else "an unknown sender",
            )
            store.officials.audit(
                None, "refused", f"ticket #{row.id}", f"Telegram user {user.id if user else '?'}"
            )
            return
        try:
            delivery = await self.handover.answer(row.id, official, message.text)
            note = f"✅ #{row.id}: {delivery.state.value}"
            if delivery.detail:
                note += f" ({delivery.detail})"
        except AlreadyHandled:
            note = f"⚠️ #{row.id}: sudah ditangani / already handled"
        try:
            await self.bot.send_message(
                chat_id=message.chat.id, text=note, reply_to_message_id=message.message_id
            )
        except TelegramError as exc:
            log.debug("Telegram: could not confirm in the officials' group: %s", exc)

    @contextlib.asynccontextmanager
    async def _paced(self, chat: str) -> AsyncIterator[None]:
        """One request to ``chat``, a whole interval after the previous one was answered.

        The caller holds the chat's lock, so no other request to the chat starts between
        the wait and the send."""
        wait = self._last_sent.get(chat, 0.0) + self.settings.per_chat_interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            yield
        finally:  # a refused or failed request counts too: Telegram may have seen it
            now = time.monotonic()
            self._last_sent[chat] = now
            if len(self._last_sent) > PACE_MEMORY:  # forget chats whose interval is over
                cutoff = now - self.settings.per_chat_interval
                self._last_sent = {c: t for c, t in self._last_sent.items() if t > cutoff}
