"""What the bot decided to do with one message: the contract between core and channels."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Action(enum.StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    SMALLTALK = "smalltalk"
    ESCALATE = "escalate"


class EscalationReason(enum.StrEnum):
    LOW_CONFIDENCE = "low_confidence"
    ASKED_HUMAN = "asked_human"
    EXPIRED = "expired"
    EMPTY = "empty"
    UNSUPPORTED = "unsupported"
    TOO_LONG = "too_long"
    # Nothing that reads as words (a keyboard mash): the citizen is asked to rephrase.
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class Candidate:
    """An FAQ entry the model considered, with a label a citizen can pick in a button."""

    faq_id: str
    confidence: float
    label: str = ""


@dataclass(frozen=True)
class Decision:
    text: str
    action: Action
    language: str
    reply: str
    confidence: float = 0.0
    faq_id: str | None = None
    reason: EscalationReason | None = None
    intent: str | None = None
    candidates: tuple[Candidate, ...] = field(default=())
    # For clarify: the entries offered to the citizen, best first.
    options: tuple[Candidate, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The `tanya ask --json` form (one object per question)."""
        return {
            "text": self.text,
            "action": self.action.value,
            "faq_id": self.faq_id,
            "confidence": round(self.confidence, 4),
            "language": self.language,
            "reply": self.reply,
            "reason": self.reason.value if self.reason else None,
            "candidates": [
                {"faq_id": c.faq_id, "confidence": round(c.confidence, 4)}
                for c in self.candidates[:5]
            ],
        }
