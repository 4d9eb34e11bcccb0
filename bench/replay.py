"""Features of a FAQ's training examples and of held-out questions, cached for replays.

bench/fusion.py and bench/probe_kinds.py study how the classifier's parts should be
combined without retraining through Rasa each time: the FAQ's training data is written as
`tanya train` writes it, every example and question goes once through the trained
pipeline's tokenizer and featurizers, and the features are kept in bench/work. A replay
then fits :class:`bot.nlu.classifier.FaqClassifier`'s own code on them.
"""

from __future__ import annotations

import pickle
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from nlu import (  # noqa: E402
    WORK,
    first_only,
    halves,
    import_rows,
    prepare_project,
    reduced_faq,
    sample_dev,
    sample_test,
    stackfaq_rows,
)

from bot.evaluation import Example  # noqa: E402
from bot.faq.loader import read_faq  # noqa: E402
from bot.nlu import classifier as classifier_module  # noqa: E402
from bot.nlu.model import NluModel  # noqa: E402
from bot.nlu.train import train  # noqa: E402
from bot.nlu.trainingdata import write_data_folder  # noqa: E402


@dataclass
class Features:
    texts: list[str]
    sparse: sp.csr_matrix
    dense: np.ndarray
    stems: list[list[str]]


@dataclass
class FaqData:
    """One FAQ: its training examples (with labels and kinds) and its question sets."""

    name: str
    train: Features
    labels: list[str]
    kinds: list[tuple[str | None, int | None]]
    sets: dict[str, tuple[list[Example], Features]]


CAPTURED: list[tuple[Any, Any, list[list[str]]]] = []
_ORIGINAL_PROCESS = classifier_module.FaqClassifier.process


def _process(self: Any, messages: list[Any]) -> list[Any]:
    sparse, dense = self._features(messages)
    CAPTURED.append((sparse, dense, [classifier_module.message_stems(m) for m in messages]))
    return _ORIGINAL_PROCESS(self, messages)


def _load_capturing(path: Path) -> NluModel:
    """The model, with its classifier noting its inputs (Rasa binds ``process`` at load)."""
    classifier_module.FaqClassifier.process = _process  # type: ignore[method-assign]
    try:
        return NluModel.load(path)
    finally:
        classifier_module.FaqClassifier.process = _ORIGINAL_PROCESS  # type: ignore[method-assign]


def _capture(model: NluModel, texts: Sequence[str]) -> Features:
    """The classifier's inputs for ``texts``, taken from inside the trained pipeline."""
    CAPTURED.clear()
    for start in range(0, len(texts), 256):
        model.parse_batch(list(texts[start : start + 256]))
    captured = list(CAPTURED)
    return Features(
        list(texts),
        sp.vstack([c[0] for c in captured], format="csr"),
        np.vstack([c[1] for c in captured]),
        [s for c in captured for s in c[2]],
    )


def _training_examples(faq_dir: Path, project: Path) -> tuple[list[str], list[str], list[Any]]:
    from rasa.shared.nlu.constants import INTENT, TEXT
    from rasa.shared.nlu.training_data.loading import load_data

    with tempfile.TemporaryDirectory() as data:
        write_data_folder(read_faq(faq_dir), project, Path(data), variants=False)
        training = load_data(data)
    examples = [e for e in training.intent_examples if e.get(INTENT) and e.get(TEXT)]
    kinds = classifier_module.example_kinds(examples)
    return [e.get(TEXT) for e in examples], [e.get(INTENT) for e in examples], kinds


class _Unpickler(pickle.Unpickler):
    """Reads caches written while this file ran as ``__main__``."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "__main__" and name in ("FaqData", "Features"):
            return globals()[name]
        return super().find_class(module, name)


def build(
    name: str,
    faq_dir: Path,
    sets: dict[str, list[Example]],
    project: Path | None = None,
    trained: Path | None = None,
) -> FaqData:
    """``project`` and ``trained``: a prepared project and a model already trained on it
    (CLINC150 trains for minutes: bench/calibration.py's kept model is reused)."""
    cache = WORK / f"replay-{name}.pickle"
    if cache.is_file():
        with cache.open("rb") as file:
            data: FaqData = _Unpickler(file).load()
        return data
    if project is None:
        project = prepare_project(f"replay-{name}", ROOT / "rasa_project" / "config.yml", None)
    out = trained or project / "models" / "model.tar.gz"
    if trained is None:
        train(faq_dir, project, out, progress=lambda line: print("  " + line, flush=True))
    model = _load_capturing(out)
    texts, labels, kinds = _training_examples(faq_dir, project)
    data = FaqData(
        name,
        _capture(model, [m for m in texts]),
        labels,
        kinds,
        {
            key: (examples, _capture(model, [e.text for e in examples]))
            for key, examples in sets.items()
        },
    )
    with cache.open("wb") as file:
        pickle.dump(data, file)
    return data


def stackfaq() -> FaqData:
    rows, questions = stackfaq_rows()
    faq_dir = WORK / "replay-stackfaq" / "faq"
    import_rows(rows, faq_dir, "stackfaq")
    dev, test = halves(questions)
    return build("stackfaq", faq_dir, {"dev": dev, "test": test})


def sample_first() -> FaqData:
    faq_dir = WORK / "replay-sample-first" / "faq"
    reduced_faq(faq_dir, first_only)
    return build("sample-first", faq_dir, {"dev": sample_dev(), "test": sample_test()})


def sample_full() -> FaqData:
    return build("sample", ROOT / "faq", {"dev": sample_dev(), "test": sample_test()})


def clinc() -> FaqData:
    """CLINC150 Full on the model `bench/calibration.py clinc` trained and kept."""
    import calibration

    trained = WORK / "calibration-clinc.model.tar.gz"
    if not trained.is_file():
        raise SystemExit(f"{trained} missing: run bench/calibration.py clinc first")
    faq_dir, project, dev, test, _ = calibration.clinc()
    return build("clinc", faq_dir, {"dev": dev, "test": test}, project, trained)


DATASETS = {
    "stackfaq": stackfaq,
    "sample-first": sample_first,
    "sample": sample_full,
    "clinc": clinc,
}


if __name__ == "__main__":
    import replay  # the pickled classes must belong to this module's importable name

    for key in sys.argv[1:] or list(DATASETS):
        built = replay.DATASETS[key]()
        print(key, len(built.labels), "examples", {k: len(v[0]) for k, v in built.sets.items()})
