"""Thresholds chosen on the FAQ's own data for a stated budget of wrong answers.

A confidence of 0.6 means different things on different FAQs: with 36 example questions
per entry the right entry scores high, with one question per entry the right entry is
often ranked first at 0.3. A threshold tuned on one FAQ therefore answers too little or
too wrongly on another. `tanya train` measures the model on questions it did not train
on, taken from the FAQ itself (:meth:`bot.nlu.classifier.FaqClassifier` does the
cross-validation: an entry's own example questions held out in turn, whole entries held
out to stand for questions the FAQ does not answer, and held-out out-of-scope lines), and
:func:`calibrate` picks the lowest answer threshold whose expected share of wrong answers
stays within ``nlu.max_wrong_answers``. Below it, numbered choices are offered down to the
lowest confidence from which on the right entry is among them often enough.

The decision rule itself (:func:`faq_action`) lives here too, so the answerer and the
calibration cannot disagree about what a threshold does.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_MAX_WRONG_ANSWERS = 0.03
# Set by the training process (bot/nlu/train_worker.py): where FaqClassifier writes the
# calibration, and the budget it calibrates for.
CALIBRATION_ENV = "TANYA_CALIBRATION_FILE"
MAX_WRONG_ENV = "TANYA_MAX_WRONG_ANSWERS"
# Set by a benchmark: where FaqClassifier also writes the probes it calibrated on.
PROBES_ENV = "TANYA_CALIBRATION_PROBES"


@dataclass(frozen=True)
class Mix:
    """How the probes stand for traffic: the share of questions the FAQ answers, and the
    share of the others that near misses (questions of a left-out entry) stand for;
    held-out out-of-scope and small-talk lines stand for the rest."""

    in_scope: float
    near_misses: float


# How the probes are weighed to choose the answer threshold and to say what to expect.
# Chosen by bench/calibration.py on the dev questions of four FAQs (StackFAQ, the sample
# cut to one question per entry, the sample, CLINC150): the most answered right among the
# mixes whose measured wrong answers stay within the budget on every one. The probes
# overstate wrong answers: left-out entries' questions are answered far more often than
# citizens' out-of-scope questions (at 0.9: the sample's 17 % against 5 %, CLINC150's 38 %
# against 11 %), and an answer sentence standing in for a question is often about another
# entry (a hoax's answer says how to change KTP data). The former mix (two thirds in scope,
# near misses a third of the rest, the shares of the sample's held-out sets) kept
# thresholds far above what the budget allows: 0.90 on the sample cut to one question,
# where real questions were then answered wrongly 0.2 % of the time.
ANSWER_MIX = Mix(in_scope=3 / 4, near_misses=0.0)
# How the probes are weighed to choose the choice threshold: there near misses are what
# matters (a question of an entry the FAQ lacks gets choices instead of an official), and
# the former mix keeps out-of-scope questions from getting choices (with ANSWER_MIX the
# sample cut to one question offered choices down to 0.05, and passed 43 % of its
# out-of-scope dev questions to officials instead of 79 %).
CHOICE_MIX = Mix(in_scope=2 / 3, near_misses=1 / 3)
# Choices are offered down to the lowest confidence from which on the right entry is
# among them this often (questions the FAQ does not answer count as misses, weighed as
# CHOICE_MIX says; the choices come with an "ask an official" button).
MIN_CHOICE_PRECISION = 0.6
MAX_CHOICES = 3
# The thresholds tried.
GRID = tuple(round(0.025 * i, 3) for i in range(2, 40))
# Used when a model carries no calibration (trained before it existed) and config.yml
# sets no thresholds: what config.yml shipped before.
FALLBACK_ANSWER = 0.6
FALLBACK_CLARIFY = 0.3


class FaqAction(enum.StrEnum):
    ANSWER = "answer"
    CHOOSE = "choose"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class Thresholds:
    answer: float
    clarify: float
    margin: float


def faq_action(confidences: Sequence[float], thresholds: Thresholds) -> tuple[FaqAction, int]:
    """What to do given the FAQ entries' confidences (best first), and how many of the
    best entries to offer as choices.

    Answer when the best is confident and clearly ahead; offer choices when it is not
    confident enough to answer but reaches ``clarify`` (or when two confident entries are
    close); otherwise pass the question on. Never answers below ``answer``.
    """
    if not confidences:
        return FaqAction.ESCALATE, 0
    best = confidences[0]
    second = confidences[1] if len(confidences) > 1 else 0.0
    if best >= thresholds.answer and (
        best - second >= thresholds.margin or second < thresholds.clarify
    ):
        return FaqAction.ANSWER, 1
    if best >= thresholds.clarify:
        offered = [c for c in confidences[:MAX_CHOICES] if c >= thresholds.clarify / 2]
        return FaqAction.CHOOSE, max(len(offered), 1)
    return FaqAction.ESCALATE, 0


@dataclass(frozen=True)
class Probe:
    """A question the model did not train on, with its FAQ ranking (entry ids, best first)
    and the entry that answers it (``None``: no entry does)."""

    ranking: tuple[str, ...]
    confidences: tuple[float, ...]
    expected: str | None
    # Out of scope: a question of an entry left out (close to what the FAQ answers),
    # rather than a small-talk or out-of-scope line.
    near_miss: bool = False


@dataclass(frozen=True)
class Expectation:
    """Shares of questions (in-scope and out-of-scope mixed as :data:`ANSWER_MIX` says)."""

    answered_right: float
    answered_wrong: float
    choices: float
    choices_with_right_entry: float
    to_officials: float


@dataclass(frozen=True)
class Calibration:
    answer_threshold: float
    clarify_threshold: float
    max_wrong_answers: float
    expected: Expectation
    in_scope_probes: int
    out_of_scope_probes: int
    # False when no threshold kept wrong answers within the budget (the highest is used).
    budget_met: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Calibration | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(**{**data, "expected": Expectation(**data["expected"])})
        except (TypeError, KeyError):
            return None

    def summary(self) -> str:
        """One line for people: what to expect of this model on its FAQ."""
        e = self.expected
        line = (
            f"expect about {e.answered_right:.0%} of questions answered right, "
            f"{e.answered_wrong:.1%} answered wrong, {e.choices:.0%} offered choices, "
            f"{e.to_officials:.0%} passed to officials "
            f"(answer at {self.answer_threshold:.2f}, choices from "
            f"{self.clarify_threshold:.2f}; wrong answers allowed: {self.max_wrong_answers:.0%})"
        )
        if not self.budget_met:
            line += "; the budget of wrong answers cannot be met on this FAQ: add examples"
        return line


def _outcomes(probes: Sequence[Probe], thresholds: Thresholds) -> tuple[float, ...]:
    """(right, wrong, choices, choices with the right entry, escalated) shares of probes."""
    right = wrong = choices = good_choices = escalated = 0
    for probe in probes:
        action, count = faq_action(probe.confidences, thresholds)
        if action is FaqAction.ANSWER:
            if probe.ranking[0] == probe.expected:
                right += 1
            else:
                wrong += 1
        elif action is FaqAction.CHOOSE:
            choices += 1
            good_choices += probe.expected is not None and probe.expected in probe.ranking[:count]
        else:
            escalated += 1
    n = max(len(probes), 1)
    return right / n, wrong / n, choices / n, good_choices / n, escalated / n


def _out_of_scope_outcomes(
    probes: Sequence[Probe], thresholds: Thresholds, near_share: float
) -> tuple[float, ...]:
    """Near misses count for ``near_share`` of the out-of-scope traffic, the other
    out-of-scope probes for the rest: left-out entries give far more probes than the
    out-of-scope lines, and citizens' questions the FAQ does not answer are only partly
    near misses."""
    near = [p for p in probes if p.near_miss]
    other = [p for p in probes if not p.near_miss]
    if not near or not other:
        return _outcomes(probes, thresholds)
    a, b = _outcomes(near, thresholds), _outcomes(other, thresholds)
    return tuple(near_share * x + (1 - near_share) * y for x, y in zip(a, b, strict=True))


def expectation(
    in_scope: Sequence[Probe],
    out_of_scope: Sequence[Probe],
    thresholds: Thresholds,
    mix: Mix = ANSWER_MIX,
) -> Expectation:
    share = mix.in_scope if in_scope and out_of_scope else (1.0 if in_scope else 0.0)
    inside = _outcomes(in_scope, thresholds)
    outside = _out_of_scope_outcomes(out_of_scope, thresholds, mix.near_misses)
    mixed = [share * a + (1 - share) * b for a, b in zip(inside, outside, strict=True)]
    right, wrong, choices, good_choices, escalated = mixed
    return Expectation(
        answered_right=round(right, 4),
        answered_wrong=round(wrong, 4),
        choices=round(choices, 4),
        choices_with_right_entry=round(good_choices / choices, 4) if choices else 0.0,
        to_officials=round(escalated, 4),
    )


def calibrate(
    in_scope: Sequence[Probe],
    out_of_scope: Sequence[Probe],
    max_wrong_answers: float = DEFAULT_MAX_WRONG_ANSWERS,
    margin: float = 0.1,
    mix: Mix = ANSWER_MIX,
    choice_mix: Mix = CHOICE_MIX,
) -> Calibration:
    """The lowest answer threshold within the budget (probes weighed as ``mix`` says),
    then the lowest choice threshold from which on offered choices hold the right entry
    often enough (weighed as ``choice_mix`` says)."""
    answer = None
    for candidate in GRID:
        thresholds = Thresholds(candidate, candidate, margin)
        expected = expectation(in_scope, out_of_scope, thresholds, mix)
        if expected.answered_wrong <= max_wrong_answers:
            answer = candidate
            break
    budget_met = answer is not None
    answer = answer if answer is not None else GRID[-1]
    clarify = answer
    weights = _weights(in_scope, out_of_scope, choice_mix)
    for candidate in (c for c in GRID if c < answer):
        band = [
            (p, w)
            for p, w in zip((*in_scope, *out_of_scope), weights, strict=True)
            if p.confidences and candidate <= p.confidences[0] < answer
        ]
        total = sum(w for _, w in band)
        hits = sum(w for p, w in band if p.expected and p.expected in p.ranking[:MAX_CHOICES])
        if total == 0 or hits / total >= MIN_CHOICE_PRECISION:
            clarify = candidate
            break
    thresholds = Thresholds(answer, clarify, margin)
    return Calibration(
        answer_threshold=answer,
        clarify_threshold=clarify,
        max_wrong_answers=max_wrong_answers,
        expected=expectation(in_scope, out_of_scope, thresholds, mix),
        in_scope_probes=len(in_scope),
        out_of_scope_probes=len(out_of_scope),
        budget_met=budget_met,
    )


def _weights(in_scope: Sequence[Probe], out_of_scope: Sequence[Probe], mix: Mix) -> list[float]:
    """Each probe's weight in the traffic ``mix`` (in scope first)."""
    share = mix.in_scope if in_scope and out_of_scope else 1.0
    near_share = mix.near_misses
    near = sum(p.near_miss for p in out_of_scope)
    other = len(out_of_scope) - near
    weights = [share / len(in_scope)] * len(in_scope)
    for probe in out_of_scope:
        count = near if probe.near_miss else other
        part = (near_share if probe.near_miss else 1 - near_share) if near and other else 1.0
        weights.append((1 - share if in_scope else 1.0) * part / count)
    return weights
