"""The conversation with one citizen: store first, then decide, reply, and escalate.

Channels hand in a platform-neutral :class:`~bot.core.messages.Incoming` and render the
:class:`~bot.core.messages.Reply` list they get back: :meth:`Conversation.handle` when the
reply goes back in the same request, or :meth:`~Conversation.accept`,
:meth:`~Conversation.respond` and :meth:`~Conversation.delivered` when the platform wants
a quick acknowledgement. The order matters: the incoming message is stored before
anything else and marked answered only once its reply was delivered, so a crash anywhere
in between leaves it in :meth:`~bot.store.Store.unanswered` for the next start (its
escalation ticket, if any, is kept). A redelivered message (same platform message id) gets
no second reply.

Button payloads (the channel echoes them back in ``Incoming.payload``):

``faq:<entry id>``            the citizen picked an entry offered by "did you mean"
``helpful:<message id>:yes``  feedback on an answer (``:no`` offers an official)
``escalate:<message id>``     pass that question to an official
``rate:<ticket>:<1-5>``       the citizen's rating of an official's answer
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core.answerer import render_answer
from bot.core.decision import Action, Decision, EscalationReason
from bot.core.messages import READABLE, Button, Incoming, Kind, Reply
from bot.core.replies import Replies
from bot.faq.model import Faq
from bot.store.store import Citizen, Store

log = logging.getLogger(__name__)

Decide = Callable[[str, str | None], Awaitable[Decision]]
# Told the ticket number of every new escalation (e.g. to post it to the officials' group).
EscalationListener = Callable[[int], None]
RATINGS = ("1", "2", "3", "4", "5")

COMMANDS = {
    "start": "start",
    "mulai": "start",
    "help": "help",
    "bantuan": "help",
    "bahasa": "language",
    "language": "language",
    "petugas": "human",
    "human": "human",
}
# Escalations for these reasons carry nothing an official could answer.
NOT_FOR_OFFICIALS = frozenset({EscalationReason.EMPTY, EscalationReason.UNSUPPORTED})


@dataclass(frozen=True)
class Accepted:
    """An incoming message as stored, waiting for its replies."""

    citizen: Citizen
    message_id: int
    message: Incoming


class Conversation:
    def __init__(
        self,
        store: Store,
        decide: Decide,
        replies: Replies,
        faq: Faq,
        languages: tuple[str, ...] = ("id", "en"),
    ) -> None:
        self.store = store
        self.decide = decide
        self.replies = replies
        self.faq = faq
        self.languages = languages
        self.escalation_listeners: list[EscalationListener] = []

    def accept(self, message: Incoming) -> Accepted | None:
        """Store an incoming message; ``None`` for a redelivery of one already stored.

        Channels whose platform wants a quick acknowledgement (Messenger) call this before
        acknowledging, and :meth:`respond` afterwards.
        """
        hint = message.language if message.language in self.languages else None
        citizen = self.store.citizen(message.channel, message.citizen, language=hint)
        text = message.payload if message.kind is Kind.BUTTON else message.text
        saved = self.store.save_incoming(
            citizen.id, message.message_id, message.kind.value, text or ""
        )
        if not saved.is_new:
            return None
        return Accepted(citizen, saved.id, message)

    async def respond(self, accepted: Accepted) -> list[Reply]:
        """Work out the replies to a stored message and store them (pending); return them.

        Call :meth:`delivered` once the channel has sent them; until then the message counts
        as unanswered and is answered again at the next start.
        """
        replies, decision = await self._respond(
            accepted.citizen, accepted.message_id, accepted.message
        )
        self.store.save_reply(
            accepted.message_id, accepted.citizen.id, "\n\n".join(r.text for r in replies), decision
        )
        return replies

    def delivered(self, accepted: Accepted) -> None:
        self.store.mark_delivered(accepted.message_id)

    async def handle(self, message: Incoming) -> list[Reply]:
        """Store, answer and store the answer, for channels that reply in the same request
        (the replies count as delivered); a redelivered message gets no second reply."""
        accepted = self.accept(message)
        if accepted is None:
            return []
        replies = await self.respond(accepted)
        self.delivered(accepted)
        return replies

    async def answer_pending(self, send: Callable[[str, str, list[Reply]], Awaitable[None]]) -> int:
        """Answer messages stored before a crash; ``send(channel, citizen, replies)``."""
        count = 0
        for row in self.store.unanswered():
            citizen = Citizen(
                row["citizen_id"], row["channel"], row["platform_id"], row["language"]
            )
            message = Incoming(
                channel=row["channel"],
                citizen=row["platform_id"],
                kind=Kind(row["kind"]),
                text=row["text"] or "",
                payload=row["text"] if row["kind"] == Kind.BUTTON else None,
            )
            accepted = Accepted(citizen, row["id"], message)
            replies = await self.respond(accepted)
            await send(row["channel"], row["platform_id"], replies)
            self.delivered(accepted)
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
            return await self._button(citizen, message.payload or "")
        return await self._question(citizen, message_id, message.text)

    async def _question(
        self, citizen: Citizen, message_id: int, text: str
    ) -> tuple[list[Reply], Decision]:
        decision = await self.decide(text, citizen.language)
        if decision.language != citizen.language:
            self.store.set_language(citizen.id, decision.language)
            citizen = Citizen(citizen.id, citizen.channel, citizen.platform_id, decision.language)
        if decision.action is Action.ANSWER:
            prompt = Reply(
                self._text("utter_feedback_prompt", citizen),
                self._feedback_buttons(citizen, message_id),
            )
            return [Reply(decision.reply), prompt], decision
        if decision.action is Action.CLARIFY:
            buttons = tuple(Button(o.label, f"faq:{o.faq_id}") for o in decision.options)
            return [Reply(decision.reply, buttons)], decision
        if decision.action is Action.ESCALATE:
            reply = self._escalate(
                citizen, message_id, decision.reply, decision.reason, self._topic(decision)
            )
            return [reply], decision
        return [Reply(decision.reply)], decision

    def _topic(self, decision: Decision) -> str | None:
        """The topic of the model's best guess: officials filter their inbox by it."""
        best = decision.candidates[0].faq_id if decision.candidates else None
        entry = self.faq.get(best) if best else None
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
        ticket, opened = self.store.open_escalation(
            citizen.id, message_id, (reason or EscalationReason.ASKED_HUMAN).value, topic
        )
        if opened:
            for listener in self.escalation_listeners:
                try:
                    listener(ticket)
                except Exception:  # a failing notification must not cost the citizen a reply
                    log.exception("escalation listener failed for ticket %d", ticket)
        return Reply(f"{text}\n\n{self._text('utter_ticket', citizen, ticket=ticket)}")

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
            self.store.set_language(citizen.id, wanted)
            citizen = Citizen(citizen.id, citizen.channel, citizen.platform_id, wanted)
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
            return [Reply(self._text("utter_start", citizen))], None
        if command == "help":
            return [Reply(self._text("utter_chat.help", citizen))], None
        # An unknown command is read as a question ("/vaksin" -> "vaksin").
        return await self._question(citizen, message_id, " ".join(words))

    async def _button(self, citizen: Citizen, payload: str) -> tuple[list[Reply], Decision | None]:
        kind, _, rest = payload.partition(":")
        if kind == "faq" and (entry := self.faq.get(rest)) is not None:
            language = entry.answer_language(self.language_of(citizen), self.languages)
            return [Reply(render_answer(entry, language))], None
        if kind == "helpful":
            target, _, verdict = rest.partition(":")
            if target.isdigit() and verdict in ("yes", "no"):
                self.store.save_feedback(int(target), helpful=verdict == "yes")
                if verdict == "yes":
                    return [Reply(self._text("utter_feedback_thanks", citizen))], None
                offer = Button(
                    self._text("utter_button_ask_official", citizen), f"escalate:{target}"
                )
                return [Reply(self._text("utter_feedback_sorry", citizen), (offer,))], None
        if kind == "rate":
            ticket, _, rating = rest.partition(":")
            if ticket.isdigit() and rating in RATINGS:
                self.store.escalations.rate(int(ticket), citizen.id, int(rating))
                return [Reply(self._text("utter_rating_thanks", citizen))], None
        if kind == "escalate" and rest.isdigit():
            reply = self._escalate(
                citizen,
                int(rest),
                self._text("utter_escalate.asked_human", citizen),
                EscalationReason.ASKED_HUMAN,
            )
            return [reply], None
        return [Reply(self._text("utter_button_unknown", citizen))], None
