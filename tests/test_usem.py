"""The multilingual encoder (USE-m): offline, normalised, the same vector every time, an
Indonesian question close to its English translation, and a clear message when missing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from bot.nlu import usem
from bot.nlu.usem import DIMENSIONS, EncoderMissing, shared_encoder

SENTENCES = [
    "KTP saya hilang, bagaimana cara mengurus yang baru?",
    "I lost my ID card, how do I get a new one?",
    "Besok cuacanya bagaimana?",
    "kapan jadwal vaksin booster dibuka",
]


def test_embeddings_are_unit_vectors() -> None:
    vectors = shared_encoder().encode(SENTENCES)
    assert vectors.shape == (len(SENTENCES), DIMENSIONS)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)


def test_a_translation_is_closer_than_an_unrelated_sentence_in_the_same_language() -> None:
    lost_id, lost_en, weather_id, vaccine_id = shared_encoder().encode(SENTENCES)
    assert float(lost_id @ lost_en) > 0.55  # 0.63 measured
    assert float(lost_id @ lost_en) > max(lost_id @ weather_id, lost_id @ vaccine_id) + 0.3


def test_a_vector_does_not_depend_on_the_other_messages_encoded_with_it() -> None:
    encoder = shared_encoder()
    together = encoder.encode(SENTENCES, batch_size=4)
    alone = np.vstack([encoder.encode([s]) for s in SENTENCES])
    assert np.array_equal(together, alone)


def test_empty_and_huge_messages_get_a_vector() -> None:
    encoder = shared_encoder()
    empty, huge = encoder.encode(["", "   \n", "ktp " * 50_000])[[0, 2]]
    assert np.isfinite(empty).all() and np.isfinite(huge).all()
    assert np.array_equal(huge, encoder.encode(["ktp " * 250])[0])  # cut at MAX_CHARS


def test_a_missing_model_package_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == usem.MODEL_PACKAGE else real(name, *a),
    )
    with pytest.raises(EncoderMissing, match=r"scripts/install\.sh"):
        usem.model_file()
