"""The bot's fixed replies, per language, from the ``responses`` of the Rasa domain.

Keeping them in ``rasa_project/domain.yml`` puts every sentence the bot says in one file
that a translator or an official can edit, in Rasa's own format: the variant whose
``language`` slot condition matches is used, the unconditioned one is the default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class MissingReply(KeyError):
    """The domain has no response with this name."""


class Replies:
    def __init__(self, responses: dict[str, list[dict[str, Any]]]) -> None:
        self._responses = responses

    @classmethod
    def load(cls, domain_path: Path) -> Replies:
        data = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
        return cls(data.get("responses") or {})

    def text(self, name: str, language: str) -> str:
        """The reply ``name`` in ``language`` (or the default variant)."""
        variants = self._responses.get(name)
        if not variants:
            raise MissingReply(name)
        default = None
        for variant in variants:
            condition = variant.get("condition")
            if not condition:
                default = default or variant
            elif any(c.get("name") == "language" and c.get("value") == language for c in condition):
                return str(variant["text"])
        return str((default or variants[0])["text"])
