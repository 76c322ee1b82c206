"""Start-up time and throughput of each way to run the model (docs/embedding.md, "Which artifact should I use").

Python runtimes: start-up = a fresh process that imports rnnexport, opens the runtime (hash check, load) and
classifies one name (median of 3); throughput = in process, every data-set name sorted by length, batches of 256,
one thread, model calls only (median of 3). Programs (C++, Node): cold start = `echo Smith | PROGRAM MODEL_DIR`
wall time (median of 5); throughput = every data-set name through the filter at --batch-size 256, end to end
(reading, folding, printing included; median of 3), after the cold start (its wall time less the cold start's).
A program that is not built is left out.

usage: python scripts/artifact_table.py MODEL_DIR   (MODEL_DIR with char_rnn_aoti.pt2: make aoti)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from rnnexport.runtimes.registry import open_runtime, verify_runtimes
from rnnexport.runtimes.torch_runtimes import use_one_intra_op_thread
from rnnexport.text.encode import encode_ragged
from rnnexport.verification.verify import dataset_names

REPO = Path(__file__).resolve().parents[1]
STARTUP = (
    "import sys; from rnnexport.runtimes.registry import open_runtime; from rnnexport.text.encode import encode_names\n"
    "r = open_runtime(sys.argv[1], sys.argv[2]); e = encode_names(['Smith']); r.log_probs(e.indices, e.lengths)"
)
PROGRAMS = {
    "C++ classify_names (char_rnn.pt)": [str(REPO / "examples/cpp/build/classify_names")],
    "C++ classify_names_aoti (char_rnn_aoti.pt2)": [str(REPO / "examples/cpp/build/classify_names_aoti")],
    "Node classify_names.js (char_rnn.onnx)": ["node", str(REPO / "examples/node/classify_names.js")],
}


def wall(command: list[str], stdin: bytes) -> float:
    started = time.perf_counter()
    subprocess.run(command, input=stdin, capture_output=True, check=True)
    return time.perf_counter() - started


def python_rows(model_dir: Path, names: list[str]) -> list[str]:
    use_one_intra_op_thread()
    order = np.argsort([len(name) for name in names], kind="stable")
    encoded = encode_ragged([names[i] for i in order])
    batches = [encoded.select(np.arange(s, min(s + 256, len(names)))).padded() for s in range(0, len(names), 256)]
    rows = []
    for name in ("onnx", "torchscript", "export", "aoti", "torch"):
        if name not in verify_runtimes(model_dir):
            continue
        startup = statistics.median(wall([sys.executable, "-c", STARTUP, name, str(model_dir)], b"") for _ in range(3))
        runtime = open_runtime(name, model_dir)
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            for batch in batches:
                runtime.log_probs(batch.indices, batch.lengths)
            timings.append(time.perf_counter() - started)
        rows.append(
            f"| Python --runtime {name} | {startup * 1e3:.0f} ms | {len(names) / statistics.median(timings):,.0f} |"
        )
    return rows


def program_rows(model_dir: Path, names: list[str]) -> list[str]:
    stdin = ("\n".join(names) + "\n").encode()
    rows = []
    for label, command in PROGRAMS.items():
        if not Path(command[-1]).exists():
            continue
        cold = statistics.median(wall([*command, str(model_dir)], b"Smith\n") for _ in range(5))
        seconds = statistics.median(wall([*command, str(model_dir), "--batch-size", "256"], stdin) for _ in range(3))
        rows.append(f"| {label} | {cold * 1e3:.0f} ms | {len(names) / (seconds - cold):,.0f} |")
    return rows


def main() -> None:
    model_dir = Path(sys.argv[1]).resolve()
    names, source = dataset_names()
    print(f"names: {source}")
    print("| consumer | start-up (to the first answer) | names/s |\n|---|---|---|")
    print("\n".join(python_rows(model_dir, names) + program_rows(model_dir, names)))


if __name__ == "__main__":
    main()
