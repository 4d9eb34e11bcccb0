"""The multilingual encoder (USE-m): offline, normalised, the same vector every time, an
Indonesian question close to its English translation, and a clear message when missing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from bot.nlu import usem
from bot.nlu.usem import DIMENSIONS, EncoderMissing, UniversalSentenceEncoder, shared_encoder

QUESTIONS = Path(__file__).parent.parent / "bench" / "data" / "sample_test.jsonl"

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
    questions = [json.loads(line)["text"] for line in QUESTIONS.read_text().splitlines()]
    together = encoder.encode(questions, batch_size=16)
    alone = np.vstack([encoder.encode([q]) for q in questions])
    # Up to float rounding across an 8-bit step (see UniversalSentenceEncoder.encode).
    assert np.abs(together - alone).max() < 0.005
    assert (together * alone).sum(axis=1).min() > 0.9999


def test_the_rewritten_graph_gives_the_shipped_models_vectors() -> None:
    """Per-row quantisation must not change what the model says, only how it batches."""
    import onnxruntime as ort
    from onnxruntime_extensions import get_library_path

    options = ort.SessionOptions()
    options.register_custom_ops_library(get_library_path())
    shipped = ort.InferenceSession(str(usem.model_file()), options)
    original = np.vstack(
        [shipped.run(["outputs"], {"inputs": np.array([s], dtype=object)})[0] for s in SENTENCES]
    )
    original /= np.linalg.norm(original, axis=1, keepdims=True)
    rewritten = shared_encoder().encode(SENTENCES)
    assert (original * rewritten).sum(axis=1).min() > 0.99  # 0.996 measured


def test_the_rewritten_graph_is_cached_and_an_unwritable_cache_is_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = UniversalSentenceEncoder()
    assert len(list((tmp_path / "cache" / "tanya").glob("*.onnx"))) == 1

    def no_rewrite(*args: object) -> None:
        raise AssertionError("the cached graph should have been used")

    with monkeypatch.context() as patch:
        patch.setattr(usem, "per_row_quantised", no_rewrite)
        UniversalSentenceEncoder()

    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    in_memory = UniversalSentenceEncoder()
    assert np.allclose(in_memory.encode(SENTENCES), first.encode(SENTENCES))


def test_empty_and_huge_messages_get_a_vector() -> None:
    encoder = shared_encoder()
    empty, huge = encoder.encode(["", "   \n", "ktp " * 50_000])[[0, 2]]
    assert np.isfinite(empty).all() and np.isfinite(huge).all()
    cut = encoder.encode(["ktp " * 250])[0]  # what is left after MAX_CHARS
    assert np.array_equal(encoder.encode(["ktp " * 50_000])[0], cut)


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
