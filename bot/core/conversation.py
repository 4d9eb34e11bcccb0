"""The conversation with one citizen: store first, then decide, reply, and escalate.

Channels hand in a platform-neutral :class:`~bot.core.messages.Incoming` and render the
:class:`~bot.core.messages.Reply` list they get back: :meth:`Conversation.handle` when the
reply goes back in the same request (the web chat), or :meth:`~Conversation.accept` and
:meth:`~Conversation.answer` when the platform wants a quick acknowledgement. The order
matters: the incoming message is stored before anything else; its reply is stored and
queued in the outbox in one transaction (``bot.core.dispatch`` sends it until the platform
confirms it), so a crash before that leaves the message in
:meth:`~bot.store.Store.unanswered` for the next start, and a crash after it leaves the
reply queued (its escalation ticket, if any, is kept). A redelivered message (same
platform message id) gets no second reply.

Button payloads (the channel echoes them back in ``Incoming.payload``):

``faq:<entry id>``            the citizen picked an entry offered by "did you mean"
``helpful:<message id>:yes``  feedback on an answer (``:no`` offers an official)
``escalate:<message id>``     pass that question to an official
``rate:<ticket>:<1-5>``       the citizen's rating of an official's answer
``sub:<topic>``, ``unsub:<topic>|*``  follow or stop following a topic's announcements
``erase:yes|no``              the answer to /hapusdata's confirmation
``vote:<poll>:<option>``      a vote in a poll sent as buttons
``survey:<id>:...``           a survey's answers (see ``bot.core.survey_flow``)
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from rapidfuzz import fuzz

from bot.core.answerer import render_answer
from bot.core.decision import Action, Decision, EscalationReason
from bot.core.dispatch import Dispatcher
from bot.core.emoji import emoji_reply
from bot.core.followups import same_need
from bot.core.language import ChosenLanguage
from bot.core.messages import READABLE, Button, Incoming, Kind, Reply, clean, replies_to_json
from bot.core.payloads import number, numbers
from bot.core.replies import Replies
from bot.core.rumours import signs
from bot.core.survey_flow import SurveyFlow
from bot.faq.model import Faq
from bot.store.clock import iso
from bot.store.leases import worker_name
from bot.store.store import AlreadyAnswered, Citizen, Store

log = logging.getLogger(__name__)

Decide = Callable[[str, str | None], Awaitable[Decision]]
# Told the ticket number of every new escalation (e.g. to post it to the officials' group).
EscalationListener = Callable[[int], None]
RATINGS = ("1", "2", "3", "4", "5")
# Working out a reply that raises is tried this many times, then set aside for officials.
MAX_ANSWER_ATTEMPTS = 3
ANSWER_RETRY_DELAYS = (1.0, 5.0)
# Several workers: how often one of them looks for messages a dead worker left
# unanswered (those of a worker whose heartbeat stopped, bot.store.liveness), and how old
# a message must be to count as left whoever stored it (a live worker answers within
# seconds; one that was only slow loses nothing: the store keeps one reply).
LEFT_BEHIND_EVERY = 5.0
LEFT_BEHIND_AFTER = 60.0
KINDS = frozenset(Kind)
# How alike (0-100) a word of /langganan's must be to a word of a topic's name.
TOPIC_MATCH = 80
TOPIC_FILLER = frozenset({"dan", "and", "the", "of", "umum", "general"})
_TOPIC_WORD = re.compile(r"[^\W_]+")
# The intent recorded on an answer the citizen picked from "did you mean" (one tap).
CHOSEN = "chosen"
# The model's best guess must be at least this likely to file an escalation under its topic.
TOPIC_CONFIDENCE = 0.2

COMMANDS = {
    "start": "start",
    "mulai": "start",
    "help": "help",
    "bantuan": "help",
    "bahasa": "language",
    "language": "language",
    "petugas": "human",
    "human": "human",
    "langganan": "subscribe",
    "subscribe": "subscribe",
    "berhenti": "unsubscribe",
    "unsubscribe": "unsubscribe",
    "stop": "unsubscribe",
    "hapusdata": "erase",
    "deletedata": "erase",
    "survei": "survey",
    "survey": "survey",
}
# Reasons an official may give for closing a ticket that the citizen is told about.
CLOSE_NOTICES = frozenset({"duplicate", "elsewhere", "out_of_scope"})
# Escalations for these reasons carry nothing an official could answer.
NOT_FOR_OFFICIALS = frozenset(
    {EscalationReason.EMPTY, EscalationReason.UNSUPPORTED, EscalationReason.UNCLEAR}
)
# Citizens whose last reply offered numbered choices, kept in memory (after a restart a
# typed number is read as a question again): at most this many.
MAX_PENDING_CHOICES = 10_000


@dataclass(frozen=True)
class Accepted:
    """An incoming message as stored, waiting for its replies."""

    citizen: Citizen
    message_id: int
    message: Incoming
    received: datetime = field(default_factory=lambda: datetime.now(UTC))


class Conversation:
    def __init__(
        self,
        store: Store,
        decide: Decide,
        replies: Replies,
        faq: Faq,
        languages: tuple[str, ...] = ("id", "en"),
        dispatcher: Dispatcher | None = None,
        answer_hours: float = 8,
        announcement_topics: Mapping[str, Mapping[str, str]] | None = None,
        worker: str | None = None,
    ) -> None:
        """``worker``: this process's claimant name, recorded on the messages it stores
        (should it die before answering, another worker answers them at once)."""
        self.store = store
        self.worker = worker or (dispatcher.worker if dispatcher is not None else worker_name())
        # How soon officials answer (desk.sla_hours): citizens are told what to expect.
        self.answer_hours = answer_hours
        self.decide = decide
        self.dispatcher = dispatcher
        self.replies = replies
        self.faq = faq
        self.languages = languages
        self.escalation_listeners: list[EscalationListener] = []
        # Topics citizens may follow besides the FAQ's: slug -> {language: title}.
        self.announcement_topics: dict[str, dict[str, str]] = {
            slug: dict(titles) for slug, titles in (announcement_topics or {}).items()
        }
        self._erase_after_delivery: set[int] = set()
        # Message id -> the language it showed, when that is not the citizen's recorded
        # one: recorded with the reply, in the statement that stores it (one less per
        # message), or on its own when working out the reply fails.
        self._language_shown: dict[int, str] = {}
        # Citizen id -> the payloads of the choices last offered, numbered, oldest first.
        self._choices: dict[int, tuple[str, ...]] = {}
        self.surveys = SurveyFlow(store, self._text)

    def accept(self, message: Incoming) -> Accepted | None:
        """Store an incoming message; ``None`` for a redelivery of one already stored, or
        for a platform's redelivery of what a citizen sent before erasing their data.

        Channels whose platform wants a quick acknowledgement (Messenger) call this before
        acknowledging, and :meth:`answer` afterwards.
        """
        message = clean(message)
        text = (message.payload if message.kind is Kind.BUTTON else message.text) or ""
        # Tagged as it is stored, so the desk's rumour list needs no second pass.
        rumour = signs(message.text if message.kind is Kind.TEXT else "", message.forwarded)
        kind, attachment = message.kind.value, message.attachment
        # Someone known (most messages): one statement on PostgreSQL. Else first the check
        # that an erased citizen's old message does not bring them back, then their row.
        known = self.store.save_incoming_if_known(
            message.channel,
            message.citizen,
            message.message_id,
            kind,
            text,
            rumour=rumour,
            attachment=attachment,
            received_by=self.worker,
        )
        if known is not None:
            citizen, saved = known
        else:
            if self._erased_before(message):
                return None
            hint = message.language if message.language in self.languages else None
            citizen = self.store.citizen(message.channel, message.citizen, language=hint)
            saved = self.store.save_incoming(
                citizen.id,
                message.message_id,
                kind,
                text,
                rumour=rumour,
                attachment=attachment,
                received_by=self.worker,
            )
        if not saved.is_new:
            return None
        if saved.officials_waiting:
            self._send_what_waited(citizen)
        return Accepted(citizen, saved.id, message)

    def _send_what_waited(self, citizen: Citizen) -> None:
        """The citizen wrote: a platform that only lets a bot answer within a window after
        the citizen's message (Messenger) allows it again, so officials' answers that
        could not be delivered before go out now."""
        if self.dispatcher is None:
            return
        for item in self.store.outbox.reopen_officials(citizen.id):
            self.dispatcher.submit(item, citizen.id)

    def _erased_before(self, message: Incoming) -> bool:
        """Whether the citizen erased their data after sending this: a platform that
        redelivers an old webhook must not bring them back. A button has no sending time
        of its own: from an erased citizen who has not written since, it is dropped."""
        erased = self.store.erased(message.channel, message.citizen)
        if erased is None or self.store.find_citizen(message.channel, message.citizen):
            return False
        if message.sent_at is None:
            return message.kind is Kind.BUTTON
        return message.sent_at.isoformat() <= erased

    async def answer(self, accepted: Accepted) -> bool:
        """Work out the replies to a stored message and queue them in the outbox, for
        channels that acknowledged the message first. A failure is retried a few times,
        then the message is set aside (``failed``, shown to officials) so that one message
        can never block the others or the bot's start. True when the reply was queued."""
        delays = iter(ANSWER_RETRY_DELAYS)
        while True:
            try:
                return self._queue(accepted, *(await self._respond_to(accepted)))
            except Exception as exc:
                log.exception("could not answer message %d", accepted.message_id)
                self._record_language(accepted)
                if self.store.answer_failed(
                    accepted.message_id, f"{type(exc).__name__}: {exc}", MAX_ANSWER_ATTEMPTS
                ):
                    return False
                await asyncio.sleep(next(delays, ANSWER_RETRY_DELAYS[-1]))

    def _record_language(self, accepted: Accepted) -> None:
        """The language the message showed, on its own: no reply records it."""
        language = self._language_shown.pop(accepted.message_id, None)
        if language is not None:
            self.store.set_language(accepted.citizen.id, language)

    async def _respond_to(self, accepted: Accepted) -> tuple[list[Reply], Decision | None]:
        return await self._respond(accepted.citizen, accepted.message_id, accepted.message)

    def _queue(self, accepted: Accepted, replies: list[Reply], decision: Decision | None) -> bool:
        """Queue the reply; False when another worker's reply to it is queued already."""
        if self.dispatcher is None:
            raise RuntimeError("no outbox: this conversation only answers in the request")
        erase = accepted.message_id in self._erase_after_delivery
        self._erase_after_delivery.discard(accepted.message_id)
        language = self._language_shown.pop(accepted.message_id, None)
        try:
            item = self.store.queue_reply(
                accepted.message_id,
                accepted.citizen.id,
                "\n\n".join(r.text for r in replies),
                decision,
                replies_to_json(replies),
                give_up_at=self.dispatcher.give_up_at(accepted.citizen.channel, accepted.received),
                then_erase=erase,
                language=language,
            )
        except AlreadyAnswered:  # another worker's reply is queued: the citizen gets one
            log.info("message %d was answered by another worker", accepted.message_id)
            return False
        self.dispatcher.submit(item, accepted.citizen.id)
        return True

    async def handle(self, message: Incoming) -> list[Reply]:
        """Store, answer and store the answer, for channels that reply in the same request
        (the replies count as delivered); a redelivered message gets no second reply. A
        failure gives the citizen an apology instead of an error page."""
        accepted = self.accept(message)
        if accepted is None:
            return []
        try:
            replies, decision = await self._respond_to(accepted)
        except Exception as exc:
            log.exception("could not answer message %d", accepted.message_id)
            self._record_language(accepted)
            self.store.answer_failed(
                accepted.message_id, f"{type(exc).__name__}: {exc}", MAX_ANSWER_ATTEMPTS
            )
            return [Reply(self._text("utter_error", accepted.citizen))]
        try:
            self.store.save_reply(
                accepted.message_id,
                accepted.citizen.id,
                "\n\n".join(r.text for r in replies),
                decision,
                buttons=replies_to_json(replies[-1:]) if replies and replies[-1].buttons else None,
                language=self._language_shown.pop(accepted.message_id, None),
            )
        except AlreadyAnswered:
            # Another worker's reply is stored and queued: the page shows that one when it
            # next asks; showing this one too would answer the citizen twice.
            log.info("message %d was answered by another worker", accepted.message_id)
            self._erase_after_delivery.discard(accepted.message_id)
            return []
        if accepted.message_id in self._erase_after_delivery:
            # /hapusdata confirmed: the confirmation goes back now, and nothing is kept.
            self._erase_after_delivery.discard(accepted.message_id)
            self.store.erase_citizen(accepted.citizen.id)
        return replies

    async def answer_left_behind(
        self,
        worker: str | None = None,
        every: float = LEFT_BEHIND_EVERY,
        after: float = LEFT_BEHIND_AFTER,
    ) -> None:
        """With several workers on one database: every ``every`` seconds one worker of
        all (``Jobs``, job "left-behind") answers the messages still unanswered that a
        worker that died left: those it stored (its heartbeat stopped), and any stored
        over ``after`` seconds ago. Runs until cancelled."""
        worker = worker or self.worker
        while True:
            try:
                if self.store.jobs.take_every("left-behind", worker, every):
                    before = iso(datetime.now(UTC) - timedelta(seconds=after))
                    answered = await self.answer_pending(before)
                    if answered:
                        log.info("answered %d message(s) another worker left", answered)
            except Exception:  # e.g. the database: logged, tried again at the next turn
                log.exception("answering messages left by other workers failed")
            await asyncio.sleep(every)

    async def answer_pending(self, before: str | None = None) -> int:
        """Answer messages stored but never answered (the process stopped in between;
        ``before``: only those stored before then); the outbox sends the replies.
        Returns how many got a reply queued."""
        count = 0
        for row in self.store.unanswered(before):
            citizen = row.citizen
            message = Incoming(
                channel=citizen.channel,
                citizen=citizen.platform_id,
                kind=Kind(row.kind) if row.kind in KINDS else Kind.OTHER,
                text=row.text or "",
                payload=row.text if row.kind == Kind.BUTTON else None,
            )
            received = datetime.fromisoformat(row.created_at)
            if await self.answer(Accepted(citizen, row.id, message, received)):
                count += 1
        return count

    def language_of(self, citizen: Citizen) -> str:
        return citizen.language or self.languages[0]

    def _text(self, name: str, citizen: Citizen, **values: object) -> str:
        text = self.replies.text(name, self.language_of(citizen))
        return text.format(**values) if values else text

    async def _respond(
        self, citizen: Citizen, message_id: int, message: Incoming
    ) -> tuple[list[Reply], Decision | None]:
        if message.kind not in READABLE:
            return [Reply(self._text("utter_unsupported_media", citizen))], None
        if message.kind is Kind.COMMAND:
            return await self._command(citizen, message_id, message.text)
        if message.kind is Kind.BUTTON:
            return await self._button(citizen, message_id, message.payload or "")
        if (emoji := emoji_reply(message.text)) is not None:
            return [Reply(self._text(emoji, citizen))], None
        if (answered := self.surveys.typed(citizen, message.text)) is not None:
            return answered, None
        return await self._question(citizen, message_id, message.text)

    async def _question(
        self, citizen: Citizen, message_id: int, text: str
    ) -> tuple[list[Reply], Decision | None]:
        offered = self._choices.pop(citizen.id, ())
        picked = number(text.strip().rstrip(".)"))  # ASCII digits only: "²" is not 2
        if picked is not None and 1 <= picked <= len(offered):
            # "2" after numbered choices: the second choice, as if its button was tapped.
            return await self._button(citizen, message_id, offered[picked - 1])
        hint = citizen.language
        if citizen.language_chosen and hint is not None:
            hint = ChosenLanguage(hint)
        decision = await self.decide(text, hint)
        if decision.language != citizen.language:
            self._language_shown[message_id] = decision.language
            citizen = replace(citizen, language=decision.language)
        if decision.action is Action.ANSWER:
            # One message: the answer, then "was this helpful?" with its buttons under it.
            # A second message would halve how many citizens Telegram's limits (about 30
            # messages/s per bot, 1 per second per chat) let the bot answer.
            prompt = self._text("utter_feedback_prompt", citizen)
            buttons = self._feedback_buttons(citizen, message_id)
            return [Reply(f"{decision.reply}\n\n{prompt}", buttons)], decision
        if decision.action is Action.CLARIFY:
            self._remember_choices(citizen, tuple(f"faq:{o.faq_id}" for o in decision.options))
            buttons = tuple(Button(o.label, f"faq:{o.faq_id}") for o in decision.options)
            # None of them: the question goes to an official, as if the bot had not known.
            official = Button(
                self._text("utter_button_ask_official", citizen), f"escalate:{message_id}"
            )
            return [Reply(decision.reply, (*buttons, official))], decision
        if decision.action is Action.ESCALATE:
            target = message_id
            if decision.reason is EscalationReason.ASKED_HUMAN:
                # "I want to talk to an official": the question is what they asked before.
                target = self.store.last_question(citizen.id, message_id) or message_id
            reply = self._escalate(
                citizen, target, decision.reply, decision.reason, self._topic(decision)
            )
            return [reply], decision
        return [Reply(decision.reply)], decision

    def _topic(self, decision: Decision) -> str | None:
        """The topic of the model's best guess: officials filter their inbox by it."""
        if not decision.candidates or decision.candidates[0].confidence < TOPIC_CONFIDENCE:
            return None  # a wild guess would only mislead the filter
        entry = self.faq.get(decision.candidates[0].faq_id)
        return entry.topic if entry else None

    def _escalate(
        self,
        citizen: Citizen,
        message_id: int,
        text: str,
        reason: EscalationReason | None,
        topic: str | None = None,
    ) -> Reply:
        if reason in NOT_FOR_OFFICIALS:
            return Reply(text)
        joined = self._joins_open_ticket(citizen, message_id)
        if joined is not None:
            # One open ticket per need, as a helpline keeps one case: chasing it ("halo?
            # ada yang baca?") or adding to it joins it instead of opening a second one.
            follow = self._text("utter_ticket_follow_up", citizen, ticket=joined)
            return Reply(f"{follow}\n\n{self._expectation(citizen)}")
        ticket, opened = self.store.open_escalation(
            citizen.id, message_id, (reason or EscalationReason.ASKED_HUMAN).value, topic
        )
        if opened:
            for listener in self.escalation_listeners:
                try:
                    listener(ticket)
                except Exception:  # a failing notification must not cost the citizen a reply
                    log.exception("escalation listener failed for ticket %d", ticket)
        ticket_line = self._text("utter_ticket", citizen, ticket=ticket)
        return Reply(f"{text}\n\n{ticket_line} {self._expectation(citizen)}")

    def _joins_open_ticket(self, citizen: Citizen, message_id: int) -> int | None:
        """The citizen's open ticket this message belongs to, after adding it there."""
        escalations = self.store.escalations
        if escalations.ticket_for_message(message_id) is not None:
            return None  # this message has its ticket (asked again, or after a restart)
        ticket = escalations.open_for_citizen(citizen.id)
        row = escalations.get(ticket) if ticket is not None else None
        if row is None:
            return None
        if not same_need(self.store.text_of(message_id) or "", row.question or ""):
            return None
        escalations.add_follow_up(row.id, message_id)
        return row.id

    def _expectation(self, citizen: Citizen) -> str:
        """When to expect an official's answer (desk.sla_hours)."""
        hours = self.answer_hours
        shown = str(int(hours)) if float(hours).is_integer() else f"{hours:g}"
        return self._text("utter_ticket_expectation", citizen, hours=shown)

    def closed_notice(
        self, citizen: Citizen, ticket: int, reason: str, note: str = ""
    ) -> list[Reply] | None:
        """What the citizen is told when an official closes their ticket without an
        answer, in their language; ``None`` for spam (nothing to tell)."""
        if reason == "spam":
            return None
        key = reason if reason in CLOSE_NOTICES else "other"
        text = self._text(f"utter_closed.{key}", citizen, ticket=ticket)
        if note:
            text += "\n\n" + self._text("utter_closed_note", citizen, note=note)
        return [Reply(text)]

    def official_answer(self, citizen: Citizen, ticket: int, answer: str) -> list[Reply]:
        """An official's answer as the citizen sees it, with buttons to rate it 1-5."""
        rate = tuple(Button(n, f"rate:{ticket}:{n}") for n in RATINGS)
        return [
            Reply(self._text("utter_official_answer", citizen, ticket=ticket, answer=answer)),
            Reply(self._text("utter_rate_prompt", citizen), rate),
        ]

    def _feedback_buttons(self, citizen: Citizen, message_id: int) -> tuple[Button, ...]:
        return (
            Button(self._text("utter_button_helpful", citizen), f"helpful:{message_id}:yes"),
            Button(self._text("utter_button_not_helpful", citizen), f"helpful:{message_id}:no"),
        )

    async def _command(
        self, citizen: Citizen, message_id: int, text: str
    ) -> tuple[list[Reply], Decision | None]:
        words = text.lstrip("/").split()
        name = words[0].split("@")[0].casefold() if words else ""
        command = COMMANDS.get(name)
        if command == "language":
            wanted = words[1].casefold() if len(words) > 1 else None
            if wanted not in self.languages:
                current = self.language_of(citizen)
                wanted = next((lang for lang in self.languages if lang != current), current)
            self.store.set_language(citizen.id, wanted, chosen=True)
            citizen = replace(citizen, language=wanted, language_chosen=True)
            return [Reply(self._text("utter_language_set", citizen))], None
        if command == "human":
            # The official needs the question, not "/petugas": escalate the citizen's last
            # question (the same ticket when it is already with an official).
            question = self.store.last_question(citizen.id, message_id)
            reply = self._escalate(
                citizen,
                question or message_id,
                self._text("utter_escalate.asked_human", citizen),
                EscalationReason.ASKED_HUMAN,
            )
            return [reply], None
        if command == "start":
            if len(words) > 1:  # a campaign link: t.me/<bot>?start=<campaign>
                self.store.record_campaign(citizen.id, words[1])
            return [Reply(self._text("utter_start", citizen))], None
        if command == "subscribe":
            return [self._subscribe(citizen, " ".join(words[1:]))], None
        if command == "unsubscribe":
            return [self._unsubscribe(citizen, " ".join(words[1:]))], None
        if command == "survey":
            return self.surveys.resume(citizen), None
        if command == "erase":
            buttons = (
                Button(self._text("utter_button_erase_yes", citizen), "erase:yes"),
                Button(self._text("utter_button_erase_no", citizen), "erase:no"),
            )
            return [Reply(self._text("utter_erase_confirm", citizen), buttons)], None
        if command == "help":
            return [Reply(self._text("utter_chat.help", citizen))], None
        # An unknown command is read as a question ("/vaksin" -> "vaksin").
        return await self._question(citizen, message_id, " ".join(words))

    def _owns(self, citizen: Citizen, message_id: int | None) -> bool:
        return message_id is not None and self.store.owner_of(message_id) == citizen.id

    def _remember_choices(self, citizen: Citizen, payloads: tuple[str, ...]) -> None:
        """A typed "2" after numbered choices presses the second (until the next message)."""
        self._choices[citizen.id] = payloads
        while len(self._choices) > MAX_PENDING_CHOICES:
            self._choices.pop(next(iter(self._choices)))

    def _numbered(self, citizen: Citizen, text: str, buttons: tuple[Button, ...]) -> Reply:
        """Choices listed in the text, numbered, as well as buttons: every channel shows
        them whole (a Messenger quick reply shows 20 characters, and 13 at most), and the
        citizen may answer with the number."""
        lines = [f"{n}. {button.label}" for n, button in enumerate(buttons, start=1)]
        self._remember_choices(citizen, tuple(b.payload for b in buttons))
        return Reply("\n".join([text, *lines]), buttons)

    # Subscriptions

    def topic_titles(self) -> dict[str, dict[str, str]]:
        """Every topic a citizen may follow: announcement topics, then the FAQ's."""
        titles = dict(self.announcement_topics)
        for topic in self.faq.topics:
            titles.setdefault(topic.slug, dict(topic.titles))
        return titles

    def _title(self, slug: str, citizen: Citizen) -> str:
        titles = self.topic_titles().get(slug) or {}
        language = self.language_of(citizen)
        return titles.get(language) or next(iter(titles.values()), slug)

    def _find_topic(self, wanted: str, citizen: Citizen) -> str | None:
        """The topic a citizen means: its slug or title, or a word of it in any language
        ("/langganan banjir" for "Banjir dan Bencana"), allowing a typo."""
        wanted = wanted.strip().casefold()
        if not wanted:
            return None
        titles = self.topic_titles()
        for slug in titles:
            if wanted in (slug, self._title(slug, citizen).casefold()):
                return slug
        scores: dict[str, float] = {}
        for slug, by_language in titles.items():
            words = {w for t in (slug, *by_language.values()) for w in _TOPIC_WORD.findall(t)}
            words = {w.casefold() for w in words if w.casefold() not in TOPIC_FILLER}
            asked = [w for w in _TOPIC_WORD.findall(wanted) if w not in TOPIC_FILLER]
            if asked and words:
                scores[slug] = min(
                    max(fuzz.ratio(word, known) for known in words) for word in asked
                )
        best = sorted(scores.items(), key=lambda item: -item[1])
        if best and best[0][1] >= TOPIC_MATCH and (len(best) == 1 or best[1][1] < best[0][1]):
            return best[0][0]
        return None

    def _subscribe(self, citizen: Citizen, wanted: str) -> Reply:
        if wanted:
            slug = self._find_topic(wanted, citizen)
            if slug is None:
                return Reply(self._text("utter_unknown_topic", citizen))
            key = (
                "utter_subscribed"
                if self.store.subscriptions.subscribe(citizen.id, slug)
                else "utter_already_subscribed"
            )
            return Reply(self._text(key, citizen, topic=self._title(slug, citizen)))
        mine = self.store.subscriptions.topics_of(citizen.id)
        current = (
            self._text(
                "utter_subscriptions_now",
                citizen,
                topics=", ".join(self._title(s, citizen) for s in mine),
            )
            if mine
            else ""
        )
        buttons = tuple(
            Button(self._title(slug, citizen), f"sub:{slug}")
            for slug in self.topic_titles()
            if slug not in mine
        )
        return self._numbered(
            citizen, self._text("utter_subscribe_pick", citizen, current=current), buttons
        )

    def _unsubscribe(self, citizen: Citizen, wanted: str) -> Reply:
        mine = self.store.subscriptions.topics_of(citizen.id)
        if not mine:
            return Reply(self._text("utter_no_subscriptions", citizen))
        if wanted.strip().casefold() in ("semua", "all", "*"):
            self.store.subscriptions.unsubscribe(citizen.id)
            return Reply(self._text("utter_unsubscribed_all", citizen))
        if wanted:
            slug = self._find_topic(wanted, citizen)
            if slug is None or slug not in mine:
                return Reply(self._text("utter_unknown_topic", citizen))
            self.store.subscriptions.unsubscribe(citizen.id, slug)
            return Reply(
                self._text("utter_unsubscribed", citizen, topic=self._title(slug, citizen))
            )
        buttons = tuple(Button(self._title(s, citizen), f"unsub:{s}") for s in mine)
        everything = Button(self._text("utter_button_all_topics", citizen), "unsub:*")
        return self._numbered(
            citizen, self._text("utter_unsubscribe_pick", citizen), (*buttons, everything)
        )

    def _offer_subscription(self, citizen: Citizen, answered_message: int) -> tuple[Button, ...]:
        """After a helpful answer, offer its topic's announcements, once per topic."""
        entry = self.faq.get(self.store.faq_id_of(answered_message) or "")
        if entry is None or entry.topic in self.store.subscriptions.topics_of(citizen.id):
            return ()
        if not self.store.subscriptions.offer_once(citizen.id, entry.topic):
            return ()
        label = self._text(
            "utter_button_subscribe_offer", citizen, topic=self._title(entry.topic, citizen)
        )
        return (Button(label, f"sub:{entry.topic}"),)

    def native_vote(self, platform_ref: str, options: list[int]) -> bool:
        """A vote cast in a platform's own poll (Telegram); an empty list retracts it."""
        found = self.store.broadcasts.by_platform_ref(platform_ref)
        if found is None:
            return False
        return self.store.broadcasts.vote(found[0], found[1], options)

    def _vote(self, citizen: Citizen, rest: str) -> Reply:
        parsed = numbers(rest, 2)
        if parsed is None:
            return Reply(self._text("utter_button_unknown", citizen))
        poll_id, choice = parsed
        broadcasts = self.store.broadcasts
        poll = broadcasts.get(poll_id)
        if poll is None or poll.kind != "poll" or not broadcasts.received(poll.id, citizen.id):
            return Reply(self._text("utter_button_unknown", citizen))
        chosen = {choice}
        if poll.multiple:  # a button press toggles that option
            chosen = set(broadcasts.choices(poll.id, citizen.id)) ^ {choice}
        if not broadcasts.vote(poll.id, citizen.id, sorted(chosen)):
            return Reply(self._text("utter_poll_closed", citizen))
        names = ", ".join(poll.options[i] for i in sorted(chosen)) or "-"
        return Reply(self._text("utter_vote_thanks", citizen, choice=names))

    async def _button(
        self, citizen: Citizen, message_id: int, payload: str
    ) -> tuple[list[Reply], Decision | None]:
        kind, _, rest = payload.partition(":")
        if kind == "sub" and rest:
            return [self._subscribe(citizen, rest)], None
        if kind == "unsub" and rest:
            return [self._unsubscribe(citizen, rest)], None
        if kind == "vote":
            return [self._vote(citizen, rest)], None
        if kind == "survey":
            return self.surveys.button(citizen, rest), None
        if kind == "erase" and rest in ("yes", "no"):
            if rest == "no":
                return [Reply(self._text("utter_erase_cancelled", citizen))], None
            self._erase_after_delivery.add(message_id)
            return [Reply(self._text("utter_erase_done", citizen))], None
        if kind == "faq" and (entry := self.faq.get(rest)) is not None:
            # A choice from "did you mean": answered, and rated like any answer.
            language = entry.answer_language(self.language_of(citizen), self.languages)
            prompt = self._text("utter_feedback_prompt", citizen)
            buttons = self._feedback_buttons(citizen, message_id)
            decision = Decision(
                text=rest,
                action=Action.ANSWER,
                language=language,
                reply=render_answer(entry, language),
                confidence=1.0,
                faq_id=entry.id,
                intent=CHOSEN,
            )
            return [Reply(f"{decision.reply}\n\n{prompt}", buttons)], decision
        if kind == "helpful":
            target_text, _, verdict = rest.partition(":")
            target = number(target_text)
            # A payload names a message: only its own citizen may rate or escalate it.
            if target is not None and verdict in ("yes", "no") and self._owns(citizen, target):
                first = self.store.save_feedback(target, helpful=verdict == "yes")
                if verdict == "yes":
                    follow = self._offer_subscription(citizen, target) if first else ()
                    return [Reply(self._text("utter_feedback_thanks", citizen), follow)], None
                official = Button(
                    self._text("utter_button_ask_official", citizen), f"escalate:{target}"
                )
                return [Reply(self._text("utter_feedback_sorry", citizen), (official,))], None
        if kind == "rate":
            ticket_text, _, rating = rest.partition(":")
            ticket = number(ticket_text)
            if (
                ticket is not None
                and rating in RATINGS
                and self.store.escalations.rate(ticket, citizen.id, int(rating))
            ):
                return [Reply(self._text("utter_rating_thanks", citizen))], None
        if kind == "escalate" and self._owns(citizen, escalated := number(rest)):
            assert escalated is not None
            reply = self._escalate(
                citizen,
                escalated,
                self._text("utter_escalate.asked_human", citizen),
                EscalationReason.ASKED_HUMAN,
            )
            return [reply], None
        return [Reply(self._text("utter_button_unknown", citizen))], None
