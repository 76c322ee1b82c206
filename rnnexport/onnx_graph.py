"""The whole-sequence ONNX graph (indices, lengths -> log_probs) built from the checkpoint's weights as a Scan.

Why by hand: torch.export's exporter freezes a Python loop to the example length, the TorchScript-based
exporter turns a scripted loop into a ``Loop``, and ONNX's own ``RNN`` op ran ~6x slower than a ``Scan``
here. The graph is verified against eager PyTorch on every name after each export.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # the IR of opset 17; old runtimes (ONNX Runtime 1.30 in Node.js) reject newer IRs


def _scan_body(hidden_size: int, masked: bool) -> onnx.GraphProto:
    """One step: h = tanh(h_prev @ W^T + table[x_t]), kept only where t < length when ``masked``."""
    nodes = [
        helper.make_node("MatMul", ["h_prev", "w_transposed"], ["recurrent"]),
        helper.make_node("Add", ["recurrent", "x_t"], ["pre_activation"]),
        helper.make_node("Tanh", ["pre_activation"], ["stepped" if masked else "h_out"]),
    ]
    inputs = [
        helper.make_tensor_value_info("h_prev", TensorProto.FLOAT, ["batch", hidden_size]),
        helper.make_tensor_value_info("x_t", TensorProto.FLOAT, ["batch", hidden_size]),
    ]
    if masked:
        nodes.append(helper.make_node("Where", ["active_t", "stepped", "h_prev"], ["h_out"]))
        inputs.append(helper.make_tensor_value_info("active_t", TensorProto.BOOL, ["batch", 1]))
    return helper.make_graph(
        nodes,
        "char_rnn_step_masked" if masked else "char_rnn_step",
        inputs=inputs,
        outputs=[helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["batch", hidden_size])],
    )


def _scan_branch(hidden_size: int, masked: bool) -> onnx.GraphProto:
    """An If branch running the whole Scan; the unmasked one serves batches of equal-length names."""
    scan_inputs = ["h_zero", "inputs", "active_3d"] if masked else ["h_zero", "inputs"]
    scan = helper.make_node(
        "Scan", scan_inputs, [f"h_last_{'masked' if masked else 'full'}"],
        num_scan_inputs=len(scan_inputs) - 1, body=_scan_body(hidden_size, masked),
    )  # fmt: skip
    return helper.make_graph(
        [scan],
        "masked_scan" if masked else "full_length_scan",
        inputs=[],
        outputs=[helper.make_tensor_value_info(scan.output[0], TensorProto.FLOAT, ["B", hidden_size])],
    )


def build_sequence_model(weights: dict[str, np.ndarray], metadata: dict[str, str]) -> onnx.ModelProto:
    """weights: float32 arrays named like the checkpoint (``u.weight`` [H, 57], ...)."""
    hidden_size = weights["w.weight"].shape[0]
    n_labels = weights["v.weight"].shape[0]
    # Row i is u(one_hot(i)) + both biases: the input projection becomes a Gather.
    input_table = (weights["u.weight"].T + weights["u.bias"] + weights["w.bias"]).astype(np.float32)
    initializers = [
        numpy_helper.from_array(input_table, "input_table"),
        numpy_helper.from_array(np.ascontiguousarray(weights["w.weight"].T), "w_transposed"),
        numpy_helper.from_array(np.ascontiguousarray(weights["v.weight"].T), "v_transposed"),
        numpy_helper.from_array(weights["v.bias"], "v_bias"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array([hidden_size], dtype=np.int64), "hidden_dim"),
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array(1, dtype=np.int64), "one"),
    ]
    nodes = [
        helper.make_node("Gather", ["input_table", "indices"], ["inputs"], axis=0),  # (T, B, H)
        helper.make_node("Shape", ["indices"], ["indices_shape"]),
        helper.make_node("Gather", ["indices_shape", "zero"], ["steps"], axis=0),  # scalar T
        helper.make_node("Range", ["zero", "steps", "one"], ["time"]),  # (T,)
        helper.make_node("Unsqueeze", ["time", "axis1"], ["time_column"]),  # (T, 1)
        helper.make_node("Unsqueeze", ["lengths", "axis0"], ["lengths_row"]),  # (1, B)
        helper.make_node("Less", ["time_column", "lengths_row"], ["active"]),  # (T, B)
        helper.make_node("Unsqueeze", ["active", "axis2"], ["active_3d"]),  # (T, B, 1)
        helper.make_node("Shape", ["lengths"], ["batch_dim"]),
        helper.make_node("Concat", ["batch_dim", "hidden_dim"], ["hidden_shape"], axis=0),
        helper.make_node(
            "ConstantOfShape",
            ["hidden_shape"],
            ["h_zero"],
            value=numpy_helper.from_array(np.zeros(1, dtype=np.float32)),
        ),
        # A batch whose names all have length T (what classify sends) skips the per-step Where: ~35% faster.
        helper.make_node("ReduceMin", ["lengths"], ["shortest"], keepdims=0),
        helper.make_node("Equal", ["shortest", "steps"], ["all_full_length"]),
        helper.make_node(
            "If",
            ["all_full_length"],
            ["h_last"],
            then_branch=_scan_branch(hidden_size, masked=False),
            else_branch=_scan_branch(hidden_size, masked=True),
        ),
        helper.make_node("MatMul", ["h_last", "v_transposed"], ["scores"]),
        helper.make_node("Add", ["scores", "v_bias"], ["logits"]),
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
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="rnnexport",
        doc_string="Character RNN over a whole name: indices int64 [T, B] (0-padded), lengths int64 [B] >= 1 "
        "-> log_probs float32 [B, n_labels] at each name's last letter.",
    )
    model.ir_version = IR_VERSION
    set_metadata(model, metadata)
    return model


def set_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> None:
    """Replace the model's metadata_props with ``metadata``."""
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
