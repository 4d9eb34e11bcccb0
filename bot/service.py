"""Assemble the answering core from settings: FAQ, model, replies, language guesser.

This is the one place that knows how the parts fit; the CLI, the channels and the
benchmarks all get their :class:`~bot.core.answerer.Answerer` from here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.core.answerer import Answerer
from bot.core.language import LanguageGuesser
from bot.core.replies import Replies
from bot.faq.loader import read_faq
from bot.faq.model import Faq
from bot.nlu.model import NluModel
from bot.nlu.train import is_stale

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    answerer: Answerer
    model: NluModel
    stale: bool


def load_answerer(
    settings: Settings,
    *,
    model_path: Path | None = None,
    faq_dir: Path | None = None,
) -> Loaded:
    """Read the FAQ and load the model once; ``stale`` says the FAQ changed since training."""
    faq_dir = faq_dir or settings.faq.dir
    model_path = model_path or settings.nlu.model_path
    faq = read_faq(faq_dir)
    model = NluModel.load(model_path)
    stale = is_stale(model_path, faq_dir, settings.nlu.project_dir)
    if stale:
        log.warning(
            "the model %s was trained from other FAQ files than those in %s "
            "(or is from an older version): run `tanya train` to update it",
            model_path,
            faq_dir,
        )
    guesser = LanguageGuesser(settings.languages)
    guesser.warm_up()
    replies = Replies.load(settings.nlu.project_dir / "domain.yml")
    answerer = Answerer(faq, model, settings.nlu, replies, guesser)
    return Loaded(answerer=answerer, model=model, stale=stale)


def with_thresholds(answerer: Answerer, **thresholds: Any) -> Answerer:
    """A copy of ``answerer`` with other decision thresholds (for tuning and evaluation)."""
    settings = replace(answerer.settings, **thresholds)
    return Answerer(
        answerer.faq, answerer.parser, settings, answerer.replies, answerer.guesser, answerer.today
    )


class Live:
    """The FAQ and model in use. The learning loop replaces ``loaded`` after a retraining;
    readers take it fresh each time instead of keeping their own reference."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded

    @property
    def faq(self) -> Faq:
        return self.loaded.answerer.faq
