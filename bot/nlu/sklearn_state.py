"""The classifier's fitted state as plain arrays and JSON, not pickles.

The model file is read at every start and by every worker. skops (which the classifier
used before) is safe, but importing it scans every loaded module once per type it
trusts: with Rasa and TensorFlow loaded, loading the sample model took 13.0 s of CPU
with skops and 11.2 s without (medians of 4 paired runs, 2 busy cores). The state is
small and of few kinds (a TF-IDF weighting, a linear model, arrays), so it is written
as an ``.npz`` archive read with ``allow_pickle=False``: loading a model file can never
run code, and anything but those kinds is refused when it is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

_ESTIMATORS: dict[str, type[Any]] = {
    "TfidfTransformer": TfidfTransformer,
    "LinearSVC": LinearSVC,
    "LogisticRegression": LogisticRegression,
}
# What makes each estimator fitted; everything else is in its constructor parameters.
_FITTED = {
    "TfidfTransformer": ("idf_",),
    "LinearSVC": ("coef_", "intercept_", "classes_"),
    "LogisticRegression": ("coef_", "intercept_", "classes_"),
}
_META = "__meta__"


def dump(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` (names to arrays, None, or the estimators above) to ``path``."""
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {}
    for name, value in state.items():
        if value is None:
            meta[name] = None
        elif isinstance(value, np.ndarray):
            meta[name] = {"array": True}
            arrays[name] = value
        else:
            kind = type(value).__name__
            if _ESTIMATORS.get(kind) is not type(value):
                raise TypeError(f"cannot store {name!r}: {type(value)!r} is not supported")
            params = {k: v for k, v in value.get_params().items() if _is_json(v)}
            meta[name] = {"estimator": kind, "params": params}
            for attribute in (*_FITTED[kind], "n_features_in_"):
                arrays[f"{name}.{attribute}"] = np.asarray(getattr(value, attribute))
    arrays[_META] = np.array(json.dumps(meta))
    with path.open("wb") as file:
        np.savez(file, **arrays)


def load(path: Path) -> dict[str, Any]:
    """The state ``dump`` wrote; ValueError when the file is not such a state."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(str(arrays.pop(_META)))
    except (OSError, KeyError, ValueError) as exc:  # ValueError: pickled data, bad JSON
        raise ValueError(f"{path} is not a classifier state: {exc}") from exc
    state: dict[str, Any] = {}
    for name, described in meta.items():
        if described is None:
            state[name] = None
        elif described.get("array"):
            state[name] = arrays[name]
        else:
            kind = described["estimator"]
            if kind not in _ESTIMATORS:
                raise ValueError(f"{path}: unknown estimator {kind!r} for {name!r}")
            estimator = _ESTIMATORS[kind](**described["params"])
            for attribute in (*_FITTED[kind], "n_features_in_"):
                value = arrays[f"{name}.{attribute}"]
                setattr(estimator, attribute, value.item() if value.ndim == 0 else value)
            state[name] = estimator
    return state


def _is_json(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
