"""Thresholds chosen for a budget of wrong answers (bot/nlu/calibration.py), and the
decision rule they are chosen for."""

from __future__ import annotations

import pytest

from bot.nlu.calibration import (
    ANSWER_MIX,
    Calibration,
    FaqAction,
    Mix,
    Probe,
    Thresholds,
    calibrate,
    faq_action,
)


def probe(expected: str | None, *ranked: tuple[str, float]) -> Probe:
    return Probe(tuple(e for e, _ in ranked), tuple(c for _, c in ranked), expected)


@pytest.mark.parametrize(
    ("confidences", "action", "count"),
    [
        ((0.9, 0.05), FaqAction.ANSWER, 1),
        # Confident but close to a confident second: choices, not a guess.
        ((0.62, 0.58), FaqAction.CHOOSE, 2),
        # The bug of issue 14: a runner-up above the choice threshold but far behind, the
        # best below the answer threshold. That was answered; now it is a choice.
        ((0.5, 0.31, 0.1), FaqAction.CHOOSE, 2),
        ((0.45,), FaqAction.CHOOSE, 1),
        ((0.2, 0.1), FaqAction.ESCALATE, 0),
        ((), FaqAction.ESCALATE, 0),
    ],
)
def test_never_answers_below_the_answer_threshold(
    confidences: tuple[float, ...], action: FaqAction, count: int
) -> None:
    assert faq_action(confidences, Thresholds(0.6, 0.3, 0.1)) == (action, count)


def test_the_lowest_threshold_within_the_budget_is_chosen() -> None:
    # Right answers at 0.9 and 0.5; wrong ones at 0.45 and below; out of scope at 0.3.
    in_scope = [probe("a", ("a", 0.9))] * 6 + [probe("b", ("b", 0.5))] * 3
    in_scope += [probe("c", ("x", 0.45), ("c", 0.2))]
    out_of_scope = [probe(None, ("a", 0.3))] * 5
    calibration = calibrate(in_scope, out_of_scope, max_wrong_answers=0.03)
    assert calibration.answer_threshold == 0.475
    assert calibration.budget_met
    assert calibration.expected.answered_wrong == 0
    share = ANSWER_MIX.in_scope
    assert calibration.expected.answered_right == pytest.approx(share * 0.9, abs=1e-3)
    # A larger budget answers the wrong in-scope probe too (1 in 10, times 3/4 = 7.5 %).
    assert calibrate(in_scope, out_of_scope, max_wrong_answers=0.08).answer_threshold < 0.45
    assert calibrate(in_scope, out_of_scope, max_wrong_answers=0.07).answer_threshold > 0.45


def test_choices_stop_where_they_would_mostly_miss() -> None:
    in_scope = [probe("a", ("a", 0.95))] * 10
    # Up to 0.4 the best is wrong, but the right entry is among the best three: worth
    # offering as choices, not worth answering.
    in_scope += [probe("b", ("x", 0.4), ("b", 0.25))] * 4
    # At 0.25 it mostly is not.
    in_scope += [probe("c", ("x", 0.25), ("y", 0.2), ("z", 0.1), ("c", 0.05))] * 6
    calibration = calibrate(in_scope, [], max_wrong_answers=0.01)
    assert calibration.answer_threshold == 0.425
    assert calibration.clarify_threshold == 0.275


def test_a_budget_that_cannot_be_met_is_said() -> None:
    calibration = calibrate([probe("a", ("b", 0.99))], [], max_wrong_answers=0.03)
    assert not calibration.budget_met
    assert "cannot be met" in calibration.summary()


def test_round_trip_through_json() -> None:
    calibration = calibrate([probe("a", ("a", 0.9))], [probe(None, ("a", 0.2))])
    assert Calibration.from_json(calibration.to_json()) == calibration
    assert Calibration.from_json({"answer_threshold": 0.5}) is None
    assert Calibration.from_json(None) is None


def test_near_misses_count_for_their_share_of_the_out_of_scope_questions() -> None:
    # Many left-out entries' questions answered at 0.8, few out-of-scope lines at 0.1:
    # counted one by one the near misses would be 90 % of all that is out of scope.
    in_scope = [probe("a", ("a", 0.9))] * 10
    near = [Probe(("a",), (0.8,), None, near_miss=True)] * 90
    other = [probe(None, ("a", 0.1))] * 10
    third = Mix(in_scope=2 / 3, near_misses=1 / 3)
    calibration = calibrate(in_scope, near + other, max_wrong_answers=0.2, mix=third)
    # Answering at 0.8 is wrong for a third of the out-of-scope third: 1/9 of questions.
    assert calibration.answer_threshold == 0.125  # above the out-of-scope lines
    assert calibration.expected.answered_wrong == pytest.approx(1 / 9, abs=1e-3)
    strict = calibrate(in_scope, near + other, max_wrong_answers=0.1, mix=third)
    assert strict.answer_threshold == 0.825
    # As shipped, near misses do not count for the answer threshold (they are answered far
    # more often than citizens' out-of-scope questions), only for the choices'.
    assert calibrate(in_scope, near + other, max_wrong_answers=0.1).answer_threshold == 0.125


def test_choices_are_not_offered_where_near_misses_would_get_them() -> None:
    # Two in ten in-scope questions have the right entry second at 0.5, where many
    # questions of entries the FAQ lacks also score: choices there would mostly go to
    # those, so none are offered, although near misses do not count for the answer.
    in_scope = [probe("a", ("a", 0.9))] * 18 + [probe("b", ("x", 0.5), ("b", 0.2))] * 2
    near = [Probe(("x",), (0.5,), None, near_miss=True)] * 90
    other = [probe(None, ("a", 0.05))] * 10
    calibration = calibrate(in_scope, near + other, max_wrong_answers=0.03)
    assert calibration.answer_threshold == 0.525
    assert calibration.clarify_threshold == calibration.answer_threshold
    # Weighed without near misses the choices would reach down to 0.075.
    ignoring = calibrate(in_scope, near + other, max_wrong_answers=0.03, choice_mix=ANSWER_MIX)
    assert ignoring.clarify_threshold == 0.075
