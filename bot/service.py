"""Assemble the answering core from settings: FAQ, model, replies, language guesser.

This is the one place that knows how the parts fit; the CLI, the channels and the
benchmarks all get their :class:`~bot.core.answerer.Answerer` from here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot import start_stages
from bot.config import Settings
from bot.core.answerer import Answerer
from bot.core.language import LanguageGuesser
from bot.core.replies import Replies
from bot.faq.cache import cached_faq
from bot.faq.model import Faq
from bot.nlu.model import ModelInfo, NluModel
from bot.nlu.train import input_files, inputs_digest, is_stale

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    answerer: Answerer
    model: NluModel
    stale: bool


class OtherFaq(Exception):
    """The model was trained on another FAQ folder than the one asked for."""


def faq_of_model(settings: Settings, model_path: Path, faq_dir: Path | None) -> Path:
    """The FAQ folder to decide against: ``faq_dir`` if given, else the configured one,
    unless the model was trained on another folder that still exists (its answers come
    from that FAQ: the configured one may lack its entries or say something else).

    :class:`OtherFaq` when ``faq_dir`` was asked for but the model knows another folder.
    """
    trained_on = ModelInfo.read(model_path).faq_dir
    configured = settings.faq.dir.resolve()
    if faq_dir is not None:
        wanted = faq_dir.resolve()
        if trained_on is not None and trained_on != wanted:
            raise OtherFaq(
                f"the model {model_path} was trained on the FAQ in {trained_on}, not "
                f"{wanted}: pass --faq {trained_on}, or train a model on {wanted} first"
            )
        return wanted
    if trained_on is None or trained_on == configured:
        return configured
    if not trained_on.is_dir():
        raise OtherFaq(
            f"the model {model_path} was trained on the FAQ in {trained_on}, which is gone: "
            "run `tanya train` for the configured FAQ"
        )
    log.warning("the model %s was trained on the FAQ in %s: using that FAQ", model_path, trained_on)
    return trained_on


def load_answerer(
    settings: Settings,
    *,
    model_path: Path | None = None,
    faq_dir: Path | None = None,
) -> Loaded:
    """Read the FAQ and load the model once; ``stale`` says the FAQ changed since training.

    A model given explicitly decides against its own FAQ (:func:`faq_of_model`): deciding
    with one FAQ's model against another FAQ's entries answers with the wrong texts, or
    with none.
    """
    if model_path is None:
        # The configured model serves the configured FAQ (`tanya train` refuses to write
        # it from another folder); a changed FAQ only makes it stale, as warned below.
        model_path = settings.nlu.model_path
        faq_dir = faq_dir or settings.faq.dir
    else:
        faq_dir = faq_of_model(settings, model_path, faq_dir)
    faq = cached_faq(faq_dir)
    start_stages.mark("faq")
    model = NluModel.load(model_path)
    start_stages.mark("model")
    stale = is_stale(model_path, faq_dir, settings.nlu.project_dir)
    start_stages.mark("stale check")
    if stale:
        log.warning(
            "the model %s was trained from other FAQ files than those in %s "
            "(or is from an older version): run `tanya train` to update it",
            model_path,
            faq_dir,
        )
    guesser = LanguageGuesser(settings.languages)
    guesser.warm_up()
    start_stages.mark("language guesser")
    replies = Replies.load(settings.nlu.project_dir / "domain.yml")
    answerer = Answerer(
        faq, model, settings.nlu, replies, guesser, calibration=model.info.calibration
    )
    start_stages.mark("replies")
    return Loaded(answerer=answerer, model=model, stale=stale)


def with_thresholds(answerer: Answerer, **thresholds: Any) -> Answerer:
    """A copy of ``answerer`` with other decision thresholds (for tuning and evaluation)."""
    settings = replace(answerer.settings, **thresholds)
    return Answerer(
        answerer.faq,
        answerer.parser,
        settings,
        answerer.replies,
        answerer.guesser,
        answerer.today,
        answerer.calibration,
    )


class Live:
    """The FAQ and model in use. The learning loop replaces ``loaded`` after a retraining;
    readers take it fresh each time instead of keeping their own reference.

    ``stale`` follows the files, not only the moment the model was loaded: `tanya import`
    or an edit of ``faq/`` while the bot runs is noticed at the next look (by the health
    check and the desk), so nobody wonders why the bot still gives the old answers.
    """

    def __init__(
        self, loaded: Loaded, faq_dir: Path | None = None, project_dir: Path | None = None
    ) -> None:
        self.loaded = loaded
        self._sources = (faq_dir, project_dir) if faq_dir and project_dir else None
        self._seen: tuple[tuple[str, int, int], ...] = ()
        self._digest = ""

    @property
    def faq(self) -> Faq:
        return self.loaded.answerer.faq

    @property
    def stale(self) -> bool:
        """Whether the FAQ or project files differ from those the model was trained from."""
        if self._sources is None:
            return self.loaded.stale
        recorded = self.loaded.model.info.inputs_digest
        return recorded is None or recorded != self._current_digest(*self._sources)

    def _current_digest(self, faq_dir: Path, project_dir: Path) -> str:
        """The inputs' digest, read again only when a file's size or time changed (the
        health check may be polled every few seconds)."""
        files = input_files(faq_dir, project_dir)
        seen = tuple(_signature(path) for path in files)
        if seen != self._seen or not self._digest:
            self._digest = inputs_digest(faq_dir, project_dir)
            self._seen = seen
        return self._digest


def _signature(path: Path) -> tuple[str, int, int]:
    try:
        status = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), status.st_mtime_ns, status.st_size)
