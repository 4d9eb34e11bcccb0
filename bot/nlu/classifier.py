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

Each FAQ entry's score is also raised by a lexical score (``lexical_weight`` times BM25
over the entry's examples, with word weights from the FAQ itself: bot/nlu/lexical.py), so
that a word most entries share cannot pull questions to the one entry whose question says
it. After training, the classifier measures itself on held-out parts of its own training
data and calibrates the decision thresholds (bot/nlu/calibration.py, `_calibrate`).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    INTENT,
    METADATA,
    METADATA_INTENT,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from bot.nlu import sklearn_state
from bot.nlu.calibration import (
    CALIBRATION_ENV,
    DEFAULT_MAX_WRONG_ANSWERS,
    MAX_WRONG_ENV,
    PROBES_ENV,
    Calibration,
    Probe,
    calibrate,
)
from bot.nlu.lexical import LexicalIndex
from bot.nlu.trainingdata import parse_kind_codes

log = logging.getLogger(__name__)
MODEL_FILE = "faq_classifier.npz"
# Models trained before the state was plain arrays (read with skops, slower to import).
LEGACY_MODEL_FILE = "faq_classifier.skops"
FAQ_PREFIX = "faq."
SMALLTALK_PREFIX = "chat."
# The answerer's default small-talk threshold: a probe that is confidently small talk is
# not answered from the FAQ.
SMALLTALK_THRESHOLD = 0.5
CALIBRATION_FOLDS = 5
MIN_ENTRIES_FOR_SHARED = 6


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
            # Weight of the lexical score (BM25 with word weights from the FAQ, in [0, 1])
            # added to each FAQ entry's score; 0 turns it off. SVM only.
            "lexical_weight": 0.0,
            # N-grams used by at least this share of the FAQ entries get no weight in the
            # SVM (with 6 entries or more); 0 keeps them.
            "shared_share": 0.0,
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
        lexical: LexicalIndex | None = None,
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
        self.lexical = lexical

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
        labels: list[str] | None = None,
    ) -> sp.csr_matrix:
        parts = []
        if sparse_matrix is not None:
            if fit:
                self.tfidf = TfidfTransformer(sublinear_tf=True)
                self.tfidf.fit(sparse_matrix)
                if labels is not None:
                    self._drop_shared(sparse_matrix, labels)
            parts.append(normalize(self.tfidf.transform(sparse_matrix)))
        if dense_matrix is not None:
            weighted = normalize(dense_matrix) * float(self.config["dense_weight"])
            parts.append(sp.csr_matrix(weighted))
        if not parts:
            raise ValueError("FaqClassifier needs a featurizer before it in the pipeline")
        return sp.hstack(parts).tocsr()

    def _drop_shared(self, sparse_matrix: sp.csr_matrix, labels: list[str]) -> None:
        """Give no weight to n-grams that ``shared_share`` of the FAQ entries or more use.

        The SVM would otherwise pin such a word on the entry whose few examples all say it
        (a magnet entry: "What is a coronavirus?" when every answer says "coronavirus"),
        and every question with the word would go there. Setting its IDF to 0 keeps the
        vectorizer's vocabulary as it is.
        """
        share = float(self.config["shared_share"])
        entries = sorted({label for label in labels if label.startswith(FAQ_PREFIX)})
        if share <= 0 or len(entries) < MIN_ENTRIES_FOR_SHARED or self.tfidf is None:
            return
        index = {entry: i for i, entry in enumerate(entries)}
        rows = [i for i, label in enumerate(labels) if label in index]
        membership = sp.csr_matrix(
            (np.ones(len(rows)), ([index[labels[i]] for i in rows], rows)),
            shape=(len(entries), sparse_matrix.shape[0]),
        )
        present = (membership @ (sparse_matrix > 0).astype(np.float64)) > 0
        frequency = np.asarray(present.sum(axis=0)).ravel()
        idf = np.array(self.tfidf.idf_, copy=True)
        idf[frequency >= share * len(entries)] = 0.0
        self.tfidf.idf_ = idf

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            return self._resource
        sparse_matrix, dense_matrix = self._features(examples)
        stems = [message_stems(e) for e in examples]
        y = [e.get(INTENT) for e in examples]
        self._fit(sparse_matrix, dense_matrix, stems, y)
        self.persist()
        calibration_file = os.environ.get(CALIBRATION_ENV)
        if calibration_file:
            calibration = self._calibrate(examples, sparse_matrix, dense_matrix, stems, y)
            if calibration is not None:
                Path(calibration_file).write_text(
                    json.dumps(calibration.to_json(), indent=2), encoding="utf-8"
                )
        return self._resource

    def _fit(
        self,
        sparse_matrix: sp.csr_matrix | None,
        dense_matrix: np.ndarray | None,
        stems: list[list[str]],
        y: list[str],
    ) -> None:
        X = self._design(sparse_matrix, dense_matrix, fit=True, labels=y)
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
        self._fit_lexical(stems, y)

    def _fit_lexical(self, stems: list[list[str]], y: list[str]) -> None:
        self.lexical = None
        if float(self.config["lexical_weight"]) <= 0 or not isinstance(self.clf, LinearSVC):
            return
        index = {label: i for i, label in enumerate(self.clf.classes_)}
        is_entry = np.array([str(c).startswith(FAQ_PREFIX) for c in self.clf.classes_])
        self.lexical = LexicalIndex.fit(stems, [index[label] for label in y], len(index), is_entry)

    def _calibrate(
        self,
        examples: list[Message],
        sparse_matrix: sp.csr_matrix | None,
        dense_matrix: np.ndarray | None,
        stems: list[list[str]],
        y: list[str],
    ) -> Calibration | None:
        """Measure the classifier on parts of its own data it did not train on, and
        choose the thresholds for the budget of wrong answers (bot/nlu/calibration.py).

        In each of the folds a fifth of the entries is left out whole (their questions
        stand for questions the FAQ does not answer, the hardest kind: close to what it
        does answer), every other entry leaves out one of its own questions with that
        question's variants, or, when it has only one question, one of its answer
        sentences (without its question an entry has only its answer to be found by,
        which would make the probe far harder than a citizen's rewording), and a fifth
        of the small-talk and out-of-scope lines is left out. The model is fitted on the
        rest and asked what was left out.
        """
        probes = self._probes(example_kinds(examples), sparse_matrix, dense_matrix, stems, y)
        if probes is None:
            return None
        in_scope, out_of_scope = probes
        budget = float(os.environ.get(MAX_WRONG_ENV, DEFAULT_MAX_WRONG_ANSWERS))
        if probes_file := os.environ.get(PROBES_ENV):
            # For the benchmarks: the probes themselves, to study the rule without training.
            Path(probes_file).write_text(
                json.dumps({"in_scope": in_scope, "out_of_scope": out_of_scope}, default=vars),
                encoding="utf-8",
            )
        return calibrate(in_scope, out_of_scope, budget)

    def _probes(
        self,
        kinds: list[tuple[str | None, int | None]],
        sparse_matrix: sp.csr_matrix | None,
        dense_matrix: np.ndarray | None,
        stems: list[list[str]],
        y: list[str],
    ) -> tuple[list[Probe], list[Probe]] | None:
        """The cross-validation probes :meth:`_calibrate` describes (in scope, out of
        scope); ``None`` when the FAQ has too few entries or no example questions."""
        entries = sorted({label for label in y if label.startswith(FAQ_PREFIX)})
        if len(entries) < 2 or not any(kind == "question" for kind, _ in kinds):
            return None
        folds = CALIBRATION_FOLDS
        order = np.random.RandomState(int(self.config["random_state"])).permutation(len(entries))
        entry_fold = {entry: int(rank) % folds for entry, rank in zip(entries, order, strict=True)}
        questions = Counter(
            label for label, (kind, _) in zip(y, kinds, strict=True) if kind == "question"
        )
        answers: Counter[str] = Counter()
        held_out: list[int] = []  # the fold in which the example is left out alone, or -1
        removed: list[int] = []  # the fold in which its whole entry is left out, or -1
        others = 0
        for label, (kind, source) in zip(y, kinds, strict=True):
            if label in entry_fold:
                fold = entry_fold[label]
                removed.append(fold)
                if questions[label] == 1:
                    # Its only question stays: an answer sentence stands in for a question.
                    own = kind == "answer"
                    if own:
                        source = answers[label]
                        answers[label] += 1
                else:
                    own = kind in ("question", "variant") and source is not None
                held_out.append((fold + 1 + (source or 0) % (folds - 1)) % folds if own else -1)
            else:
                removed.append(-1)
                held_out.append(others % folds)
                others += 1
        in_scope: list[Probe] = []
        out_of_scope: list[Probe] = []
        saved = (self.tfidf, self.clf, self.neighbours, self.neighbour_starts, self.lexical)
        try:
            for fold in range(folds):
                rows = range(len(y))
                train_rows = [i for i in rows if fold not in (removed[i], held_out[i])]
                probe_rows = [
                    i
                    for i in rows
                    if (removed[i] == fold and kinds[i][0] == "question")
                    or (held_out[i] == fold and kinds[i][0] in ("question", "answer", None))
                ]
                if not probe_rows or len({y[i] for i in train_rows}) < 2:
                    continue
                self._fit(
                    _rows(sparse_matrix, train_rows),
                    _rows(dense_matrix, train_rows),
                    [stems[i] for i in train_rows],
                    [y[i] for i in train_rows],
                )
                probabilities = self._scores(
                    _rows(sparse_matrix, probe_rows),
                    _rows(dense_matrix, probe_rows),
                    [stems[i] for i in probe_rows],
                )
                for i, row in zip(probe_rows, probabilities, strict=True):
                    probe = self._probe(row, y[i] if removed[i] != fold else None)
                    if removed[i] == fold:
                        probe = replace(probe, near_miss=True)
                    (in_scope if probe.expected else out_of_scope).append(probe)
        finally:
            self.tfidf, self.clf, self.neighbours, self.neighbour_starts, self.lexical = saved
        return in_scope, out_of_scope

    def _probe(self, row: np.ndarray, expected: str | None) -> Probe:
        """A held-out example's FAQ ranking as the answerer would see it."""
        assert self.clf is not None
        classes = self.clf.classes_
        order = np.argsort(-row)
        if expected is not None and not expected.startswith(FAQ_PREFIX):
            expected = None
        if str(classes[order[0]]).startswith(SMALLTALK_PREFIX) and row[order[0]] >= (
            SMALLTALK_THRESHOLD
        ):
            return Probe((), (), expected)
        shown = order[: int(self.config["ranking_length"]) or len(order)]
        faq = [i for i in shown if str(classes[i]).startswith(FAQ_PREFIX)]
        return Probe(
            tuple(str(classes[i]) for i in faq), tuple(float(row[i]) for i in faq), expected
        )

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
        probabilities = self._scores(
            sparse_matrix, dense_matrix, [message_stems(m) for m in messages]
        )
        classes = self.clf.classes_
        length = int(self.config["ranking_length"]) or len(classes)
        for message, row in zip(messages, probabilities, strict=True):
            order = np.argsort(-row)[:length]
            ranking = [{"name": str(classes[i]), "confidence": float(row[i])} for i in order]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages

    def _scores(
        self,
        sparse_matrix: sp.csr_matrix | None,
        dense_matrix: np.ndarray | None,
        stems: list[list[str]],
    ) -> np.ndarray:
        lexical = None
        if self.lexical is not None:
            lexical = float(self.config["lexical_weight"]) * self.lexical.scores(stems)
        return self._probabilities(
            self._design(sparse_matrix, dense_matrix, fit=False),
            self._nearest(dense_matrix),
            lexical,
        )

    def _probabilities(
        self,
        X: sp.csr_matrix,
        nearest: np.ndarray | None = None,
        lexical: np.ndarray | None = None,
    ) -> np.ndarray:
        if isinstance(self.clf, LinearSVC):
            scores = np.atleast_2d(self.clf.decision_function(X))
            if scores.shape[1] == 1:  # two classes: one column, the second class's score
                scores = np.hstack([-scores, scores])
            if nearest is not None:
                scores = scores + float(self.config["knn_weight"]) * nearest
            if lexical is not None:
                scores = scores + lexical
            scores = scores / float(self.config["temperature"])
            scores -= scores.max(axis=1, keepdims=True)
            exp = np.exp(scores)
            return np.asarray(exp / exp.sum(axis=1, keepdims=True))
        assert self.clf is not None
        return np.asarray(self.clf.predict_proba(X))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            state = {"tfidf": self.tfidf, "clf": self.clf}
            if self.neighbours is not None:
                # Half precision halves the model file; cosines move by about 1e-3.
                state["neighbours"] = self.neighbours.astype(np.float16)
                state["neighbour_starts"] = self.neighbour_starts
            if self.lexical is not None:
                state["lexical_words"] = np.array(list(self.lexical.vocabulary), dtype=np.str_)
                state["lexical_weights"] = self.lexical.weights
                state["lexical_idf"] = self.lexical.idf
            sklearn_state.dump(state, directory / MODEL_FILE)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> FaqClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                if (directory / MODEL_FILE).is_file():
                    state = sklearn_state.load(directory / MODEL_FILE)
                else:
                    state = _legacy_state(directory / LEGACY_MODEL_FILE)
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
            lexical=_lexical_from(state),
        )


def _legacy_state(path: Path) -> dict[str, Any]:
    """A model trained by an earlier version (until it is retrained: ``tanya train``)."""
    import skops.io as sio

    if not path.is_file():
        raise ValueError(f"{path.parent} holds no classifier state")
    untrusted = sio.get_untrusted_types(file=path)
    unexpected = [t for t in untrusted if not t.startswith(("sklearn.", "numpy.", "scipy.sparse."))]
    if unexpected:
        raise ValueError(f"unexpected types in {path}: {unexpected}")
    return dict(sio.load(path, trusted=untrusted))


def message_stems(message: Message) -> list[str]:
    """The message's word stems (ChatTokenizer puts them in the tokens' lemmas)."""
    tokens = message.get(TOKENS_NAMES[TEXT]) or []
    return [str(t.lemma or t.text).casefold() for t in tokens]


def example_kinds(messages: list[Message]) -> list[tuple[str | None, int | None]]:
    """(kind, source) of each example, from its intent's metadata (bot/nlu/trainingdata.py
    lists the kinds of an entry's examples in their order); (None, None) for hand-written
    examples, or when the counts do not match."""
    # Keyed by intent and codes: the generated variants of an entry come in a block of
    # their own (another file), with codes of their own.
    seen: Counter[tuple[str, str]] = Counter()
    parsed: dict[tuple[str, str], list[tuple[str, int | None]]] = {}
    result: list[tuple[str | None, int | None]] = []
    for message in messages:
        intent = str(message.get(INTENT))
        metadata = (message.get(METADATA) or {}).get(METADATA_INTENT)
        codes = metadata.get("kinds") if isinstance(metadata, dict) else None
        if not isinstance(codes, str):
            result.append((None, None))
            continue
        key = (intent, codes)
        kinds = parsed.setdefault(key, parse_kind_codes(codes))
        index = seen[key]
        seen[key] += 1
        result.append(kinds[index] if index < len(kinds) else (None, None))
    return result


def _rows(matrix: Any, rows: list[int]) -> Any:
    return None if matrix is None else matrix[rows]


def _lexical_from(state: dict[str, Any]) -> LexicalIndex | None:
    if "lexical_words" not in state:
        return None
    words = [str(w) for w in state["lexical_words"]]
    return LexicalIndex(
        {word: i for i, word in enumerate(words)},
        np.asarray(state["lexical_weights"], dtype=np.float32),
        np.asarray(state["lexical_idf"], dtype=np.float32),
    )
