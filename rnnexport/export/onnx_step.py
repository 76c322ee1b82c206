"""The step and head ONNX graphs of prefix-shared evaluation, built from the checkpoint's weights.

``char_rnn_step.onnx`` takes one batched step for the nodes of one trie level (see runtimes/prefix.py):

    hidden_next = tanh(hidden[parent] @ W^T + input_table[letter])

    hidden       float32 [parents, H]  the previous level's states; for level 1, one zero row (h_0 = 0)
    parent       int64   [nodes]       each node's row of ``hidden`` (level 1: all 0)
    letter       int64   [nodes]       each node's letter index
    hidden_next  float32 [nodes, H]

``char_rnn_head.onnx`` reads names out where they end: hidden float32 [batch, H] -> log_probs [batch, L]
= log_softmax(hidden @ V^T + v_bias). Both carry the same metadata as the other ONNX files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .manifest import SEQUENCE_IR_VERSION, SEQUENCE_OPSET
from .onnx_parts import float32_weights, input_table, set_metadata


def _model(graph: onnx.GraphProto, doc: str, metadata: dict[str, str]) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", SEQUENCE_OPSET)],
                              producer_name="rnnexport", doc_string=doc)  # fmt: skip
    model.ir_version = SEQUENCE_IR_VERSION  # the sequence graph's IR and opset: what old runtimes load
    set_metadata(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    return model


def build_step_model(weights: dict[str, np.ndarray], metadata: dict[str, str]) -> onnx.ModelProto:
    """One trie level: (hidden [parents, H], parent [nodes], letter [nodes]) -> hidden_next [nodes, H].

    weights: float32 arrays named like the checkpoint (``u.weight`` [H, n_letters], ...).
    """
    hidden_size = weights["w.weight"].shape[0]
    nodes = [
        helper.make_node("Gather", ["hidden", "parent"], ["parent_hidden"], axis=0),  # (nodes, H)
        helper.make_node("Gather", ["input_table", "letter"], ["letter_input"], axis=0),  # (nodes, H)
        helper.make_node("Gemm", ["parent_hidden", "w_transposed", "letter_input"], ["pre_activation"]),
        helper.make_node("Tanh", ["pre_activation"], ["hidden_next"]),
    ]
    initializers = {"input_table": input_table(weights), "w_transposed": np.ascontiguousarray(weights["w.weight"].T)}
    graph = helper.make_graph(
        nodes, "char_rnn_step",
        inputs=[
            helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["parents", hidden_size]),
            helper.make_tensor_value_info("parent", TensorProto.INT64, ["nodes"]),
            helper.make_tensor_value_info("letter", TensorProto.INT64, ["nodes"]),
        ],
        outputs=[helper.make_tensor_value_info("hidden_next", TensorProto.FLOAT, ["nodes", hidden_size])],
        initializer=[numpy_helper.from_array(array, name) for name, array in initializers.items()],
    )  # fmt: skip
    doc = ("Character RNN step for a batch of trie nodes: hidden float32 [parents, H] (level 1: one zero row), "
           "parent int64 [nodes], letter int64 [nodes] -> hidden_next float32 [nodes, H].")  # fmt: skip
    return _model(graph, doc, metadata)


def build_head_model(weights: dict[str, np.ndarray], metadata: dict[str, str]) -> onnx.ModelProto:
    """The readout: hidden float32 [batch, H] -> log_probs float32 [batch, n_labels]."""
    hidden_size, n_labels = weights["w.weight"].shape[0], weights["v.weight"].shape[0]
    nodes = [
        helper.make_node("Gemm", ["hidden", "v_transposed", "v_bias"], ["logits"]),
        helper.make_node("LogSoftmax", ["logits"], ["log_probs"], axis=1),
    ]
    initializers = {"v_transposed": np.ascontiguousarray(weights["v.weight"].T), "v_bias": weights["v.bias"]}
    graph = helper.make_graph(
        nodes, "char_rnn_head",
        inputs=[helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", hidden_size])],
        outputs=[helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["batch", n_labels])],
        initializer=[numpy_helper.from_array(array, name) for name, array in initializers.items()],
    )  # fmt: skip
    doc = "Character RNN readout: hidden float32 [batch, H] -> log_probs float32 [batch, n_labels]."
    return _model(graph, doc, metadata)


def write_onnx_step_and_head(model, metadata: dict[str, str], step_path: Path, head_path: Path) -> None:
    """Both graphs of prefix-shared evaluation from a CharRNN's weights."""
    weights = float32_weights(model)
    onnx.save_model(build_step_model(weights, metadata), str(step_path))
    onnx.save_model(build_head_model(weights, metadata), str(head_path))
