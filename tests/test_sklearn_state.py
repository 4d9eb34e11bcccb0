"""The classifier's state file: what is written is what is read, and nothing else is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from bot.nlu import sklearn_state


def _fitted() -> tuple[np.ndarray, list[str], dict[str, object]]:
    rng = np.random.default_rng(0)
    counts = rng.poisson(1.0, size=(60, 12)).astype(float)
    labels = [f"entry-{i % 4}" for i in range(60)]
    tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
    X = tfidf.transform(counts)
    state = {
        "tfidf": tfidf,
        "svm": LinearSVC(C=0.5, random_state=0).fit(X, labels),
        "logreg": LogisticRegression(max_iter=500).fit(X, labels),
        "neighbours": rng.normal(size=(5, 3)).astype(np.float16),
        "words": np.array(["ktp", "vaksin"], dtype=np.str_),
        "missing": None,
    }
    return counts, labels, state


def test_a_stored_model_decides_exactly_as_the_trained_one(tmp_path: Path) -> None:
    counts, _, state = _fitted()
    sklearn_state.dump(state, tmp_path / "state.npz")
    loaded = sklearn_state.load(tmp_path / "state.npz")
    X = state["tfidf"].transform(counts)  # type: ignore[attr-defined]
    X_loaded = loaded["tfidf"].transform(counts)
    assert abs(X - X_loaded).max() == 0
    np.testing.assert_array_equal(
        loaded["svm"].decision_function(X),
        state["svm"].decision_function(X),  # type: ignore[attr-defined]
    )
    np.testing.assert_array_equal(
        loaded["logreg"].predict_proba(X),
        state["logreg"].predict_proba(X),  # type: ignore[attr-defined]
    )
    assert list(loaded["svm"].predict(X)) == list(state["svm"].predict(X))  # type: ignore[attr-defined]
    assert loaded["neighbours"].dtype == np.float16
    assert list(loaded["words"]) == ["ktp", "vaksin"]
    assert loaded["missing"] is None


def test_other_objects_are_refused_when_written(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="StandardScaler"):
        sklearn_state.dump({"scaler": StandardScaler().fit([[1.0], [2.0]])}, tmp_path / "s.npz")


def test_a_file_that_is_not_a_state_is_refused_without_running_it(tmp_path: Path) -> None:
    # An archive holding a pickled object: loading it would run code, so it is refused.
    evil = tmp_path / "evil.npz"
    np.savez(evil, __meta__=np.array(["{}"]), payload=np.array([object()], dtype=object))
    with pytest.raises(ValueError):
        sklearn_state.load(evil)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a classifier state"):
        sklearn_state.load(garbage)
