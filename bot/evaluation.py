"""`tanya evaluate`: how well the bot answers a labelled set of citizens' questions.

Definitions (also printed in the report):

* in-scope accuracy: share of in-scope questions (``expected`` is an entry id) answered
  with exactly that entry. A clarify or an escalation counts as not answered.
* out-of-scope recall: share of out-of-scope questions (``expected`` is null) that got no
  FAQ answer and no "did you mean" (escalated, or small talk).
* wrong-answer rate: share of ALL questions answered with a wrong entry; the figure that
  matters most for a government, since a wrong answer is worse than an escalation.
* clarify rate: share of all questions answered with numbered choices ("did you mean").
* resolved in one tap: share of in-scope questions answered with choices that include the
  right entry (the citizen taps it); not counted in in-scope accuracy.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.answerer import Answerer
from bot.core.decision import Action, Decision
from bot.nlu.model import Parse


class TestFileError(Exception):
    """A line of the test file is not ``{"text": ..., "expected": id|null}``."""


@dataclass(frozen=True)
class Example:
    text: str
    expected: str | None
    language: str | None = None


def read_examples(path: Path) -> list[Example]:
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text, expected = item["text"], item.get("expected")
        except (ValueError, KeyError, TypeError) as exc:
            raise TestFileError(f'{path}:{number}: expected {{"text", "expected"}}: {exc}') from exc
        if not isinstance(text, str) or not (expected is None or isinstance(expected, str)):
            raise TestFileError(
                f"{path}:{number}: text must be a string, expected a string or null"
            )
        examples.append(Example(text, expected, item.get("language")))
    return examples


class CachedParser:
    """Parses each text once, so thresholds can be tuned without re-running the model."""

    def __init__(self, parser: Any) -> None:
        self._parser = parser
        self._cache: dict[str, Parse] = {}

    def parse_batch(self, texts: Sequence[str]) -> list[Parse]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for start in range(0, len(missing), 256):
            chunk = missing[start : start + 256]
            self._cache.update(zip(chunk, self._parser.parse_batch(chunk), strict=True))
        return [self._cache[t] for t in texts]


def evaluate(answerer: Answerer, examples: Sequence[Example]) -> dict[str, Any]:
    decisions = answerer.decide_batch([(e.text, e.language) for e in examples])
    return score(answerer, examples, decisions)


def score(
    answerer: Answerer, examples: Sequence[Example], decisions: Sequence[Decision]
) -> dict[str, Any]:
    total = len(examples)
    in_scope = [(e, d) for e, d in zip(examples, decisions, strict=True) if e.expected]
    out_scope = [(e, d) for e, d in zip(examples, decisions, strict=True) if not e.expected]
    correct = sum(d.action is Action.ANSWER and d.faq_id == e.expected for e, d in in_scope)
    wrong = sum(
        d.action is Action.ANSWER and d.faq_id != e.expected
        for e, d in zip(examples, decisions, strict=True)
    )
    rejected = sum(d.action in (Action.ESCALATE, Action.SMALLTALK) for _, d in out_scope)
    clarified = [
        (e, d) for e, d in zip(examples, decisions, strict=True) if d.action is Action.CLARIFY
    ]
    confused = Counter(
        (e.expected or "(out of scope)", d.faq_id)
        for e, d in zip(examples, decisions, strict=True)
        if d.action is Action.ANSWER and d.faq_id != e.expected
    )
    return {
        "questions": total,
        "in_scope": len(in_scope),
        "out_of_scope": len(out_scope),
        "in_scope_accuracy": _ratio(correct, len(in_scope)),
        "out_of_scope_recall": _ratio(rejected, len(out_scope)),
        "wrong_answer_rate": _ratio(wrong, total),
        "clarify_rate": _ratio(len(clarified), total),
        "clarify_with_right_option": _ratio(
            sum(any(o.faq_id == e.expected for o in d.options) for e, d in clarified),
            len(clarified),
        ),
        "answered_rate": _ratio(sum(d.action is Action.ANSWER for d in decisions), total),
        "resolved_in_one_tap": _ratio(
            sum(
                d.action is Action.CLARIFY and any(o.faq_id == e.expected for o in d.options)
                for e, d in in_scope
            ),
            len(in_scope),
        ),
        "per_topic": _per_topic(answerer, in_scope),
        "confused_pairs": [
            {"expected": a, "answered": b, "count": n} for (a, b), n in confused.most_common(10)
        ],
    }


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _per_topic(answerer: Answerer, pairs: Iterable[tuple[Example, Decision]]) -> dict[str, Any]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for example, decision in pairs:
        entry = answerer.faq.get(example.expected or "")
        topic = entry.topic if entry else "(unknown entry)"
        counts[topic][1] += 1
        counts[topic][0] += decision.action is Action.ANSWER and decision.faq_id == example.expected
    return {
        topic: {"questions": n, "accuracy": _ratio(ok, n)}
        for topic, (ok, n) in sorted(counts.items())
    }


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of the report for the terminal."""
    rows = [
        (
            "questions",
            f"{report['questions']} ({report['in_scope']} in scope, "
            f"{report['out_of_scope']} out of scope)",
        ),
        ("in-scope accuracy", _pct(report["in_scope_accuracy"])),
        ("out-of-scope recall", _pct(report["out_of_scope_recall"])),
        ("wrong-answer rate", _pct(report["wrong_answer_rate"])),
        ("clarify rate", _pct(report["clarify_rate"])),
        ("answered", _pct(report["answered_rate"])),
        ("resolved in one tap", _pct(report["resolved_in_one_tap"])),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    if report["per_topic"]:
        lines += ["", "per topic (in-scope accuracy):"]
        lines += [
            f"  {topic:<28} {_pct(v['accuracy']):>7}  of {v['questions']}"
            for topic, v in report["per_topic"].items()
        ]
    if report["confused_pairs"]:
        lines += ["", "most confused (expected -> answered):"]
        lines += [
            f"  {p['count']:>3}  {p['expected']} -> {p['answered']}"
            for p in report["confused_pairs"]
        ]
    return "\n".join(lines)


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"
