"""Short surveys: a few questions (a choice, a 1-5 scale or free text) asked one by one.

Officials write a survey as one question per line, the kind in brackets at the end:

    Seberapa puas Anda dengan layanan kami? [1-5]
    Layanan apa yang paling sering Anda pakai? [KTP | KK | Akta lahir]
    Apa saran Anda? [teks]

A citizen answers with buttons, or by typing for a free-text question. They may leave
at any time (ask something else, or a command) and come back with /survei, or by
pressing a button of the question they stopped at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import ClassVar

SCALE = ("1", "2", "3", "4", "5")
_BRACKET = re.compile(r"\[([^\[\]]*)\]\s*$")
MAX_QUESTIONS = 10
MAX_CHOICES = 10


class SurveyFormatError(ValueError):
    """A line of the survey could not be understood.

    ``problem`` names what is wrong and ``details`` fill its message, so the desk can say
    it in the official's language; ``str()`` is the English message, for logs and tests.
    """

    MESSAGES: ClassVar[dict[str, str]] = {
        "no_question": "line {line}: the question is missing",
        "bad_choices": "line {line}: write 2 to {most} choices as [a | b | c], or [1-5], or [teks]",
        "empty": "a survey needs at least one question",
        "too_many": "a survey has at most {most} questions",
    }

    def __init__(self, problem: str, **details: object) -> None:
        super().__init__(self.MESSAGES[problem].format(**details))
        self.problem = problem
        self.details = details


@dataclass(frozen=True)
class Question:
    text: str
    kind: str  # choice | scale | text
    choices: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"text": self.text, "kind": self.kind, "choices": list(self.choices)}


def parse_questions(source: str) -> list[Question]:
    questions = []
    for number, line in enumerate(source.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = _BRACKET.search(line)
        spec = match.group(1).strip() if match else "teks"
        text = line[: match.start()].strip() if match else line
        if not text:
            raise SurveyFormatError("no_question", line=number)
        if spec.replace(" ", "") in ("1-5", "1–5", "skala", "scale"):
            questions.append(Question(text, "scale"))
        elif spec.casefold() in ("teks", "text", "bebas", "free"):
            questions.append(Question(text, "text"))
        else:
            choices = tuple(c.strip() for c in spec.split("|") if c.strip())
            if not 2 <= len(choices) <= MAX_CHOICES:
                raise SurveyFormatError("bad_choices", line=number, most=MAX_CHOICES)
            questions.append(Question(text, "choice", choices))
    if not questions:
        raise SurveyFormatError("empty")
    if len(questions) > MAX_QUESTIONS:
        raise SurveyFormatError("too_many", most=MAX_QUESTIONS)
    return questions


def questions_json(questions: list[Question]) -> list[str]:
    """How questions are kept in the broadcast's ``options`` column (one JSON per item)."""
    return [json.dumps(q.to_json(), ensure_ascii=False) for q in questions]


def questions_of(options: tuple[str, ...]) -> list[Question]:
    result = []
    for item in options:
        data = json.loads(item)
        result.append(Question(data["text"], data["kind"], tuple(data.get("choices") or ())))
    return result


def source_of(questions: list[Question]) -> str:
    """The officials' one-line-per-question form, for showing a survey back."""
    lines = []
    for q in questions:
        spec = "1-5" if q.kind == "scale" else "teks" if q.kind == "text" else " | ".join(q.choices)
        lines.append(f"{q.text} [{spec}]")
    return "\n".join(lines)
