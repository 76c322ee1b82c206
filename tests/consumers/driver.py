"""Run exported model files in one third-party runtime over a names file; write log_probs per batching mode.

Runs inside each consumer's own environment (build/consumers/<name>/), so it needs numpy and that runtime only,
never rnnexport. Everything it needs about the model (alphabet, hidden size, SHA-256, each file's inputs) comes
from manifest.json beside the model files.

    python driver.py RUNTIME NAMES_FILE OUT_DIR MODEL_FILE [MODEL_FILE ...] [--modes mixed,equal,single]

RUNTIME: onnxruntime, openvino, tract, onnx-reference, torchscript (torch.jit.load), torch-export
(torch.export.load), aoti (torch._inductor.aoti_load_package), or onnx-checker (check_model with full_check plus
strict shape inference of each file; writes no log_probs). MODEL_FILE: the graphs of one drive
(DRIVES), each known by its inputs' names (GRAPH_KINDS): the whole-name graph, the one-step cell, or the prefix
step followed by its head. NAMES_FILE: UTF-8, one already-folded name per line. Writes OUT_DIR/<mode>.npy
(float32 [N, n_labels], rows in the names' order) and OUT_DIR/info.json (runtime version, files, IR version and
opset per file, seconds per mode). Exit 1 with one line on stderr on any failure.

Batching modes (tests/test_consumers.py builds eager PyTorch's batches with these same functions):
    mixed   consecutive names, MIXED_BATCH per call: mixed lengths (the masked Scan branch)
    equal   names grouped by length, up to EQUAL_BATCH per call (the mask-free branch; T = 1 skips the Scan)
    single  one name per call
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

MIXED_BATCH = 64
EQUAL_BATCH = 256
MODES = ("mixed", "equal", "single")
Run = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
# Which graph a file is, by its inputs' names in manifest.json (ort_web/driver.cjs has the same table).
GRAPH_KINDS = {
    ("indices", "lengths"): "sequence",
    ("x", "h"): "cell",
    ("hidden", "parent", "letter"): "step",
    ("hidden",): "head",
}


def graph_kind(entry: dict) -> str | None:
    """The GRAPH_KINDS kind of a manifest entry, or None for inputs no drive knows."""
    return GRAPH_KINDS.get(tuple(value["name"] for value in entry.get("inputs", [])))


def batches(lengths: np.ndarray, mode: str) -> list[np.ndarray]:
    """Row numbers of each model call, for ``lengths`` int64 [N] (all >= 1)."""
    rows = np.arange(len(lengths))
    if mode == "mixed":
        return [rows[start : start + MIXED_BATCH] for start in range(0, len(rows), MIXED_BATCH)]
    if mode == "equal":
        groups = [rows[lengths == length] for length in np.unique(lengths)]
        return [group[start : start + EQUAL_BATCH] for group in groups for start in range(0, len(group), EQUAL_BATCH)]
    if mode == "single":
        return [rows[i : i + 1] for i in rows]
    raise ValueError(f"unknown batching mode {mode!r}; use one of {', '.join(MODES)}")


def encode(names: list[str], alphabet: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Folded names -> letter indices per name and lengths int64 [N]; a letter outside the alphabet is an error."""
    index = {letter: i for i, letter in enumerate(alphabet)}
    letters = [np.array([index[letter] for letter in name], dtype=np.int64) for name in names]
    return letters, np.array([len(name) for name in letters], dtype=np.int64)


def pad(letters: list[np.ndarray], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The names at ``rows`` as time-major indices int64 [T, B] (0-padded) and lengths int64 [B]."""
    lengths = np.array([len(letters[row]) for row in rows], dtype=np.int64)
    indices = np.zeros((int(lengths.max()), len(rows)), dtype=np.int64)
    for column, row in enumerate(rows):
        indices[: lengths[column], column] = letters[row]
    return indices, lengths


def sequence_log_probs(runs: dict[str, Run], indices: np.ndarray, lengths: np.ndarray, **_) -> np.ndarray:
    return runs["sequence"]({"indices": indices, "lengths": lengths})["log_probs"]


def cell_log_probs(
    runs: dict[str, Run], indices: np.ndarray, lengths: np.ndarray, n_letters: int, hidden_size: int
) -> np.ndarray:
    """Chain the one-step graph from h = 0; each name's answer is the log_probs after its last letter."""
    hidden = np.zeros((indices.shape[1], hidden_size), dtype=np.float32)
    one_hot = np.eye(n_letters, dtype=np.float32)
    log_probs = None
    for step, letters in enumerate(indices):
        outputs = runs["cell"]({"x": one_hot[letters], "h": hidden})
        hidden = outputs["h_next"]
        if log_probs is None:
            log_probs = np.full_like(outputs["log_probs"], np.nan)
        done = lengths == step + 1
        log_probs[done] = outputs["log_probs"][done]
    return log_probs


def prefix_log_probs(runs: dict[str, Run], indices: np.ndarray, lengths: np.ndarray, hidden_size: int, **_):
    """Step every name from one zero row, then read each out with the head where it ends.

    Each step runs the names still going: ``parent`` is each one's row in the previous step's hidden (all 0
    at the first step), so in mixed batches the step gathers from fewer rows as names end. A name's hidden
    after its last letter is kept; the head reads them all in one call.
    """
    final = np.zeros((len(lengths), hidden_size), dtype=np.float32)
    hidden = np.zeros((1, hidden_size), dtype=np.float32)
    alive = np.arange(len(lengths))
    parent = np.zeros(len(lengths), dtype=np.int64)
    for step, letters in enumerate(indices):
        hidden = runs["step"]({"hidden": hidden, "parent": parent, "letter": letters[alive]})["hidden_next"]
        done = lengths[alive] == step + 1
        final[alive[done]] = hidden[done]
        parent, alive = np.flatnonzero(~done).astype(np.int64), alive[~done]
    return runs["head"]({"hidden": final})["log_probs"]


# The graphs that together give log_probs for names (model files in this order), and how to chain them.
DRIVES = {("sequence",): sequence_log_probs, ("cell",): cell_log_probs, ("step", "head"): prefix_log_probs}


def onnxruntime_runner(path: Path, names: list[str]) -> tuple[Run, str]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda feeds: dict(zip(names, session.run(names, feeds), strict=True)), onnxruntime.__version__


def openvino_runner(path: Path, names: list[str]) -> tuple[Run, str]:
    import openvino

    # The CPU plugin's default precision is bf16 where the CPU has bf16 instructions: diffs ~0.1.
    config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}
    compiled = openvino.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()

    def run(feeds):
        result = request.infer(feeds)
        return {name: np.array(result[compiled.output(name)]) for name in names}

    return run, openvino.__version__


def tract_runner(path: Path, names: list[str]) -> tuple[Run, str]:
    import tract

    inference_model = tract.onnx().load(str(path))
    inputs = [inference_model.input_name(i) for i in range(inference_model.input_count())]
    runnable = inference_model.into_model().into_runnable()

    def run(feeds):
        results = runnable.run([feeds[name] for name in inputs])
        # tract names outputs after their nodes, so the graph's output order maps them to names.
        return {name: result.to_numpy() for name, result in zip(names, results, strict=True)}

    return run, tract.version()


def onnx_reference_runner(path: Path, names: list[str]) -> tuple[Run, str]:
    import onnx
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(str(path))
    return lambda feeds: dict(zip(names, evaluator.run(names, feeds), strict=True)), onnx.__version__


def torchscript_runner(path: Path, names: list[str]) -> tuple[Run, str]:
    import torch

    torch.set_num_threads(1)
    module = torch.jit.load(str(path), map_location="cpu").eval()

    def run(feeds):
        with torch.inference_mode():
            log_probs = module(torch.from_numpy(feeds["indices"]), torch.from_numpy(feeds["lengths"]))
        return {names[0]: log_probs.numpy()}

    return run, torch.__version__


def torch_export_runner(path: Path, names: list[str]) -> tuple[Run, str]:
    """char_rnn.pt2 with torch.export.load alone: the program "model" (what torch.export.load returns)."""
    import torch

    torch.set_num_threads(1)
    module = torch.export.load(str(path)).module()

    def run(feeds):
        with torch.inference_mode():
            log_probs = module(torch.from_numpy(feeds["indices"]), torch.from_numpy(feeds["lengths"]))
        return {names[0]: log_probs.numpy()}

    return run, torch.__version__


def aoti_runner(path: Path, names: list[str]) -> tuple[Run, str]:
    """char_rnn_aoti.pt2 with torch._inductor.aoti_load_package (compiled for this CPU and this torch)."""
    import torch

    torch.set_num_threads(1)
    model = torch._inductor.aoti_load_package(str(path))

    def run(feeds):
        log_probs = model(torch.from_numpy(feeds["indices"]), torch.from_numpy(feeds["lengths"]))
        return {names[0]: log_probs.numpy()}

    return run, torch.__version__


def check_onnx(path: Path) -> str:
    """onnx.checker with full_check, then strict shape inference with type checks and data propagation."""
    import onnx

    onnx.checker.check_model(str(path), full_check=True)
    onnx.shape_inference.infer_shapes(onnx.load(str(path)), check_type=True, strict_mode=True, data_prop=True)
    return onnx.__version__


def check_files(model_files: list[Path]) -> dict:
    entries = [read_manifest_entry(model_file) for model_file in model_files]
    versions = {check_onnx(model_file) for model_file in model_files}
    return {"version": versions.pop(), "graphs": graphs_info(entries)}


RUNNERS = {
    "onnxruntime": onnxruntime_runner,
    "openvino": openvino_runner,
    "tract": tract_runner,
    "onnx-reference": onnx_reference_runner,
    "torchscript": torchscript_runner,
    "torch-export": torch_export_runner,
    "aoti": aoti_runner,
}


def read_manifest_entry(model_file: Path) -> tuple[dict, dict]:
    """manifest.json beside the file, and the file's entry, after checking its SHA-256."""
    manifest = json.loads((model_file.parent / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["artifacts"][model_file.name]
    digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
    if digest != entry["sha256"]:
        raise ValueError(f"{model_file} hashes to {digest}, manifest.json expects {entry['sha256']}")
    return manifest, entry


def load_drive(runtime: str, entries: list[tuple[dict, dict]], model_files: list[Path]) -> tuple[Callable, dict, str]:
    """The DRIVES function for these files, each file's Run by its kind, and the runtime's version."""
    kinds = tuple(graph_kind(entry) for _, entry in entries)
    if kinds not in DRIVES:
        raise ValueError(f"no drive for graphs {kinds} of {[f.name for f in model_files]}; known: {list(DRIVES)}")
    runs, version = {}, None
    for kind, model_file, (_, entry) in zip(kinds, model_files, entries, strict=True):
        runs[kind], version = RUNNERS[runtime](model_file, [value["name"] for value in entry["outputs"]])
    return DRIVES[kinds], runs, version


def run_modes(runtime: str, model_files: list[Path], names: list[str], out_dir: Path, modes: list[str]) -> dict:
    entries = [read_manifest_entry(model_file) for model_file in model_files]
    manifest = entries[0][0]
    drive, runs, version = load_drive(runtime, entries, model_files)
    letters, lengths = encode(names, manifest["alphabet"])
    dims = {"n_letters": len(manifest["alphabet"]), "hidden_size": manifest["hidden_size"]}
    seconds = {}
    for mode in modes:
        started = time.perf_counter()
        log_probs = np.full((len(names), len(manifest["labels"])), np.nan, dtype=np.float32)
        for rows in batches(lengths, mode):
            log_probs[rows] = drive(runs, *pad(letters, rows), **dims)
        np.save(out_dir / f"{mode}.npy", log_probs)
        seconds[mode] = round(time.perf_counter() - started, 3)
    return {"version": version, "seconds": seconds, "graphs": graphs_info(entries)}


def graphs_info(entries: list[tuple[dict, dict]]) -> list[dict]:
    return [{key: entry.get(key) for key in ("file", "ir_version", "opset")} for _, entry in entries]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runtime", choices=[*RUNNERS, "onnx-checker"])
    parser.add_argument("names_file", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("model_files", type=Path, nargs="+")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    files = "+".join(model_file.name for model_file in args.model_files)
    try:
        if args.runtime == "onnx-checker":
            info = check_files(args.model_files)
        else:
            names = args.names_file.read_text(encoding="utf-8").split("\n")[:-1]
            info = run_modes(args.runtime, args.model_files, names, args.out_dir, args.modes.split(","))
    except Exception as error:  # a refusal by the runtime is the finding: report it with its causes
        reason = " | ".join(line for line in str(error).strip().splitlines()[:8] if line.strip())
        print(f"driver: {args.runtime} failed on {files}: {type(error).__name__}: {reason}", file=sys.stderr)
        return 1
    info.update(runtime=args.runtime, files=files)
    (args.out_dir / "info.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
