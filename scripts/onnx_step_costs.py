"""Where one Scan step of char_rnn.onnx spends its time in ONNX Runtime (1 thread), op by op.

Builds Scan loops over the exported weights whose bodies add one part of the real step at a time
(the loop alone, the input lookup, the recurrent GEMM, tanh, then the exported step) and reports
nanoseconds per name per step at classify's batch size, best of several repeats of CPU time.

    .venv/bin/python scripts/onnx_step_costs.py [--model-dir exported] [--batch 512]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

STEPS = 8
REPEATS = 7
CALLS = 40


def exported_weights(model_dir: Path) -> dict[str, np.ndarray]:
    graph = onnx.load(str(model_dir / "char_rnn.onnx")).graph
    weights = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    return {"table": weights["input_table"], "w": weights["w_transposed"]}


def bodies() -> dict[str, list[onnx.NodeProto]]:
    node = helper.make_node
    lookup = node("Gather", ["table", "letter"], ["x"], axis=0)
    return {
        "Scan loop only (state copy)": [node("Identity", ["h"], ["h_out"])],
        "+ input lookup and add": [lookup, node("Add", ["h", "x"], ["h_out"])],
        "recurrent GEMM only": [node("MatMul", ["h", "w"], ["h_out"])],
        "GEMM + tanh": [node("MatMul", ["h", "w"], ["p"]), node("Tanh", ["p"], ["h_out"])],
        "exported step: lookup, Gemm(C), tanh": [
            lookup,
            node("Gemm", ["h", "w", "x"], ["p"]),
            node("Tanh", ["p"], ["h_out"]),
        ],
    }


def scan_session(body_nodes: list[onnx.NodeProto], weights: dict[str, np.ndarray]) -> ort.InferenceSession:
    hidden = weights["w"].shape[0]
    state = helper.make_tensor_value_info
    body = helper.make_graph(
        body_nodes, "step",
        [state("h", TensorProto.FLOAT, ["B", hidden]), state("letter", TensorProto.INT64, ["B"])],
        [state("h_out", TensorProto.FLOAT, ["B", hidden])],
    )  # fmt: skip
    used = {name for node in body_nodes for name in node.input}
    graph = helper.make_graph(
        [helper.make_node("Scan", ["h0", "letters"], ["h_last"], num_scan_inputs=1, body=body)], "loop",
        [state("h0", TensorProto.FLOAT, ["B", hidden]), state("letters", TensorProto.INT64, ["T", "B"])],
        [state("h_last", TensorProto.FLOAT, ["B", hidden])],
        initializer=[numpy_helper.from_array(array, name) for name, array in weights.items() if name in used],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def nanoseconds_per_name_step(session: ort.InferenceSession, feeds: dict, batch: int) -> float:
    session.run(None, feeds)
    best = float("inf")
    for _ in range(REPEATS):
        started = time.process_time()
        for _ in range(CALLS):
            session.run(None, feeds)
        best = min(best, (time.process_time() - started) / CALLS)
    return best / (STEPS * batch) * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=Path("exported"))
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()
    weights = exported_weights(args.model_dir)
    rng = np.random.default_rng(0)
    feeds = {
        "h0": np.tanh(rng.standard_normal((args.batch, weights["w"].shape[0]))).astype(np.float32),
        "letters": rng.integers(0, len(weights["table"]), (STEPS, args.batch)),
    }
    print(f"ONNX Runtime {ort.__version__}, 1 thread, batch {args.batch}: ns per name per step (best of {REPEATS})")
    for label, nodes in bodies().items():
        cost = nanoseconds_per_name_step(scan_session(nodes, weights), feeds, args.batch)
        note = f"  ({2 * weights['w'].size / cost:.0f} GFLOP/s)" if label == "recurrent GEMM only" else ""
        print(f"  {label:40s} {cost:6.0f}{note}")


if __name__ == "__main__":
    main()
