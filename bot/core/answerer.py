"""Answer, clarify, chat or escalate: the decision for one citizen's message.

No platform code here: channels hand in text and a language hint and render the
:class:`~bot.core.decision.Decision` they get back. The rule, with thresholds from
``config.yml``:

* nothing readable (empty, only emoji or symbols) or too long -> escalate with that reason;
* the model's best intent is small talk, confidently -> the small-talk reply
  (asking for an official escalates);
* the best FAQ entry is confident and clearly ahead of the second -> answer,
  unless the entry is past ``valid_until`` (escalate: the citizen must not get stale facts);
* the best entry is plausible but not confident enough, or two confident entries are
  close -> numbered choices of the best entries ("did you mean ...?");
* anything else, including the out-of-scope class -> escalate for low confidence.

The rule is :func:`bot.nlu.calibration.faq_action`, the one the calibration at
`tanya train` chose the thresholds with; config.yml's thresholds override the model's.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from functools import cached_property
from typing import Protocol

from bot.config import NluSettings
from bot.core.decision import Action, Candidate, Decision, EscalationReason
from bot.core.language import LanguageGuesser, is_gibberish
from bot.core.replies import Replies
from bot.faq.magnets import words
from bot.faq.model import Entry, Faq
from bot.nlu.calibration import (
    FALLBACK_ANSWER,
    FALLBACK_CLARIFY,
    Calibration,
    FaqAction,
    Thresholds,
    faq_action,
)
from bot.nlu.model import Parse
from bot.nlu.trainingdata import entry_id_for

SMALLTALK_PREFIX = "chat."
# A query of at most this many content words that a topic's entries share gets those
# entries to choose from ("ktp", "pajak daerah"), at most this many of them.
MAX_TOPIC_QUERY_WORDS = 2
MAX_TOPIC_CHOICES = 5
# Words that ask about a topic without naming it ("info bansos", "soal pajak").
TOPIC_FILLER = frozenset(
    "info informasi tentang soal masalah perihal seputar mengenai about information "
    "regarding".split()
)
ASK_HUMAN_INTENT = "chat.human"


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
        calibration: Calibration | None = None,
    ) -> None:
        self.faq = faq
        self.parser = parser
        self.settings = settings
        self.replies = replies
        self.guesser = guesser
        self.today = today
        self.calibration = calibration

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
        if is_gibberish(text):
            return self._escalate(text, language, EscalationReason.UNCLEAR)
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
        # A word or two that several entries share ("ktp", "pajak") names a topic, not a
        # question: however sure the model is of one entry, the citizen picks.
        topic = self._topic_choices(text, language, candidates)
        if topic:
            return self._clarify(text, language, topic, candidates)
        action, count = faq_action([c.confidence for c in candidates], self.thresholds)
        if action is FaqAction.ANSWER:
            return self._answer(text, language, candidates[0], candidates)
        if action is FaqAction.CHOOSE:
            options = self._clarify_options(candidates[:count])
            if options:
                return self._clarify(text, language, options, candidates)
        best = candidates[0].confidence if candidates else 0.0
        return self._escalate(text, language, EscalationReason.LOW_CONFIDENCE, candidates, best)

    def _topic_choices(
        self, text: str, language: str, candidates: tuple[Candidate, ...]
    ) -> tuple[Candidate, ...]:
        """For a one- or two-word query naming a topic ("ktp", "pajak", "bansos"): the
        entries whose questions or topic title use those words, the model's likeliest
        first; nothing when fewer than two entries do."""
        if len(text.split()) > 3 * MAX_TOPIC_QUERY_WORDS:
            return ()  # a sentence, not a topic (and no need to stem it)
        query = {w: raw for w, raw in words(text).items() if w not in TOPIC_FILLER}
        if not query or len(query) > MAX_TOPIC_QUERY_WORDS:
            return ()
        entry_sets = [self._entries_by_word.get(word, frozenset()) for word in query]
        matching = frozenset.intersection(*entry_sets)
        if len(matching) < 2:
            return ()
        rank = {c.faq_id: i for i, c in enumerate(candidates)}
        ordered = sorted(matching, key=lambda entry_id: (rank.get(entry_id, len(rank)), entry_id))
        options = [
            Candidate(entry_id, 0.0, question_label(self.faq.entry(entry_id), language))
            for entry_id in ordered
        ]
        return self._clarify_options(tuple(options))[:MAX_TOPIC_CHOICES]

    @cached_property
    def _entries_by_word(self) -> dict[str, frozenset[str]]:
        """Word stem -> the entries about it: its topic's title uses it, or at least half
        of the entry's questions in one language do. A word that turns up in a few of an
        entry's many examples ("phone" in one of a hundred ways to ask the time) does not
        make the entry part of that word's topic."""
        index: dict[str, set[str]] = {}
        for topic in self.faq.topics:
            title = words(" ".join(topic.titles.values()))
            for entry in topic.entries:
                about = set(title)
                for questions in entry.questions.values():
                    counts = Counter(word for q in questions for word in words(q))
                    about.update(w for w, n in counts.items() if 2 * n >= len(questions))
                for word in about:
                    index.setdefault(word, set()).add(entry.id)
        return {word: frozenset(ids) for word, ids in index.items()}

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
        """The offered candidates that are not past their ``valid_until``."""
        today = self.today()
        return tuple(c for c in candidates if not self.faq.entry(c.faq_id).is_expired(today))

    @property
    def thresholds(self) -> Thresholds:
        """config.yml's thresholds where it sets them, else the model's calibration."""
        return resolve_thresholds(self.settings, self.calibration)

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


def resolve_thresholds(settings: NluSettings, calibration: Calibration | None) -> Thresholds:
    """Explicit thresholds from config.yml, else the calibrated ones, else the fallback."""
    answer = settings.answer_threshold
    clarify = settings.clarify_threshold
    if answer is None:
        answer = calibration.answer_threshold if calibration else FALLBACK_ANSWER
    if clarify is None:
        clarify = calibration.clarify_threshold if calibration else FALLBACK_CLARIFY
    return Thresholds(answer=answer, clarify=min(clarify, answer), margin=settings.clarify_margin)
