"""MiniLM's transformer layers on ONNX Runtime, optionally with 8-bit weights.

The numpy encoder (:mod:`bot.nlu.minilm`) spends ~7 ms of CPU per message, most of it in
float32 matrix products; that alone held the whole bot under 100 messages/s on 2 cores.
The same network, written here as an ONNX graph from the same safetensors weights, runs
on ONNX Runtime's CPU kernels about twice as fast in float32 (identical vectors, cosine
> 0.99999), and about four times as fast with its weight matrices quantised to int8 per
output channel (cosine ~0.99 to the float vectors; bench/nlu.py measures what that does to
answers). The graph is built in memory when the encoder loads (a second or two), so there is
no second copy of the model to download, ship or keep in step.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

PRECISIONS = ("float32", "int8")
_OPSET = 17


def build_graph(
    weights: dict[str, np.ndarray],
    heads: int,
    head_size: int,
    layers: int,
    embedded_input: bool = False,
    epsilon: float = 1e-12,
) -> bytes:
    """The BERT encoder (embeddings, ``layers`` attention blocks) as a serialised ONNX
    model with inputs ``ids`` [batch, length], ``positions`` [length] and ``mask``
    [batch, length], and output ``hidden`` [batch, length, hidden size].

    With ``embedded_input`` the input is ``words`` [batch, length, hidden size], the
    pieces' word embeddings looked up by the caller: a 250,000-piece table (e5's) would
    take 380 MB as a float constant of the graph."""
    from onnx import TensorProto, checker, helper, numpy_helper

    initializers: list[Any] = []
    nodes: list[Any] = []

    def constant(name: str, value: np.ndarray | np.generic) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], domain: str | None = None, **attributes: Any) -> str:
        output = f"{op}_{len(nodes)}"
        nodes.append(
            helper.make_node(op, inputs, [output], name=output, domain=domain, **attributes)
        )
        return output

    def norm(x: str, prefix: str) -> str:
        scale = constant(prefix + ".weight", weights[prefix + ".weight"])
        bias = constant(prefix + ".bias", weights[prefix + ".bias"])
        return node("LayerNormalization", [x, scale, bias], epsilon=epsilon, axis=-1)

    def dense(x: str, prefix: str) -> str:
        product = node("MatMul", [x, constant(prefix + ".weight", weights[prefix + ".weight"].T)])
        return node("Add", [product, constant(prefix + ".bias", weights[prefix + ".bias"])])

    if embedded_input:
        words = "words"
    else:
        table = constant("word", weights["embeddings.word_embeddings.weight"])
        words = node("Gather", [table, "ids"])
    places = node(
        "Gather",
        [constant("position", weights["embeddings.position_embeddings.weight"]), "positions"],
    )
    segment = constant("segment", weights["embeddings.token_type_embeddings.weight"][0])
    h = norm(node("Add", [node("Add", [words, places]), segment]), "embeddings.LayerNorm")
    # Padding positions get -1e9 before the softmax: [batch, 1, 1, length].
    padding = node(
        "Mul",
        [
            node("Sub", [constant("one", np.float32(1)), "mask"]),
            constant("minus", np.float32(-1e9)),
        ],
    )
    padding = node("Unsqueeze", [padding, constant("axes", np.array([1, 2], dtype=np.int64))])
    scale = constant("scale", np.float32(1.0 / np.sqrt(head_size)))
    shape = constant("shape", np.array([0, 0, 3, heads, head_size], dtype=np.int64))
    merge = constant("merge", np.array([0, 0, heads * head_size], dtype=np.int64))
    which = [constant(f"part{n}", np.array(n, dtype=np.int64)) for n in range(3)]
    for i in range(layers):
        p = f"encoder.layer.{i}."
        # Query, key and value in one product: [batch, length, 3 * hidden].
        parts = [weights[f"{p}attention.self.{n}.weight"] for n in ("query", "key", "value")]
        biases = [weights[f"{p}attention.self.{n}.bias"] for n in ("query", "key", "value")]
        qkv = node("MatMul", [h, constant(f"{p}qkv.weight", np.concatenate(parts).T)])
        qkv = node("Add", [qkv, constant(f"{p}qkv.bias", np.concatenate(biases))])
        # -> [3, batch, heads, length, head size]
        qkv = node("Transpose", [node("Reshape", [qkv, shape])], perm=[2, 0, 3, 1, 4])
        q, k, v = (node("Gather", [qkv, part], axis=0) for part in which)
        k = node("Transpose", [k], perm=[0, 1, 3, 2])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), scale]), padding])
        attended = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        attended = node("Reshape", [node("Transpose", [attended], perm=[0, 2, 1, 3]), merge])
        h = norm(
            node("Add", [dense(attended, f"{p}attention.output.dense"), h]),
            f"{p}attention.output.LayerNorm",
        )
        inner = node(
            "MatMul",
            [
                h,
                constant(
                    f"{p}intermediate.dense.weight", weights[f"{p}intermediate.dense.weight"].T
                ),
            ],
        )
        # The tanh approximation of GELU, with the bias folded in, as the numpy encoder.
        bias = constant(f"{p}intermediate.dense.bias", weights[f"{p}intermediate.dense.bias"])
        inner = node("FastGelu", [inner, bias], domain="com.microsoft")
        h = norm(node("Add", [dense(inner, f"{p}output.dense"), h]), f"{p}output.LayerNorm")
    nodes.append(helper.make_node("Identity", [h], ["hidden"], name="hidden"))
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("words", TensorProto.FLOAT, ["batch", "length", None])
            if embedded_input
            else helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("positions", TensorProto.INT64, ["length"]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", None])],
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", _OPSET), helper.make_opsetid("com.microsoft", 1)],
    )
    checker.check_model(model)
    return bytes(model.SerializeToString())


def quantise(model: bytes) -> bytes:
    """int8 weights, one scale per output channel, for the products with a weight matrix
    only: quantising the attention products too (activations on both sides) cost far more
    accuracy (cosine down to 0.83) for little more speed."""
    import onnx
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    proto = onnx.load_from_string(model)
    constants = {tensor.name for tensor in proto.graph.initializer}
    products = [
        n.name for n in proto.graph.node if n.op_type == "MatMul" and n.input[1] in constants
    ]
    with tempfile.TemporaryDirectory(prefix="tanya-minilm-") as directory:
        out = Path(directory) / "int8.onnx"
        # The quantiser logs advice meant for image models on the root logger; mute it.
        logging.disable(logging.WARNING)
        try:
            quantize_dynamic(
                proto,
                out,
                weight_type=QuantType.QInt8,
                nodes_to_quantize=products,
                per_channel=True,
                extra_options={"DefaultTensorType": TensorProto.FLOAT},
            )
        finally:
            logging.disable(logging.NOTSET)
        return out.read_bytes()


class OnnxEncoder:
    """Runs the graph: token ids and mask in, the last hidden states out."""

    def __init__(self, model: bytes, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        # Idle worker threads sleep instead of spinning: the event loop needs the cores
        # between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        positions = np.arange(ids.shape[1], dtype=np.int64)
        (hidden,) = self.session.run(None, {"ids": ids, "positions": positions, "mask": mask})
        return np.asarray(hidden)
