"""Results never depend on load or on how calls are spread over threads: bit-identical log_probs run after run,
parallel or sequential, with CPU hogs running (the race question of issue 11)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnexport.classify.log_probs import predict_log_probs
from rnnexport.runtimes.registry import DEFAULT_RUNTIMES, open_runtime
from rnnexport.runtimes.torch_runtimes import use_one_intra_op_thread
from rnnexport.text.encode import encode_ragged
from rnnexport.verification.verify import generated_names

RNNEXPORT = str(Path(sys.executable).parent / "rnnexport")
REPO = Path(__file__).resolve().parents[1]


def a_model_dir(tiny_model_dir: Path) -> Path:
    """The committed model when exported/ holds one with every runtime's artifact (its long names show float32
    rounding; one exported before char_rnn.pt2 has no 'export' runtime), else the tiny one."""
    from rnnexport.runtimes.registry import verify_runtimes

    committed = REPO / "exported"
    complete = (committed / "manifest.json").is_file() and set(DEFAULT_RUNTIMES) <= set(verify_runtimes(committed))
    return committed if complete else tiny_model_dir


@pytest.mark.parametrize("name", DEFAULT_RUNTIMES)
def test_parallel_calls_give_the_same_bits_as_sequential_ones(tiny_model_dir, name):
    use_one_intra_op_thread()
    runtime = open_runtime(name, a_model_dir(tiny_model_dir), threads=1)
    for seed in range(3):
        encoded = encode_ragged(generated_names(500, seed))
        runtime.parallel_calls = 1
        sequential = predict_log_probs(runtime, encoded, len(runtime.labels), 64)
        runtime.parallel_calls = 2
        parallel = predict_log_probs(runtime, encoded, len(runtime.labels), 64)
        np.testing.assert_array_equal(parallel, sequential)


@contextlib.contextmanager
def cpu_hogs(count: int = 4):
    hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.mark.slow
def test_classify_check_and_verify_are_bit_identical_under_load(tmp_path, tiny_model_dir):
    model_dir = a_model_dir(tiny_model_dir)
    # Up to 12 letters, like real surnames: random 40-letter strings drift up to ~3e-5 in float32 on the
    # committed model whatever the load (a property of float32 on long inputs, not a race).
    names = [name[:12] for name in generated_names(1500, seed=7)]
    with open(tmp_path / "names.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["name"], *([name] for name in names)])
    outputs: dict[str, set[str]] = {}
    with cpu_hogs():
        for attempt in range(2):
            for runtime in DEFAULT_RUNTIMES:
                for threads in ("1", "2"):
                    output = tmp_path / f"{runtime}-{threads}-{attempt}.csv"
                    result = subprocess.run(
                        [RNNEXPORT, "classify", "names.csv", "-o", output.name, "--runtime", runtime, "--check",
                         "--threads", threads, "--batch-size", "64", "--chunk-rows", "500", "--model-dir",
                         str(model_dir)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                    )  # fmt: skip
                    assert result.returncode == 0, result.stderr
                    ratio = float(re.search(r": ok; \S+: worst ratio ([0-9.e+-]+)", result.stderr).group(1))
                    assert ratio <= 1
                    outputs.setdefault(runtime, set()).add(hashlib.sha256(output.read_bytes()).hexdigest())
        reports = []
        for attempt in range(2):
            report = tmp_path / f"verify-{attempt}.json"
            verify = [RNNEXPORT, "verify", "--runtime", "torchscript", "--names", "names.csv", "--report", report.name]
            subprocess.run([*verify, "--model-dir", str(model_dir)], cwd=tmp_path, capture_output=True, timeout=600)
            reports.append(
                {  # the per-name path by batch size, the prefix-shared path by block size
                    name: entry.get("by_batch_size", entry.get("by_block_size"))
                    for name, entry in json.loads(report.read_text())["runtimes"].items()
                }
            )
    assert {runtime: len(hashes) for runtime, hashes in outputs.items()} == dict.fromkeys(DEFAULT_RUNTIMES, 1)
    assert reports[0] == reports[1]
