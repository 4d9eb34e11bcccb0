"""Group similar questions into clusters, and tell which clusters grow fast.

Officials cannot read a thousand unanswered questions one by one; grouped by meaning they
see the twenty things citizens keep asking and can add an FAQ entry for each.

Two questions' similarity mixes two cosines: of their MiniLM sentence embeddings (the
meaning, but all-MiniLM-L6-v2 was trained on English) and of their words (TF-IDF over
chat-normalised, stemmed words and their character 3-5-grams, which catches Indonesian
questions that share words or misspellings of them). On the sample FAQ's Indonesian and
English example questions the embeddings alone reached an adjusted Rand index of 0.08,
the half-and-half mix 0.20, for 0.62 either way on CLINC150 (English): see
``bench/clusters.py``, which chose the weight and the distance, and its results.
Questions are then merged by agglomerative clustering with average linkage, cut at a
fixed distance: unlike k-means it needs no number of clusters, and its result depends
only on the input, so the same questions always give the same clusters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from bot.nlu.normalize import normalise_text, stem
from bot.privacy import mask

DEFAULT_DISTANCE = 0.7
DEFAULT_WORD_WEIGHT = 0.5
_MASKED = re.compile(r"\S*\*{3,}\S*")  # what bot.privacy.mask left of a NIK, phone...


def comparable(text: str) -> str:
    """``text`` without personal numbers and addresses (NIK, phone, e-mail): they say
    nothing about what is asked, and two questions with different phone numbers would
    otherwise look less alike (a NIK and a phone cut a match by a fifth)."""
    return " ".join(_MASKED.sub(" ", mask(text)).split())


def _words(text: str) -> str:
    """Chat spelling folded and Indonesian affixes stripped: "gmn bikin ktp" and
    "bagaimana pembuatan KTP" share words."""
    plain = "".join(ch if ch.isalnum() else " " for ch in text)
    return " ".join(stem(word) for word in normalise_text(plain).split())


def word_vectors(texts: Sequence[str]) -> csr_matrix:
    """L2-normalised TF-IDF of words and character 3-5-grams, fitted on ``texts`` alone."""
    words = [_words(text) for text in texts]
    if not any(words):
        return csr_matrix((len(texts), 1))
    parts = [
        TfidfVectorizer(sublinear_tf=True, token_pattern=r"(?u)\b\w+\b").fit_transform(words),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit_transform(
            words
        ),
    ]
    return csr_matrix(normalize(hstack(parts).tocsr()))


def similarities(
    texts: Sequence[str], vectors: np.ndarray, word_weight: float = DEFAULT_WORD_WEIGHT
) -> np.ndarray:
    """Pairwise similarity: ``word_weight`` of the words' cosine, the rest the embeddings'."""
    meaning = np.asarray(vectors @ vectors.T, dtype=np.float64)
    if word_weight <= 0:
        return meaning
    words = word_vectors(texts)
    shared = (words @ words.T).toarray()
    return (1 - word_weight) * meaning + word_weight * shared


def cluster_labels(
    texts: Sequence[str],
    vectors: np.ndarray,
    distance: float = DEFAULT_DISTANCE,
    word_weight: float = DEFAULT_WORD_WEIGHT,
) -> list[int]:
    """A cluster number per question (``vectors``: their L2-normalised embeddings).

    Questions closer than ``distance`` (1 - similarity, averaged over the two groups) end
    up together. Numbers follow first appearance, so they do not depend on the library's
    internal numbering.
    """
    return cut(similarities(texts, vectors, word_weight), distance)


def cut(similarity: np.ndarray, distance: float) -> list[int]:
    """Cluster numbers from a similarity matrix (see :func:`cluster_labels`)."""
    if len(similarity) < 2:
        return [0] * len(similarity)
    # Imported here: sklearn.cluster takes a few tenths of a second, at every start
    # otherwise, and clusters are made only when an official looks at them.
    from sklearn.cluster import AgglomerativeClustering

    apart = np.clip(1.0 - similarity, 0.0, None)
    np.fill_diagonal(apart, 0.0)
    model = AgglomerativeClustering(
        n_clusters=None, distance_threshold=distance, affinity="precomputed", linkage="average"
    )
    raw = model.fit_predict(apart)
    canonical: dict[int, int] = {}
    return [canonical.setdefault(int(label), len(canonical)) for label in raw]


def group(
    texts: Sequence[str],
    vectors: np.ndarray,
    distance: float = DEFAULT_DISTANCE,
    word_weight: float = DEFAULT_WORD_WEIGHT,
    min_size: int = 2,
) -> tuple[list[list[int]], list[int]]:
    """Clusters of question indices, largest first, each most typical question first; and
    the questions left over in clusters smaller than ``min_size`` (in input order).

    Ties between equally large clusters go to the one whose questions came last (the
    input is oldest first, so the most recent topic is shown first).
    """
    similarity = similarities(texts, vectors, word_weight)
    members: dict[int, list[int]] = {}
    for index, label in enumerate(cut(similarity, distance)):
        members.setdefault(label, []).append(index)
    clusters, rest = [], []
    for rows in members.values():
        if len(rows) < min_size:
            rest.extend(rows)
        else:
            clusters.append(_most_typical_first(similarity, rows))
    clusters.sort(key=lambda rows: (-len(rows), -max(rows)))
    return clusters, sorted(rest)


def _most_typical_first(similarity: np.ndarray, rows: list[int]) -> list[int]:
    """The questions ordered by their summed similarity to the others in the cluster: the
    best examples first."""
    scores = similarity[np.ix_(rows, rows)].sum(axis=1)
    order = sorted(range(len(rows)), key=lambda i: (-round(float(scores[i]), 6), -rows[i]))
    return [rows[i] for i in order]


@dataclass(frozen=True)
class Growth:
    """When a cluster counts as fast-growing: its rate per day over the last
    ``recent_days`` is at least ``factor`` times its rate over the days before, and at
    least ``min_questions`` were asked recently (three questions are no rumour yet)."""

    recent_days: int = 3
    factor: float = 3.0
    min_questions: int = 5

    def split(self, times: Sequence[datetime], now: datetime) -> tuple[int, int]:
        """How many of ``times`` fall in the recent days, and how many before them."""
        start = now - timedelta(days=self.recent_days)
        recent = sum(1 for moment in times if moment >= start)
        return recent, len(times) - recent

    def is_growing(self, recent: int, earlier: int, earlier_days: float) -> bool:
        if recent < self.min_questions:
            return False
        if earlier == 0 or earlier_days <= 0:
            return True  # new: nothing like it before
        return recent / self.recent_days >= self.factor * earlier / earlier_days
