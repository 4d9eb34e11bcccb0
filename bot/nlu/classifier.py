"""FaqClassifier: a linear classifier over TF-IDF-weighted n-grams and sentence embeddings.

Rasa's own LogisticRegressionClassifier works on raw counts with a fixed regularisation
(C=1) and balanced class weights. Measured on our data, that makes short messages ("ktp",
"pajak") fall into whichever class has the shortest examples (small talk), and it leaves
confidences too flat to separate answers from escalations. Here the sparse features are
TF-IDF weighted (sublinear) and L2-normalised, so the length of a message no longer
decides its class and words shared by every entry ("bagaimana", "cara") weigh little;
regularisation is a setting, chosen by measurement (docs/nlu.md).

With a dense featurizer (MiniLM) in the pipeline, each class's SVM score is also raised by
its nearest training example: ``knn_weight`` times the highest cosine between the message's
sentence embedding and the embeddings of that class's examples. The SVM weighs a class's
examples together; a citizen's question is often a close paraphrase of one example, and
that one close neighbour is evidence the linear score averages away. Measured on the
sample FAQ (docs/nlu.md), it put the right entry first more often and, more importantly,
raised the confidence of right answers over wrong ones, so the tuned threshold answers
more of them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

log = logging.getLogger(__name__)
MODEL_FILE = "faq_classifier.skops"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class FaqClassifier(IntentClassifier, GraphComponent):
    @classmethod
    def required_components(cls) -> list[type]:
        return [Featurizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # "svm": a linear SVM whose scores become probabilities by a softmax at
            # `temperature` (trains in seconds); "logistic": logistic regression.
            "estimator": "svm",
            # Inverse regularisation strength.
            "C": 0.5,
            "temperature": 0.2,
            # "balanced" weighs classes by their number of examples; null does not.
            "class_weight": "balanced",
            "max_iter": 1000,
            # Weight of dense sentence features (if a dense featurizer is in the pipeline)
            # against the L2-normalised sparse ones.
            "dense_weight": 1.0,
            # Weight of the nearest-example cosine (sentence embeddings) added to each
            # class's SVM score before the softmax; 0 turns it off. SVM only.
            "knn_weight": 0.0,
            "ranking_length": 10,
            "random_state": 42,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        tfidf: Any = None,
        clf: Any = None,
        neighbours: np.ndarray | None = None,
        neighbour_starts: np.ndarray | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.tfidf = tfidf
        self.clf = clf
        # Unit sentence embeddings of the training examples, grouped by class in the order
        # of ``clf.classes_``; ``neighbour_starts[i]`` is the first row of class i.
        self.neighbours = None if neighbours is None else np.asarray(neighbours, np.float32)
        self.neighbour_starts = neighbour_starts

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> FaqClassifier:
        return cls(config, model_storage, resource)

    def _features(self, messages: list[Message]) -> tuple[sp.csr_matrix | None, np.ndarray | None]:
        """The messages' sentence features as one sparse and one dense matrix.

        Rasa's ``Message.get_sparse_features`` would concatenate each message's featurizers
        one message at a time (a copy and an ``hstack`` each: 40 % of the classifier's time
        on a batch of 256). Stacking each featurizer's rows first and concatenating once
        gives the same matrix.
        """
        sparse_by_origin: dict[str, list[Any]] = {}
        dense_by_origin: dict[str, list[Any]] = {}
        for message in messages:
            for feature in message.features:
                if feature.attribute != TEXT or feature.type != FEATURE_TYPE_SENTENCE:
                    continue
                by_origin = sparse_by_origin if feature.is_sparse() else dense_by_origin
                by_origin.setdefault(str(feature.origin), []).append(feature.features)
        sparse_matrix = dense_matrix = None
        if sparse_by_origin:
            blocks = [sp.vstack(rows, format="csr") for rows in sparse_by_origin.values()]
            self._check_rows(blocks, len(messages))
            sparse_matrix = sp.hstack(blocks, format="csr")
        if dense_by_origin:
            arrays = [np.vstack(rows) for rows in dense_by_origin.values()]
            self._check_rows(arrays, len(messages))
            dense_matrix = np.hstack(arrays)
        return sparse_matrix, dense_matrix

    @staticmethod
    def _check_rows(blocks: list[Any], expected: int) -> None:
        """Every featurizer must have featurised every message, or rows would shift."""
        if any(block.shape[0] != expected for block in blocks):
            raise ValueError(
                "FaqClassifier: a featurizer left some messages without sentence features"
            )

    def _design(
        self,
        sparse_matrix: sp.csr_matrix | None,
        dense_matrix: np.ndarray | None,
        fit: bool,
    ) -> sp.csr_matrix:
        parts = []
        if sparse_matrix is not None:
            if fit:
                self.tfidf = TfidfTransformer(sublinear_tf=True)
                self.tfidf.fit(sparse_matrix)
            parts.append(normalize(self.tfidf.transform(sparse_matrix)))
        if dense_matrix is not None:
            weighted = normalize(dense_matrix) * float(self.config["dense_weight"])
            parts.append(sp.csr_matrix(weighted))
        if not parts:
            raise ValueError("FaqClassifier needs a featurizer before it in the pipeline")
        return sp.hstack(parts).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            return self._resource
        sparse_matrix, dense_matrix = self._features(examples)
        X = self._design(sparse_matrix, dense_matrix, fit=True)
        y = [e.get(INTENT) for e in examples]
        common = {
            "C": float(self.config["C"]),
            "max_iter": int(self.config["max_iter"]),
            "random_state": int(self.config["random_state"]),
            "class_weight": self.config["class_weight"],
        }
        if self.config["estimator"] == "svm":
            self.clf = LinearSVC(**common)
        else:
            self.clf = LogisticRegression(**common)
        self.clf.fit(X, y)
        self._fit_neighbours(dense_matrix, y)
        self.persist()
        return self._resource

    def _fit_neighbours(self, dense: np.ndarray | None, y: list[str]) -> None:
        """Keep the examples' unit embeddings, grouped by class, for the nearest-example
        score (only with an SVM, a dense featurizer and ``knn_weight`` > 0)."""
        self.neighbours = self.neighbour_starts = None
        knn_weight = float(self.config["knn_weight"])
        if dense is None or not isinstance(self.clf, LinearSVC) or knn_weight <= 0:
            return
        index = {label: i for i, label in enumerate(self.clf.classes_)}
        labels = np.array([index[label] for label in y])
        order = np.argsort(labels, kind="stable")
        self.neighbours = normalize(dense[order]).astype(np.float32)
        self.neighbour_starts = np.searchsorted(labels[order], np.arange(len(index)))

    def _nearest(self, dense: np.ndarray | None) -> np.ndarray | None:
        """Per message and class, the highest cosine to one of the class's examples."""
        if dense is None or self.neighbours is None or self.neighbour_starts is None:
            return None
        vectors = np.asarray(dense, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        similarities = (vectors / np.maximum(norms, 1e-12)) @ self.neighbours.T
        return np.maximum.reduceat(similarities, self.neighbour_starts, axis=1)

    def process(self, messages: list[Message]) -> list[Message]:
        if self.clf is None or not messages:
            return messages
        sparse_matrix, dense_matrix = self._features(messages)
        probabilities = self._probabilities(
            self._design(sparse_matrix, dense_matrix, fit=False), self._nearest(dense_matrix)
        )
        classes = self.clf.classes_
        length = int(self.config["ranking_length"]) or len(classes)
        for message, row in zip(messages, probabilities, strict=True):
            order = np.argsort(-row)[:length]
            ranking = [{"name": str(classes[i]), "confidence": float(row[i])} for i in order]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages

    def _probabilities(self, X: sp.csr_matrix, nearest: np.ndarray | None = None) -> np.ndarray:
        if isinstance(self.clf, LinearSVC):
            scores = np.atleast_2d(self.clf.decision_function(X))
            if nearest is not None:
                scores = scores + float(self.config["knn_weight"]) * nearest
            scores = scores / float(self.config["temperature"])
            scores -= scores.max(axis=1, keepdims=True)
            exp = np.exp(scores)
            return np.asarray(exp / exp.sum(axis=1, keepdims=True))
        return np.asarray(self.clf.predict_proba(X))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def persist(self) -> None:
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as directory:
            state = {"tfidf": self.tfidf, "clf": self.clf}
            if self.neighbours is not None:
                # Half precision halves the model file; cosines move by about 1e-3.
                state["neighbours"] = self.neighbours.astype(np.float16)
                state["neighbour_starts"] = self.neighbour_starts
            sio.dump(state, directory / MODEL_FILE)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> FaqClassifier:
        import skops.io as sio

        try:
            with model_storage.read_from(resource) as directory:
                path = directory / MODEL_FILE
                untrusted = sio.get_untrusted_types(file=path)
                unexpected = [
                    t
                    for t in untrusted
                    if not t.startswith(("sklearn.", "numpy.", "scipy.sparse."))
                ]
                if unexpected:
                    raise ValueError(f"unexpected types in {path}: {unexpected}")
                state = sio.load(path, trusted=untrusted)
        except ValueError as exc:
            log.warning("FaqClassifier: no trained state (%s); it will predict nothing", exc)
            return cls(config, model_storage, resource)
        return cls(
            config,
            model_storage,
            resource,
            tfidf=state["tfidf"],
            clf=state["clf"],
            neighbours=state.get("neighbours"),
            neighbour_starts=state.get("neighbour_starts"),
        )
