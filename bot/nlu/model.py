"""A trained Rasa NLU model, loaded once, parsing text into ranked intents.

We run Rasa's predict graph directly instead of going through ``Agent``: the graph takes a
list of messages, so a batch of questions is classified in one pass (the classifier
vectorises the whole batch), and no tracker store or event loop is involved.

Parsing is blocking CPU work and the first prediction builds mutable state: callers in an
event loop must run it on one dedicated worker thread (see :mod:`bot.nlu.worker`).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.nlu.calibration import Calibration
from bot.nlu.environment import rasa_imports

log = logging.getLogger(__name__)


class ModelNotFound(Exception):
    """There is no trained model where one was expected."""


class ModelUnreadable(Exception):
    """The model file exists but cannot be loaded (corrupt, or from another Rasa version)."""


@dataclass(frozen=True)
class IntentScore:
    name: str
    confidence: float


@dataclass(frozen=True)
class Parse:
    text: str
    ranking: tuple[IntentScore, ...]

    @property
    def top(self) -> IntentScore | None:
        return self.ranking[0] if self.ranking else None


@dataclass(frozen=True)
class ModelInfo:
    """What the model was trained from, written beside it by `tanya train`."""

    inputs_digest: str | None
    trained_at: str | None
    # The FAQ folder it was trained from (absolute), and what `tanya train` calibrated.
    faq_dir: Path | None = None
    calibration: Calibration | None = None

    @classmethod
    def read(cls, model_path: Path) -> ModelInfo:
        try:
            data = json.loads(info_path(model_path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(inputs_digest=None, trained_at=None)
        if not isinstance(data, dict):
            return cls(inputs_digest=None, trained_at=None)
        faq_dir = data.get("faq_dir")
        return cls(
            inputs_digest=data.get("inputs_digest"),
            trained_at=data.get("trained_at"),
            faq_dir=Path(faq_dir) if isinstance(faq_dir, str) else None,
            calibration=Calibration.from_json(data.get("calibration")),
        )


def info_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".json")


class NluModel:
    """Classifies questions with a trained model; load with :meth:`load`."""

    def __init__(self, path: Path, runner: Any, target: str, workdir: Any) -> None:
        self.path = path
        self._runner = runner
        self._target = target
        self._workdir = workdir  # keeps the unpacked model alive as long as we are
        self.info = ModelInfo.read(path)

    @classmethod
    def load(cls, path: Path) -> NluModel:
        """Unpack and load the model at ``path``."""
        if not path.is_file():
            raise ModelNotFound(f"no trained model at {path}: run `tanya train` first")
        with rasa_imports():
            from rasa.core.channels.channel import UserMessage  # noqa: F401 (warm import)
            from rasa.engine import loader
            from rasa.engine.runner.dask import DaskGraphRunner

        workdir = tempfile.TemporaryDirectory(prefix="tanya-model-")
        try:
            metadata, runner = loader.load_predict_graph_runner(
                Path(workdir.name), path, _predict_storage(), DaskGraphRunner
            )
        except Exception as exc:  # tarfile, yaml, rasa errors: all mean "cannot use it"
            workdir.cleanup()
            raise ModelUnreadable(
                f"cannot load the model at {path} ({exc}): run `tanya train` to rebuild it"
            ) from exc
        if not metadata.nlu_target:
            workdir.cleanup()
            raise ModelUnreadable(f"{path} has no NLU model: run `tanya train` to rebuild it")
        return cls(path, runner, metadata.nlu_target, workdir)

    def parse(self, text: str) -> Parse:
        return self.parse_batch([text])[0]

    def parse_batch(self, texts: Sequence[str]) -> list[Parse]:
        """Classify several texts in one pass through the graph."""
        # Blank text has nothing to classify, and a message without features would fail
        # the whole batch in the classifier: it gets an empty ranking instead.
        readable = [text for text in texts if text.strip()]
        parsed = iter(self._run(readable) if readable else [])
        return [next(parsed) if text.strip() else Parse(text=text, ranking=()) for text in texts]

    def _run(self, texts: list[str]) -> list[Parse]:
        from rasa.core.channels.channel import UserMessage
        from rasa.shared.core.trackers import DialogueStateTracker

        messages = [UserMessage(text=text) for text in texts]
        results = self._runner.run(
            inputs={
                "__message__": messages,
                "__tracker__": DialogueStateTracker("tanya", slots=[]),
            },
            targets=[self._target],
        )
        return [
            _to_parse(text, message)
            for text, message in zip(texts, results[self._target], strict=True)
        ]


def _predict_storage() -> type:
    """Rasa's model storage, reading only the predict graph of the model's metadata.

    Rasa's own reads the training graph too, which names every component that training
    ran, the recipe's validators among them; importing those imports TensorFlow (see
    :data:`bot.nlu.environment.DEFERRED`). Parsing never runs the training graph, so it
    is left empty.
    """
    from rasa.engine.storage.local_model_storage import (
        MODEL_ARCHIVE_METADATA_FILE,
        LocalModelStorage,
    )
    from rasa.engine.storage.storage import ModelMetadata
    from rasa.shared.utils.io import read_json_file

    class PredictOnlyStorage(LocalModelStorage):
        @staticmethod
        def _load_metadata(directory: Path) -> ModelMetadata:
            serialized = read_json_file(directory / MODEL_ARCHIVE_METADATA_FILE)
            return ModelMetadata.from_dict(serialized | {"train_schema": {"nodes": {}}})

    return PredictOnlyStorage


def _to_parse(text: str, message: Any) -> Parse:
    ranking = message.get("intent_ranking") or []
    if not ranking and message.get("intent"):
        ranking = [message.get("intent")]
    scores = tuple(
        IntentScore(name=str(item["name"]), confidence=float(item.get("confidence") or 0.0))
        for item in ranking
        if item.get("name")
    )
    return Parse(text=text, ranking=scores)
