"""Retraining embeds only new examples: the cache beside the model keeps the rest."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.nlu.embedding_cache import cached_encode


class CountingEncoder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += texts
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], dtype=np.float32)


def test_only_unseen_texts_are_encoded_and_results_match(tmp_path: Path) -> None:
    cache = tmp_path / "embeddings.npz"
    encoder = CountingEncoder()
    first = cached_encode(["ktp hilang", "akta lahir", "ktp hilang"], encoder, "m1", cache)
    assert encoder.seen == ["akta lahir", "ktp hilang"]  # each distinct text once
    encoder.seen.clear()
    second = cached_encode(["akta lahir", "ktp hilang", "pasar malam"], encoder, "m1", cache)
    assert encoder.seen == ["pasar malam"]
    assert np.array_equal(second[:2], first[[1, 0]])
    assert np.array_equal(second[2], encoder(["pasar malam"])[0])


def test_another_encoder_or_a_damaged_file_starts_afresh(tmp_path: Path) -> None:
    cache = tmp_path / "embeddings.npz"
    encoder = CountingEncoder()
    cached_encode(["ktp hilang"], encoder, "m1", cache)
    encoder.seen.clear()
    cached_encode(["ktp hilang"], encoder, "m2", cache)  # other weights: not reused
    assert encoder.seen == ["ktp hilang"]
    cache.write_bytes(b"not a numpy file")
    encoder.seen.clear()
    result = cached_encode(["ktp hilang"], encoder, "m2", cache)
    assert encoder.seen == ["ktp hilang"] and result.shape == (1, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["embeddings.npz"]  # no temp files left
