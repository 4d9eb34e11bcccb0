"""Answer, clarify, chat or escalate: the decision for one citizen's message.

No platform code here: channels hand in text and a language hint and render the
:class:`~bot.core.decision.Decision` they get back. The rule, with thresholds from
``config.yml``:

* nothing readable (empty, only emoji or symbols) or too long -> escalate with that reason;
* the model's best intent is small talk, confidently -> the small-talk reply
  (asking for an official escalates);
* the best FAQ entry is confident and clearly ahead of the second -> answer,
  unless the entry is past ``valid_until`` (escalate: the citizen must not get stale facts);
* two entries are plausible and close -> "did you mean ...?";
* anything else, including the out-of-scope class -> escalate for low confidence.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from datetime import date
from typing import Protocol

from bot.config import NluSettings
from bot.core.decision import Action, Candidate, Decision, EscalationReason
from bot.core.language import LanguageGuesser
from bot.core.replies import Replies
from bot.faq.model import Entry, Faq
from bot.nlu.model import Parse
from bot.nlu.trainingdata import entry_id_for

SMALLTALK_PREFIX = "chat."
ASK_HUMAN_INTENT = "chat.human"
MAX_CLARIFY_OPTIONS = 3


class Parser(Protocol):
    def parse_batch(self, texts: Sequence[str]) -> list[Parse]: ...


class Answerer:
    def __init__(
        self,
        faq: Faq,
        parser: Parser,
        settings: NluSettings,
        replies: Replies,
        guesser: LanguageGuesser,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.faq = faq
        self.parser = parser
        self.settings = settings
        self.replies = replies
        self.guesser = guesser
        self.today = today

    def decide(self, text: str, language: str | None = None) -> Decision:
        """Decide what to do with one message; ``language`` is the citizen's known one."""
        return self.decide_batch([(text, language)])[0]

    def decide_batch(self, messages: Sequence[tuple[str, str | None]]) -> list[Decision]:
        """Decide for several messages, classifying them in one model pass."""
        decisions: list[Decision | None] = []
        to_parse: list[tuple[int, str, str]] = []
        for text, hint in messages:
            language = self.guesser.guess(text, hint)
            early = self._precheck(text, language)
            if early is None:
                to_parse.append((len(decisions), text, language))
            decisions.append(early)
        parses = self.parser.parse_batch([model_text(text) for _, text, _ in to_parse])
        for (index, text, language), parse in zip(to_parse, parses, strict=True):
            decisions[index] = self._decide_parsed(text, language, parse)
        return [d for d in decisions if d is not None]

    def _precheck(self, text: str, language: str) -> Decision | None:
        if not text.strip():
            return self._escalate(text, language, EscalationReason.EMPTY)
        if not any(ch.isalnum() for ch in text if ch != "\ufffd"):
            return self._escalate(text, language, EscalationReason.UNSUPPORTED)
        if len(text) > self.settings.max_question_chars:
            return self._escalate(text, language, EscalationReason.TOO_LONG)
        return None

    def _decide_parsed(self, text: str, language: str, parse: Parse) -> Decision:
        candidates = self._candidates(parse, language)
        top = parse.top
        if (
            top is not None
            and top.name.startswith(SMALLTALK_PREFIX)
            and top.confidence >= self.settings.smalltalk_threshold
        ):
            if top.name == ASK_HUMAN_INTENT:
                return self._escalate(
                    text, language, EscalationReason.ASKED_HUMAN, candidates, top.confidence
                )
            return Decision(
                text=text,
                action=Action.SMALLTALK,
                language=language,
                reply=self.replies.text(f"utter_{top.name}", language),
                confidence=top.confidence,
                intent=top.name,
                candidates=candidates,
            )
        return self._decide_faq(text, language, candidates)

    def _decide_faq(self, text: str, language: str, candidates: tuple[Candidate, ...]) -> Decision:
        s = self.settings
        if not candidates:
            return self._escalate(text, language, EscalationReason.LOW_CONFIDENCE)
        best = candidates[0]
        second = candidates[1].confidence if len(candidates) > 1 else 0.0
        lead = best.confidence - second
        if best.confidence >= s.answer_threshold and (
            lead >= s.clarify_margin or second < s.clarify_threshold
        ):
            return self._answer(text, language, best, candidates)
        if best.confidence >= s.clarify_threshold and second >= s.clarify_threshold:
            options = self._clarify_options(candidates)
            if len(options) >= 2:
                return self._clarify(text, language, options, candidates)
            if options:
                return self._answer(text, language, options[0], candidates)
        return self._escalate(
            text, language, EscalationReason.LOW_CONFIDENCE, candidates, best.confidence
        )

    def _candidates(self, parse: Parse, language: str) -> tuple[Candidate, ...]:
        result = []
        for score in parse.ranking:
            entry_id = entry_id_for(score.name)
            entry = self.faq.get(entry_id) if entry_id else None
            if entry is not None:
                result.append(
                    Candidate(entry.id, score.confidence, question_label(entry, language))
                )
        return tuple(result)

    def _clarify_options(self, candidates: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
        """Close, unexpired candidates worth offering as "did you mean".."""
        floor = candidates[0].confidence - self.settings.clarify_margin
        today = self.today()
        return tuple(
            c
            for c in candidates[:MAX_CLARIFY_OPTIONS]
            if c.confidence >= max(self.settings.clarify_threshold, floor)
            and not self.faq.entry(c.faq_id).is_expired(today)
        )

    def _answer(
        self, text: str, language: str, best: Candidate, candidates: tuple[Candidate, ...]
    ) -> Decision:
        entry = self.faq.entry(best.faq_id)
        if entry.is_expired(self.today()):
            return self._escalate(
                text,
                language,
                EscalationReason.EXPIRED,
                candidates,
                best.confidence,
                faq_id=entry.id,
            )
        reply_language = entry.answer_language(language, self.guesser.languages)
        return Decision(
            text=text,
            action=Action.ANSWER,
            language=reply_language,
            reply=render_answer(entry, reply_language),
            confidence=best.confidence,
            faq_id=entry.id,
            candidates=candidates,
        )

    def _clarify(
        self,
        text: str,
        language: str,
        options: tuple[Candidate, ...],
        candidates: tuple[Candidate, ...],
    ) -> Decision:
        lines = [self.replies.text("utter_clarify", language)]
        lines += [f"{i}. {option.label}" for i, option in enumerate(options, start=1)]
        return Decision(
            text=text,
            action=Action.CLARIFY,
            language=language,
            reply="\n".join(lines),
            confidence=options[0].confidence,
            candidates=candidates,
            options=options,
        )

    def _escalate(
        self,
        text: str,
        language: str,
        reason: EscalationReason,
        candidates: tuple[Candidate, ...] = (),
        confidence: float = 0.0,
        faq_id: str | None = None,
    ) -> Decision:
        return Decision(
            text=text,
            action=Action.ESCALATE,
            language=language,
            reply=self.replies.text(f"utter_escalate.{reason.value}", language),
            confidence=confidence,
            reason=reason,
            candidates=candidates,
            faq_id=faq_id,
        )


def model_text(text: str) -> str:
    """The text as the model should see it.

    Rasa turns text starting with "/" into an intent with confidence 1.0, bypassing the
    model; commands are the channels' business, so here the slashes are just dropped.
    """
    text = unicodedata.normalize("NFKC", text).replace("\ufffd", " ")
    return text.strip().lstrip("/").strip() or text.strip()


def question_label(entry: Entry, language: str) -> str:
    """A short label for an entry in ``language``: its first example question."""
    questions = entry.questions.get(language) or next(iter(entry.questions.values()), ())
    return questions[0] if questions else entry.id


def render_answer(entry: Entry, language: str) -> str:
    """The reply text: the answer, then its links, one per line."""
    parts = [entry.answers[language]]
    if entry.links:
        parts.append("\n".join(f"🔗 {link.title}: {link.url}" for link in entry.links))
    return "\n\n".join(parts)
