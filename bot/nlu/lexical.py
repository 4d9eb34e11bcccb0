"""BM25 over FAQ entries, with word weights from the FAQ itself.

Each entry is one document: every training example of it (its questions, their variants
and its answer sentences) as word stems. A word's weight (IDF) comes from how many entries
use it, so a word that half the FAQ or more shares weighs nothing: no entry can win a
question on "coronavirus" when most entries' answers say it. The SVM learns weights from
examples and can pin such a word on the one entry whose question says it (a "magnet
entry"); this score cannot. The score is divided by what the question's own words could
reach at most, so it lies in [0, 1] whatever the question's length.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

K1 = 1.2
B = 0.75


def idf(document_frequency: int, documents: int) -> float:
    """Zero for words in half of the entries or more (not BM25's +1 form, which keeps
    them positive)."""
    return max(0.0, math.log((documents + 1) / (2 * document_frequency + 1)))


@dataclass
class LexicalIndex:
    """Per entry (class index ``rows``) saturated term weights, ready for a dot product."""

    vocabulary: dict[str, int]
    weights: np.ndarray  # classes x vocabulary: idf * saturated tf, 0 for other classes
    idf: np.ndarray  # vocabulary

    @classmethod
    def fit(
        cls,
        stems: Sequence[Sequence[str]],
        labels: Sequence[int],
        classes: int,
        is_entry: np.ndarray,
    ) -> LexicalIndex:
        """``stems`` per example, ``labels`` its class index; only classes marked in
        ``is_entry`` (FAQ entries) become documents."""
        counts: list[Counter[str]] = [Counter() for _ in range(classes)]
        for words, label in zip(stems, labels, strict=True):
            if is_entry[label]:
                counts[label].update(words)
        vocabulary: dict[str, int] = {}
        for counter in counts:
            for word in counter:
                vocabulary.setdefault(word, len(vocabulary))
        entries = int(is_entry.sum())
        frequency = np.zeros(len(vocabulary))
        for counter in counts:
            for word in counter:
                frequency[vocabulary[word]] += 1
        weights_idf = np.array([idf(int(f), entries) for f in frequency])
        lengths = np.array([sum(c.values()) for c in counts], dtype=float)
        average = lengths[is_entry].mean() if entries else 1.0
        weights = np.zeros((classes, len(vocabulary)), dtype=np.float32)
        for row, counter in enumerate(counts):
            norm = K1 * (1 - B + B * lengths[row] / max(average, 1e-9))
            for word, tf in counter.items():
                column = vocabulary[word]
                weights[row, column] = weights_idf[column] * tf * (K1 + 1) / (tf + norm)
        return cls(vocabulary, weights, weights_idf.astype(np.float32))

    def scores(self, stems: Sequence[Sequence[str]]) -> np.ndarray:
        """Messages x classes, each in [0, 1]: BM25 over the message's distinct known words,
        divided by the most those words could score (words no entry uses count too)."""
        query = np.zeros((len(stems), len(self.vocabulary)), dtype=np.float32)
        unknown = np.zeros(len(stems), dtype=np.float32)
        for row, words in enumerate(stems):
            for word in set(words):
                column = self.vocabulary.get(word)
                if column is not None:
                    query[row, column] = 1.0
                else:
                    unknown[row] += 1
        # A word no entry uses weighs as much as the rarest word could: a question about
        # something else entirely scores low even when one of its words is in the FAQ.
        rarest = float(self.idf.max()) if len(self.idf) else 0.0
        reachable = (query @ self.idf + unknown * rarest) * (K1 + 1)
        return np.asarray((query @ self.weights.T) / np.maximum(reachable, 1e-9)[:, None])
