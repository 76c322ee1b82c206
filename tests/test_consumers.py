"""Conformance: every exported artifact runs in runtimes nobody here wrote and agrees with eager PyTorch.

The artifacts come from the model directory's manifest.json, not from a list here: every ONNX graph goes through
every ONNX consumer and both onnx checkers (the prefix step together with its head), TorchScript through
torch.jit.load, and an artifact that no consumer handles fails test_every_artifact_has_a_consumer.

Each consumer lives in its own environment under build/consumers/ (`make consumer-envs`, which this module runs
first; pins in tests/consumers/). A small driver in that environment (tests/consumers/driver.py, or
tests/consumers/ort_web/driver.cjs under Node) reads the model files and a file of folded names and writes
log_probs for three batchings: mixed lengths, equal lengths, one name per call. Eager PyTorch runs the same
batches once here. Per consumer and file: the project's parity rule (rnnexport.parity: |a - b| <= atol + rtol·|b|
per log-prob against float64, atol 1e-5, rtol 1e-6) and 100% top-1 on every name of the data set
(onnx.reference: a seeded sample; it is slow). Consumers run without network (`unshare -n`) where the host
allows it; the printed table says which. Without the data set, generated names are used and the table says so.
Model directory: $RNNEXPORT_CONSUMERS_MODEL_DIR, else the repository's exported/.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rnnexport.model.manifest import CHECKPOINT_FILE, FOLD_TABLE_FILE, read_manifest
from rnnexport.verification.parity import Tolerance, compare, failure_line

pytestmark = [pytest.mark.consumers, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
MODEL_DIR = Path(os.environ.get("RNNEXPORT_CONSUMERS_MODEL_DIR") or REPO / "exported")
CONSUMERS_DIR = REPO / "build" / "consumers"
DRIVER = REPO / "tests" / "consumers" / "driver.py"
WEB_DRIVER = REPO / "tests" / "consumers" / "ort_web" / "driver.cjs"
REPORT = CONSUMERS_DIR / "report.md"
REFERENCE_SAMPLE = 300
TIMEOUT_S = 1200
# Short and long names beside the data set's, so that T = 1 (no Scan) and long scans run in every consumer.
EDGE_NAMES = ["A", "z", "'", "Ab", "O'Neill", "ab" * 30]


@dataclass(frozen=True)
class Consumer:
    label: str
    env: str  # build/consumers/<env>
    runtime: str  # the driver's RUNTIME argument
    format: str  # the manifest's "format" of the artifacts it runs
    sample: bool = False  # a seeded sample of the names instead of all of them


CONSUMERS = (
    Consumer("onnx.reference", "onnx-reference", "onnx-reference", "onnx", sample=True),
    Consumer("onnxruntime, oldest", "ort-oldest", "onnxruntime", "onnx"),
    Consumer("onnxruntime, newest", "ort-newest", "onnxruntime", "onnx"),
    Consumer("OpenVINO CPU, f32 hint", "openvino", "openvino", "onnx"),
    Consumer("tract", "tract", "tract", "onnx"),
    Consumer("onnxruntime-web, wasm in Node", "ort-web", "onnxruntime-web", "onnx"),
    Consumer("torch.jit.load", "torchscript", "torchscript", "torchscript"),
    # The newest torch on PyPI (beyond the package's pin): what a user upgrading torch meets.
    Consumer("torch.jit.load, newest torch", "torch-newest", "torchscript", "torchscript"),
    Consumer("torch.export.load", "torchscript", "torch-export", "torch.export"),
    Consumer("torch.export.load, newest torch", "torch-newest", "torch-export", "torch.export"),
    # Only where the folder has the package (export --aoti): compiled for this CPU and the pinned torch.
    Consumer("aoti_load_package", "torchscript", "aoti", "aoti"),
)
CHECKERS = (
    Consumer("onnx checker, newest", "onnx-reference", "onnx-checker", "onnx"),
    Consumer("onnx checker, oldest", "ort-oldest", "onnx-checker", "onnx"),
)
# Artifacts that are no graph for a runtime, and who handles them instead.
NOT_GRAPHS = {
    CHECKPOINT_FILE: "the reference: eager PyTorch loads it here (test_eager_float32_matches_float64)",
    FOLD_TABLE_FILE: "folding data: the names are folded before any consumer sees them (tests/test_embed.py)",
}


def _load_driver():
    """tests/consumers/driver.py as a module: eager PyTorch gets the consumers' batches from it."""
    spec = importlib.util.spec_from_file_location("conformance_driver", DRIVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


driver = _load_driver()


def drives(artifacts: dict) -> dict[str, list[tuple[str, ...]]]:
    """Per manifest format, the files each run of a consumer gets: one graph, or the prefix step with its head.

    ONNX graphs are grouped by what their inputs make them (driver.GRAPH_KINDS) into driver.DRIVES; a graph
    whose inputs no drive knows, or a step without a head, is in no drive.
    """
    kinds: dict[str, list[str]] = {}
    for file_name, entry in artifacts.items():
        if entry.get("format") == "onnx":
            kinds.setdefault(driver.graph_kind(entry), []).append(file_name)
    onnx_drives = [combo for drive in driver.DRIVES for combo in itertools.product(*(kinds.get(k, []) for k in drive))]
    singles = {fmt: [(name,) for name, entry in artifacts.items() if entry.get("format") == fmt]
               for fmt in ("torchscript", "torch.export", "aoti")}  # fmt: skip
    return {"onnx": onnx_drives, **singles}


def unhandled(artifacts: dict) -> list[str]:
    """Artifacts of the manifest that no consumer runs and NOT_GRAPHS does not account for."""
    formats = {consumer.format for consumer in (*CONSUMERS, *CHECKERS)}
    run = {name for fmt, combos in drives(artifacts).items() if fmt in formats for combo in combos for name in combo}
    return sorted(set(artifacts) - run - set(NOT_GRAPHS))


ARTIFACTS = read_manifest(MODEL_DIR)["artifacts"]
DRIVES = drives(ARTIFACTS)


def _run(command: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"{what} failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def consumer_envs() -> None:
    """Build every consumer environment that is missing or out of date (a no-op once built)."""
    _run(["make", "--no-print-directory", "consumer-envs"], "make consumer-envs", cwd=REPO)


@pytest.fixture(scope="module")
def isolation() -> list[str]:
    """`unshare -n` (no network) in front of each consumer where the host allows it, else nothing."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-n"]
    return []


@pytest.fixture(scope="module")
def names_files(tmp_path_factory) -> dict:
    """All names and the seeded sample, folded, one per line; and where they came from."""
    from rnnexport.text.fold import fold, has_prediction
    from rnnexport.verification.verify import default_names

    names, source = default_names()  # the data set's names, else generated name-like names (the source says so)
    names = [folded for folded in map(fold, [*names, *EDGE_NAMES]) if has_prediction(folded)]
    picked = np.sort(np.random.default_rng(0).choice(len(names), size=min(REFERENCE_SAMPLE, len(names)), replace=False))
    folder = tmp_path_factory.mktemp("conformance")
    files = {"all": (folder / "names.txt", names), "sample": (folder / "sample.txt", [names[i] for i in picked])}
    for path, chosen in files.values():
        path.write_text("".join(f"{name}\n" for name in chosen), encoding="utf-8")
    return {"files": files, "source": source}


def _eager_log_probs(runtime, names: list[str], mode: str, dtype) -> np.ndarray:
    """log_probs [N, L] of ``runtime`` over ``names``, batched as the drivers batch in ``mode``."""
    letters, lengths = driver.encode(names, json.loads((MODEL_DIR / "manifest.json").read_text())["alphabet"])
    log_probs = np.full((len(names), len(runtime.labels)), np.nan, dtype=dtype)
    for rows in driver.batches(lengths, mode):
        log_probs[rows] = runtime.log_probs(*driver.pad(letters, rows))
    return log_probs


@pytest.fixture(scope="module")
def exact(names_files) -> dict:
    """Eager PyTorch in float64 from checkpoint.pt: log_probs [N, L] per names key.

    The reference is float64 because float32 runs differ from the exact answer by about 1e-5 on long names
    (log-probs reach -22, where a float32 step is 1.9e-6), in either direction: eager float32 at batch 1 and
    at batch 64 differ from each other by 1.05e-5. Batching moves the float64 result by < 1e-13.
    """
    from rnnexport.runtimes.torch_runtimes import TorchRuntime

    runtime = TorchRuntime(MODEL_DIR)
    runtime.module.double()
    return {
        key: _eager_log_probs(runtime, names, "equal", np.float64) for key, (_, names) in names_files["files"].items()
    }


@pytest.fixture(scope="module")
def table(names_files, isolation, request):
    """Rows of the conformance table; printed (past pytest's capture) and written to build/consumers/report.md."""
    rows: list[dict] = []
    yield rows
    network = "none (each consumer ran under `unshare -n`)" if isolation else "NOT isolated (`unshare -n` unavailable)"
    lines = [
        f"names: {names_files['source']}, plus {len(EDGE_NAMES)} edge names; network at run time: {network}",
        "reference: eager PyTorch (checkpoint.pt) in float64; every float32 run, eager PyTorch's own included, "
        f"must meet the parity rule {Tolerance().describe()} with 100% top-1, in each of the batchings "
        f"{', '.join(driver.MODES)}; ratio: the worst |a - b| / (atol + rtol·|b|)",
        "",
        "| consumer | version | file | IR/opset | max abs diff | ratio | top-1 | names | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['consumer']} | {r['version']} | {r['file']} | {r['ir']} | {r['diff']} | {r['ratio']} | {r['top1']} "
            f"| {r['names']} | {r['seconds']} |"
            for r in rows
        ),
    ]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n\nConformance of the exported files (tests/test_consumers.py):\n" + "\n".join(lines))


def _driver_command(consumer: Consumer, files: tuple[str, ...], names_file: Path, out_dir: Path) -> list[str]:
    model_files = [str(MODEL_DIR / file_name) for file_name in files]
    if consumer.runtime == "onnxruntime-web":
        batching = [",".join(driver.MODES), str(driver.MIXED_BATCH), str(driver.EQUAL_BATCH)]
        return ["node", str(WEB_DRIVER), str(names_file), str(out_dir), *batching, *model_files]
    python = CONSUMERS_DIR / consumer.env / "bin" / "python"
    return [str(python), str(DRIVER), consumer.runtime, str(names_file), str(out_dir), *model_files]


def _run_consumer(consumer: Consumer, files: tuple[str, ...], names_file: Path, out_dir: Path, isolation) -> dict:
    command = [*isolation, *_driver_command(consumer, files, names_file, out_dir)]
    env = {"PATH": "/usr/bin:/bin", "NODE_PATH": str(CONSUMERS_DIR / "ort-web" / "node_modules")}
    _run(command, f"{consumer.label} on {' + '.join(files)}", env=env)
    return json.loads((out_dir / "info.json").read_text())


def _compare(expected: np.ndarray, actual: np.ndarray, names: list[str], mode: str) -> dict:
    """The parity report (rnnexport.parity) of one batching; shapes and NaN are checked first."""
    assert actual.shape == expected.shape, f"{mode}: log_probs of shape {actual.shape}, expected {expected.shape}"
    assert not np.isnan(actual).any(), f"{mode}: NaN in log_probs for {np.isnan(actual).any(axis=1).sum()} names"
    return {**compare(expected, actual, names), "mode": mode}


def _record_and_check(table: list[dict], row: dict, results: list[dict]) -> None:
    """Add one row to the table, then fail, with the rule's explanation, when any batching breaks the rule."""
    diff, ratio = max(r["max_abs_diff"] for r in results), max(r["worst_ratio"] for r in results)
    top1 = min(r["top1_agreement"] for r in results)
    table.append({**row, "diff": f"{diff:.2e}", "ratio": f"{ratio:.3f}", "top1": f"{top1:.2%}"})
    what = f"{row['consumer']} on {row['file']}"
    failures = [failure_line(f"{what}, {r['mode']} batches", r) for r in results if not r["passed"]]
    assert not failures, "; ".join(failures)


def _names_label(names: list[str], sample: bool) -> str:
    return f"{len(names):,}{' (sample)' if sample else ''} x {len(driver.MODES)} batchings"


def _ir_opset(info: dict) -> str:
    """IR/opset of the files the driver ran, once when they agree; "-" for TorchScript."""
    pairs = dict.fromkeys(f"{g['ir_version']}/{g['opset']}" for g in info["graphs"] if g.get("ir_version"))
    return " + ".join(pairs) or "-"


def _consumer_cases(consumers: tuple[Consumer, ...], per_file: bool = False) -> list:
    """(consumer, files) for every consumer and every drive of its format (each file alone when ``per_file``)."""
    cases = []
    for consumer in consumers:
        combos = DRIVES[consumer.format]
        files = [(name,) for name in dict.fromkeys(itertools.chain(*combos))] if per_file else combos
        cases += [pytest.param(consumer, combo, id=f"{consumer.env}-{'+'.join(combo)}") for combo in files]
    return cases


def test_every_artifact_has_a_consumer():
    """Every artifact manifest.json lists runs in a consumer, or NOT_GRAPHS says who handles it."""
    assert unhandled(ARTIFACTS) == [], f"no consumer handles {unhandled(ARTIFACTS)}: add a drive or a consumer"
    assert set(NOT_GRAPHS) <= set(ARTIFACTS), f"NOT_GRAPHS names files the manifest no longer lists: {NOT_GRAPHS}"


def test_an_artifact_no_consumer_runs_is_reported():
    """A new graph with unknown inputs, a format no consumer reads, and a step without its head are caught."""
    new_graph = {"format": "onnx", "inputs": [{"name": "tokens"}], "outputs": [{"name": "log_probs"}]}
    artifacts = {**ARTIFACTS, "char_rnn_new.onnx": new_graph, "char_rnn.tflite": {"format": "tflite"}}
    assert unhandled(artifacts) == ["char_rnn.tflite", "char_rnn_new.onnx"]
    heads = [name for name, entry in ARTIFACTS.items() if driver.graph_kind(entry) == "head"]
    steps = [name for name, entry in ARTIFACTS.items() if driver.graph_kind(entry) == "step"]
    assert heads and steps, "the manifest has no prefix step and head"
    assert unhandled({name: entry for name, entry in ARTIFACTS.items() if name not in heads}) == steps


@pytest.mark.parametrize(("consumer", "files"), _consumer_cases(CONSUMERS))
def test_consumer_matches_eager_pytorch(consumer, files, consumer_envs, names_files, exact, table, isolation, tmp_path):
    key = "sample" if consumer.sample else "all"
    names_file, names = names_files["files"][key]
    info = _run_consumer(consumer, files, names_file, tmp_path, isolation)
    results = [_compare(exact[key], np.load(tmp_path / f"{mode}.npy"), names, mode) for mode in driver.MODES]
    row = {
        "consumer": consumer.label,
        "version": info["version"].split("-")[0],  # OpenVINO appends its build hash
        "file": " + ".join(files),
        "ir": _ir_opset(info),
        "names": _names_label(names, consumer.sample),
        "seconds": round(sum(info["seconds"].values()), 1),
    }
    _record_and_check(table, row, results)


def test_eager_float32_matches_float64(names_files, exact, table):
    """The reference's own float32 run (what `classify --runtime torch` computes) meets the same bound."""
    import torch

    from rnnexport.runtimes.torch_runtimes import TorchRuntime

    runtime = TorchRuntime(MODEL_DIR)
    _, names = names_files["files"]["all"]
    started = time.perf_counter()
    results = [
        _compare(exact["all"], _eager_log_probs(runtime, names, mode, np.float32), names, mode) for mode in driver.MODES
    ]
    row = {
        "consumer": "eager PyTorch, float32 (main venv)",
        "version": torch.__version__,
        "file": CHECKPOINT_FILE,
        "ir": "-",
        "names": _names_label(names, sample=False),
        "seconds": round(time.perf_counter() - started, 1),
    }
    _record_and_check(table, row, results)


@pytest.mark.parametrize(("checker", "files"), _consumer_cases(CHECKERS, per_file=True))
def test_onnx_checker_accepts(checker, files, consumer_envs, names_files, table, isolation, tmp_path):
    """onnx.checker.check_model(full_check=True) and strict shape inference, at the oldest and newest onnx."""
    info = _run_consumer(checker, files, names_files["files"]["sample"][0], tmp_path, isolation)
    table.append(
        {
            "consumer": checker.label,
            "version": info["version"],
            "file": " + ".join(files),
            "ir": _ir_opset(info),
            "diff": "check_model(full_check), strict shape inference: ok",
            "ratio": "-",
            "top1": "-",
            "names": "-",
            "seconds": "-",
        }
    )
