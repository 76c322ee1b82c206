"""The hand-built char_rnn.onnx against torch.onnx.export(dynamo=True) of the while_loop program (docs/embedding.md,
"char_rnn.onnx: hand-built or dynamo"): size, IR/opset, operators, ONNX Runtime speed and parity on the data set.

Also writes OUT_DIR: a copy of MODEL_DIR with char_rnn_dynamo.onnx added to manifest.json, so that the third-party
suite runs both graphs side by side:  RNNEXPORT_CONSUMERS_MODEL_DIR=OUT_DIR make test-consumers

usage: python scripts/onnx_dynamo_comparison.py MODEL_DIR OUT_DIR [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import onnx

from rnnexport.export.manifest import _onnx_io, artifact_metadata, file_entry
from rnnexport.export.onnx_dynamo import write_onnx_dynamo
from rnnexport.model.checkpoint import load_checkpoint, model_from_checkpoint
from rnnexport.model.manifest import MANIFEST_NAME, ONNX_SEQUENCE_FILE
from rnnexport.runtimes.onnx_runtimes import onnx_session
from rnnexport.runtimes.registry import open_reference
from rnnexport.runtimes.torch_runtimes import use_one_intra_op_thread
from rnnexport.text.encode import encode_ragged
from rnnexport.verification.parity import compare
from rnnexport.verification.verify import default_names, run_batched

DYNAMO_FILE = "char_rnn_dynamo.onnx"


def add_dynamo_graph(model_dir: Path, out_dir: Path) -> float:
    """OUT_DIR = MODEL_DIR + char_rnn_dynamo.onnx in its manifest; returns the export's seconds."""
    shutil.copytree(model_dir, out_dir, dirs_exist_ok=True)
    checkpoint = load_checkpoint(out_dir / "checkpoint.pt")
    started = time.perf_counter()
    write_onnx_dynamo(model_from_checkpoint(checkpoint), artifact_metadata(checkpoint), out_dir / DYNAMO_FILE)
    seconds = time.perf_counter() - started
    manifest = json.loads((out_dir / MANIFEST_NAME).read_text())
    manifest["artifacts"][DYNAMO_FILE] = file_entry(out_dir / DYNAMO_FILE, **_onnx_io(out_dir / DYNAMO_FILE))
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
    return seconds


def names_per_second(session, encoded, batch_size: int, repeats: int) -> float:
    """Median names/s of ONNX Runtime over the names in batches of ``batch_size`` (sorted by length for 256)."""
    order = np.argsort(encoded.lengths, kind="stable") if batch_size > 64 else np.arange(len(encoded.lengths))
    batches = [encoded.select(order[start : start + batch_size]).padded()
               for start in range(0, len(order), batch_size)]  # fmt: skip
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for batch in batches:
            session.run(["log_probs"], {"indices": batch.indices, "lengths": batch.lengths})
        timings.append(time.perf_counter() - started)
    return len(order) / statistics.median(timings)


def describe(path: Path, session, encoded, reference: np.ndarray, names: list[str], repeats: int) -> dict:
    proto = onnx.load(str(path))
    ops = sorted({node.op_type for node in proto.graph.node})
    candidate = np.concatenate([
        session.run(["log_probs"], {"indices": b.indices, "lengths": b.lengths})[0]
        for b in (encoded.select(np.arange(s, min(s + 64, len(names)))).padded() for s in range(0, len(names), 64))
    ])  # fmt: skip
    parity = compare(reference, candidate, names)
    return {
        "size_bytes": path.stat().st_size,
        "ir/opset": f"{proto.ir_version}/{max(o.version for o in proto.opset_import if o.domain in ('', 'ai.onnx'))}",
        "top-level ops": " ".join(ops),
        "names/s batch 1": names_per_second(session, encoded.select(np.arange(min(3000, len(names)))), 1, repeats),
        "names/s batch 64 (mixed)": names_per_second(session, encoded, 64, repeats),
        "names/s batch 256 (sorted)": names_per_second(session, encoded, 256, repeats),
        "max abs diff": parity["max_abs_diff"],
        "worst ratio": parity["worst_ratio"],
        "top-1": parity["top1_agreement"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    use_one_intra_op_thread()
    export_seconds = add_dynamo_graph(args.model_dir, args.out_dir)
    reference_runtime = open_reference(args.out_dir)
    names, source = default_names(reference_runtime.alphabet, reference_runtime.labels)
    encoded = encode_ragged(names, reference_runtime.alphabet)
    reference = run_batched(reference_runtime, encoded, 1024)
    rows = {}
    for label, file_name in (("hand-built", ONNX_SEQUENCE_FILE), ("dynamo", DYNAMO_FILE)):
        path = args.out_dir / file_name
        rows[label] = describe(path, onnx_session(path), encoded, reference, names, args.repeats)
    print(f"names: {source}; dynamo export took {export_seconds:.1f} s; ONNX Runtime, 1 thread")
    print("| | " + " | ".join(rows) + " |\n|---|" + "---|" * len(rows))
    for key in rows["hand-built"]:
        print(f"| {key} | {' | '.join(cell(key, row[key]) for row in rows.values())} |")


def cell(key: str, value) -> str:
    if "names/s" in key or key == "size_bytes":
        return f"{value:,.0f}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
