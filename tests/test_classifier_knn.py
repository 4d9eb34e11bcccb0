"""The nearest-example score of FaqClassifier (bot/nlu/classifier.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.svm import LinearSVC

from bot.nlu.classifier import FaqClassifier


def _classifier() -> FaqClassifier:
    storage: Any = None
    resource: Any = None
    classifier = FaqClassifier({"knn_weight": 1.0}, storage, resource)
    classifier.clf = LinearSVC().fit(np.eye(3), ["faq.b", "faq.a", "faq.b"])
    return classifier


def test_neighbours_are_grouped_by_class_and_give_the_best_cosine_per_class() -> None:
    classifier = _classifier()
    dense = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    classifier._fit_neighbours(dense, ["faq.b", "faq.a", "faq.b"])
    assert classifier.neighbour_starts is not None
    assert classifier.neighbour_starts.tolist() == [0, 1]  # faq.a first, as clf.classes_
    nearest = classifier._nearest(np.array([[0.0, 3.0], [5.0, 0.0]]))
    assert nearest is not None
    np.testing.assert_allclose(nearest, [[1.0, np.sqrt(0.5)], [0.0, 1.0]], atol=1e-6)


def test_no_neighbours_without_dense_features_or_weight() -> None:
    classifier = _classifier()
    classifier._fit_neighbours(None, ["faq.b", "faq.a", "faq.b"])
    assert classifier._nearest(np.ones((1, 2))) is None
    classifier.config["knn_weight"] = 0.0
    classifier._fit_neighbours(np.ones((3, 2)), ["faq.b", "faq.a", "faq.b"])
    assert classifier.neighbours is None
