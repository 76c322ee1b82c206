"""The whole-sequence ONNX graph (indices, lengths -> log_probs) built from the checkpoint's weights as a Scan.

Why by hand: torch.export's exporter freezes a Python loop to the example length, the TorchScript-based
exporter turns a scripted loop into a ``Loop``, and ONNX's own ``RNN`` op ran ~6x slower than a ``Scan``
here. The graph is verified against eager PyTorch on every name after each export.

Shape of the graph (h_0 = 0, so the first letter needs no recurrent product):

    h_1      = tanh(input_table[indices[0]])
    h_t      = tanh(h_{t-1} @ W^T + input_table[indices[t-1]])   Scan over indices[1:], t = 2..T
    log_probs = log_softmax(h_last @ V^T + v_bias)

``input_table`` row i is ``u(one_hot(i)) + u.bias + w.bias``, so the input projection is a row lookup that
the step's ``Gemm`` adds as its C operand. ONNX Runtime's Scan rejects a 0-step sequence, so an ``If``
skips it for T = 1; another ``If`` skips the per-step mask when every name in the batch has length T
(what ``classify`` sends).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .manifest import SEQUENCE_IR_VERSION, SEQUENCE_OPSET
from .onnx_parts import float32_weights, input_table, set_metadata


def _step_body(hidden_size: int, masked: bool) -> onnx.GraphProto:
    """One Scan step: h = tanh(h_prev @ W^T + input_table[letter]), kept only where active when ``masked``.

    The batch dimension is ``B`` here as in the main graph: tract refuses two names for one dimension.
    """
    nodes = [
        helper.make_node("Gather", ["input_table", "letter_t"], ["letter_input"], axis=0),
        helper.make_node("Gemm", ["h_prev", "w_transposed", "letter_input"], ["pre_activation"]),
        helper.make_node("Tanh", ["pre_activation"], ["stepped" if masked else "h_out"]),
    ]
    inputs = [
        helper.make_tensor_value_info("h_prev", TensorProto.FLOAT, ["B", hidden_size]),
        helper.make_tensor_value_info("letter_t", TensorProto.INT64, ["B"]),
    ]
    if masked:
        nodes.append(helper.make_node("Where", ["active_t", "stepped", "h_prev"], ["h_out"]))
        inputs.append(helper.make_tensor_value_info("active_t", TensorProto.BOOL, ["B", 1]))
    return helper.make_graph(
        nodes,
        "char_rnn_step_masked" if masked else "char_rnn_step",
        inputs=inputs,
        outputs=[helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["B", hidden_size])],
    )


def _branch(name: str, nodes: list[onnx.NodeProto], output: str, hidden_size: int) -> onnx.GraphProto:
    """An If branch: ``nodes`` (reading the enclosing graph's values) producing ``output`` [B, H]."""
    return helper.make_graph(
        nodes, name, inputs=[],
        outputs=[helper.make_tensor_value_info(output, TensorProto.FLOAT, ["B", hidden_size])],
    )  # fmt: skip


def _scan_branch(hidden_size: int, masked: bool) -> onnx.GraphProto:
    """Steps 2..T over ``later_letters``; the masked one keeps each name's state past its last letter."""
    tag = "masked" if masked else "full"
    scan_inputs = ["h_first", "later_letters", "later_active"] if masked else ["h_first", "later_letters"]
    nodes = []
    if masked:
        nodes += [
            # active[t - 1] = t < length for t = 1..T-1: the mask of the letters after the first.
            helper.make_node("Range", ["one", "steps", "one"], ["later_time"]),  # (T-1,)
            helper.make_node("Unsqueeze", ["later_time", "axis1"], ["later_time_column"]),  # (T-1, 1)
            helper.make_node("Unsqueeze", ["lengths", "axis0"], ["lengths_row"]),  # (1, B)
            helper.make_node("Less", ["later_time_column", "lengths_row"], ["later_active_2d"]),
            helper.make_node("Unsqueeze", ["later_active_2d", "axis2"], ["later_active"]),  # (T-1, B, 1)
        ]
    nodes.append(
        helper.make_node("Scan", scan_inputs, [f"h_last_{tag}"], num_scan_inputs=len(scan_inputs) - 1,
                         body=_step_body(hidden_size, masked))
    )  # fmt: skip
    return _branch(f"{tag}_length_scan", nodes, f"h_last_{tag}", hidden_size)


def _initializers(weights: dict[str, np.ndarray]) -> list[onnx.TensorProto]:
    arrays = {
        "input_table": input_table(weights),  # the input projection becomes a Gather
        "w_transposed": np.ascontiguousarray(weights["w.weight"].T),
        "v_transposed": np.ascontiguousarray(weights["v.weight"].T),
        "v_bias": weights["v.bias"],
        "axis0": np.array([0], dtype=np.int64),
        "axis1": np.array([1], dtype=np.int64),
        "axis2": np.array([2], dtype=np.int64),
        "zero": np.array(0, dtype=np.int64),
        "one": np.array(1, dtype=np.int64),
        "to_end": np.array([np.iinfo(np.int64).max], dtype=np.int64),
    }
    return [numpy_helper.from_array(array, name) for name, array in arrays.items()]


def build_sequence_model(weights: dict[str, np.ndarray], metadata: dict[str, str]) -> onnx.ModelProto:
    """weights: float32 arrays named like the checkpoint (``u.weight`` [H, n_letters], ...)."""
    hidden_size = weights["w.weight"].shape[0]
    n_labels = weights["v.weight"].shape[0]
    scan_or_first = helper.make_node(
        "If", ["all_full_length"], ["h_scanned"],
        then_branch=_scan_branch(hidden_size, masked=False), else_branch=_scan_branch(hidden_size, masked=True),
    )  # fmt: skip
    later_steps = _branch("later_letters", [scan_or_first], "h_scanned", hidden_size)
    only_first = helper.make_node("Identity", ["h_first"], ["h_only"])
    first_only = _branch("first_letter_only", [only_first], "h_only", hidden_size)
    nodes = [
        helper.make_node("Shape", ["indices"], ["indices_shape"]),
        helper.make_node("Gather", ["indices_shape", "zero"], ["steps"], axis=0),  # scalar T
        # h_1 = tanh(input_table[first letter]): h_0 = 0 makes the first recurrent product zero.
        helper.make_node("Gather", ["indices", "zero"], ["first_letters"], axis=0),  # (B,)
        helper.make_node("Gather", ["input_table", "first_letters"], ["first_inputs"], axis=0),
        helper.make_node("Tanh", ["first_inputs"], ["h_first"]),
        helper.make_node("Slice", ["indices", "axis1", "to_end"], ["later_letters"]),  # (T-1, B)
        # A batch whose names all have length T (what classify sends) skips the per-step Where.
        helper.make_node("ReduceMin", ["lengths"], ["shortest"], keepdims=0),
        helper.make_node("Equal", ["shortest", "steps"], ["all_full_length"]),
        helper.make_node("Greater", ["steps", "one"], ["has_later_letters"]),
        helper.make_node("If", ["has_later_letters"], ["h_last"], then_branch=later_steps, else_branch=first_only),
        helper.make_node("Gemm", ["h_last", "v_transposed", "v_bias"], ["logits"]),
        helper.make_node("LogSoftmax", ["logits"], ["log_probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "char_rnn",
        inputs=[
            helper.make_tensor_value_info("indices", TensorProto.INT64, ["T", "B"]),
            helper.make_tensor_value_info("lengths", TensorProto.INT64, ["B"]),
        ],
        outputs=[helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["B", n_labels])],
        initializer=_initializers(weights),
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", SEQUENCE_OPSET)],
        producer_name="rnnexport",
        doc_string="Character RNN over a whole name: indices int64 [T, B] (0-padded), lengths int64 [B] >= 1 "
        "-> log_probs float32 [B, n_labels] at each name's last letter.",
    )
    model.ir_version = SEQUENCE_IR_VERSION
    set_metadata(model, metadata)
    return model


def write_onnx_sequence(model, metadata: dict[str, str], path: Path) -> None:
    weights = float32_weights(model)
    proto = build_sequence_model(weights, metadata)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(path))
