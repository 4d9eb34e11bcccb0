"""A citizen's way through a survey, one question at a time (see ``bot.core.surveys``).

Button payloads: ``survey:<id>:start`` and ``survey:<id>:<question>:<answer>``, where
the answer is a choice's index or a 1-5 rating; free-text answers are the citizen's next
message while a survey waits for one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from bot.core.messages import Button, Reply
from bot.core.payloads import number, numbers
from bot.core.surveys import SCALE, Question, questions_of
from bot.store import Store
from bot.store.broadcasts import Broadcast, BroadcastStatus
from bot.store.clock import ago_iso
from bot.store.store import Citizen

MAX_TEXT_ANSWER = 2000
Text = Callable[..., str]
# How long a survey's free-text question waits for the citizen's next message.
FREE_TEXT_WAIT = timedelta(hours=6)
# Words a citizen's own question starts with, in Indonesian and English.
QUESTION_WORDS = frozenset(
    "apa apakah apanya bagaimana gimana gmn bgmn kapan kpn dimana dmn mana di mana berapa brp "
    "siapa mengapa kenapa knp bolehkah bisakah adakah where what when how why who which can "
    "could is are does do should will".split()
)


def looks_like_question(text: str) -> bool:
    """A citizen's own question rather than an answer to a survey's: it asks ("?"), or
    starts with a question word."""
    words = text.strip().casefold().split()
    return text.rstrip().endswith("?") or bool(words and words[0].strip(",.") in QUESTION_WORDS)


class SurveyFlow:
    def __init__(self, store: Store, text: Text) -> None:
        self.store = store
        self.text = text  # text(name, citizen, **values): a reply in the citizen's language

    def _survey(self, broadcast_id: int) -> tuple[Broadcast, list[Question]] | None:
        survey = self.store.broadcasts.get(broadcast_id)
        if survey is None or survey.kind != "survey":
            return None
        return survey, questions_of(survey.options)

    def _open(self, survey: Broadcast) -> bool:
        return survey.closed_at is None and survey.status != BroadcastStatus.CANCELLED

    def button(self, citizen: Citizen, rest: str) -> list[Reply]:
        survey_text, _, step = rest.partition(":")
        survey_id = number(survey_text)
        found = self._survey(survey_id) if survey_id is not None else None
        if found is None or not self.store.broadcasts.received(found[0].id, citizen.id):
            return [Reply(self.text("utter_button_unknown", citizen))]
        survey, questions = found
        if not self._open(survey):
            return [Reply(self.text("utter_survey_closed", citizen))]
        surveys = self.store.surveys
        if step == "start":
            surveys.start(survey.id, citizen.id)
            progress = surveys.progress(survey.id, citizen.id)
            return self._ask(citizen, survey, questions, progress.next_question if progress else 0)
        answered = numbers(step, 2)
        if answered is None:
            return [Reply(self.text("utter_button_unknown", citizen))]
        index, value = answered
        if index >= len(questions):
            return [Reply(self.text("utter_button_unknown", citizen))]
        question = questions[index]
        if question.kind == "choice" and value < len(question.choices):
            answer = question.choices[value]
        elif question.kind == "scale" and str(value) in SCALE:
            answer = str(value)
        else:
            return [Reply(self.text("utter_button_unknown", citizen))]
        following = surveys.answer(survey.id, citizen.id, index, answer, len(questions))
        return self._ask(citizen, survey, questions, following)

    def typed(self, citizen: Citizen, message: str) -> list[Reply] | None:
        """The citizen's text, if it answers a free-text question they were asked: not
        when it reads as a question of their own ("dimana lokasi vaksin booster?"), nor
        once the survey has waited longer than FREE_TEXT_WAIT (they have moved on); those
        are answered as questions, and /survei takes them back to the survey."""
        if looks_like_question(message):
            return None
        survey_id = self._waiting(citizen, ago_iso(FREE_TEXT_WAIT))
        found = self._survey(survey_id) if survey_id is not None else None
        if found is None:
            return None
        survey, questions = found
        progress = self.store.surveys.progress(survey.id, citizen.id)
        if not self._open(survey) or progress is None:
            return None
        asked = progress.next_question
        if asked >= len(questions) or questions[asked].kind != "text" or not message.strip():
            return None  # finished, or a choice is awaited: the text is an ordinary question
        answer = message.strip()[:MAX_TEXT_ANSWER]
        following = self.store.surveys.answer(survey.id, citizen.id, asked, answer, len(questions))
        return self._ask(citizen, survey, questions, following)

    def _waiting(self, citizen: Citizen, since: str) -> int | None:
        """The survey the citizen has moved on in since ``since`` and not finished: as
        read with their row when the message came in (a text that answers a question was
        typed after that question was asked, so the read is current), else asked for."""
        known = citizen.survey
        if known is None:
            return self.store.surveys.unfinished(citizen.id, since=since)
        moved = known.moved_at is not None and known.moved_at >= since
        return known.broadcast_id if moved else None

    def resume(self, citizen: Citizen) -> list[Reply]:
        survey_id = self.store.surveys.unfinished(citizen.id)
        found = self._survey(survey_id) if survey_id is not None else None
        if found is None or not self._open(found[0]):
            return [Reply(self.text("utter_survey_none", citizen))]
        survey, questions = found
        progress = self.store.surveys.progress(survey.id, citizen.id)
        return self._ask(citizen, survey, questions, progress.next_question if progress else 0)

    def _ask(
        self, citizen: Citizen, survey: Broadcast, questions: list[Question], index: int
    ) -> list[Reply]:
        if index >= len(questions):
            return [Reply(self.text("utter_survey_done", citizen))]
        question = questions[index]
        heading = self.text(
            "utter_survey_question",
            citizen,
            number=index + 1,
            total=len(questions),
            question=question.text,
        )
        prefix = f"survey:{survey.id}:{index}"
        if question.kind == "choice":
            buttons = tuple(
                Button(choice, f"{prefix}:{n}") for n, choice in enumerate(question.choices)
            )
            return [Reply(heading, buttons)]
        if question.kind == "scale":
            return [Reply(heading, tuple(Button(n, f"{prefix}:{n}") for n in SCALE))]
        return [Reply(f"{heading}\n\n{self.text('utter_survey_type', citizen)}")]
