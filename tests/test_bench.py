import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from rnnexport.bench.classify import (
    FORMAT_PAIRS,
    PackedRNNRuntime,
    format_throughput,
    naive_flops,
    prefix_flops,
    sample_names_csv,
    seed_style_loop,
    workload_csv,
)
from rnnexport.model.checkpoint import load_checkpoint, model_from_checkpoint
from rnnexport.runtimes.prefix import build_schedule
from rnnexport.text.alphabet import ALPHABET
from rnnexport.text.encode import encode_ragged
from tests.helpers import assert_parity, reference_log_probs


def test_packed_nn_rnn_baseline_computes_the_same_model(tiny_model_dir):
    model = model_from_checkpoint(load_checkpoint(tiny_model_dir / "checkpoint.pt"))
    names = ["Smith", "Li", "Abcdefghij", "O'Neill"]
    encoded = encode_ragged(names).padded()
    expected = reference_log_probs(tiny_model_dir, encoded.indices, encoded.lengths)
    baseline = PackedRNNRuntime(model, threads=1).log_probs(encoded.indices, encoded.lengths)
    assert_parity(expected, baseline, names, "nn.RNN baseline")


def test_sampled_csv_is_deterministic(tmp_path):
    first = sample_names_csv(["Smith", "Li", "Kim"], 50, tmp_path / "a.csv", seed=3).read_text()
    second = sample_names_csv(["Smith", "Li", "Kim"], 50, tmp_path / "b.csv", seed=3).read_text()
    assert first == second
    assert len(pd.read_csv(tmp_path / "a.csv")) == 50


def test_flops_count_one_product_per_letter_after_the_first_and_one_per_trie_node_below_level_one():
    encoded = encode_ragged(["ab", "abcd", "", "ab", "ax"])
    # From scratch: 1 + 3 + 1 + 1 products after each first letter, 4 readouts.
    assert naive_flops(encoded, 128, 18) == 6 * 2 * 128 * 128 + 4 * 2 * 128 * 18
    # Shared: nodes a, ab, abc, abcd, ax -> 4 below level 1; 3 distinct names read out.
    assert prefix_flops(build_schedule(encoded), 16, 5) == 4 * 2 * 16 * 16 + 3 * 2 * 16 * 5


def test_workload_files_have_the_asked_shapes(tmp_path):
    names = ["Smith", "Li", "O'Neill", "Nguyen"]
    w3, column = workload_csv("W3", names, 30, tmp_path)
    assert column == "name" and all(line.startswith('"') for line in w3.read_text().splitlines())
    w4, column = workload_csv("W4", names, 30, tmp_path)
    lines = w4.read_bytes().split(b"\r\n")
    assert column == "surname" and lines[0] == b"id,given,surname,city,country,score" and lines[-1] == b""
    assert len(lines) == 32 and all(line.count(b",") == 6 for line in lines[1:-1])  # the city holds a comma
    assert workload_csv("W4", names, 30, tmp_path)[0].read_bytes() == w4.read_bytes()  # kept, not redrawn
    frame = pd.read_csv(w4)
    assert list(frame.columns)[2] == "surname" and set(frame["surname"]) <= set(names)


def test_format_throughput_runs_every_pair_and_leaves_only_its_inputs(tiny_model_dir, tmp_path):
    lines = []
    results = format_throughput(tiny_model_dir, tmp_path, ["Smith", "Li", "Łukasz"], 300, lines.append, repeats=1)
    assert [(row["input"], row["output"]) for row in results] == list(FORMAT_PAIRS)
    assert all(row["names_per_second"] > 0 for row in results) and len(lines) == 1 + len(FORMAT_PAIRS)
    assert sorted(path.suffix for path in tmp_path.iterdir()) == [".csv", ".parquet"]  # W1 in both formats


def test_seed_style_loop_reports_a_rate(tiny_model_dir):
    model = model_from_checkpoint(load_checkpoint(tiny_model_dir / "checkpoint.pt"))
    measured = seed_style_loop(model, ["Smith", "Li"] * 10, ALPHABET)
    assert measured.names_per_second > 0 and measured.seconds > 0


def test_onnx_step_costs_script_reports_every_part(tiny_model_dir):
    script = Path(__file__).resolve().parents[1] / "scripts" / "onnx_step_costs.py"
    args = [sys.executable, str(script), "--model-dir", str(tiny_model_dir), "--batch", "16"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    costs = re.findall(r"^  (.+?)\s+(\d+)(?:\s+\((\d+) GFLOP/s\))?$", result.stdout, flags=re.MULTILINE)
    assert [label for label, _, _ in costs][-1] == "exported step: lookup, Gemm(C), tanh" and len(costs) == 5
    assert all(int(ns) > 0 for _, ns, _ in costs) and any(gflops for _, _, gflops in costs)


def test_interleaved_runs_the_issues_shapes_and_judges_the_targets(tiny_model_dir, tmp_path):
    """The shapes at a thousandth of their size, the quoting ratio and the cold start on 300 rows, each command
    run once: every figure is there, with its target; the inputs are kept and the outputs removed."""
    from rnnexport.bench.classify import cold_start, quoting_ratio
    from rnnexport.bench.shapes import shapes, targets

    lines = []
    measured = shapes(tiny_model_dir, tmp_path, lines.append, repeats=1, scale=0.001)
    assert len(measured) == 4 and all(row["cpu_seconds"] > 0 and row["peak_rss_mb"] > 0 for row in measured)
    assert not (tmp_path / "shape-out.csv").exists() and len(lines) == 5
    quoting = quoting_ratio(tiny_model_dir, tmp_path, ["Smith", "Li", "Kim"], 300, lines.append, repeats=1)
    assert quoting["target"] == 1.1 and set(quoting["runs"]) == {"W1", "W3"}
    tiny = sample_names_csv(["Smith", "Li"], 10, tmp_path / "names-10.csv")
    cold = cold_start(tiny, tiny_model_dir, repeats=1).as_dict()
    rows = [{"runtime": "onnx", "prefix_sharing": True, "x_naive_ceiling": 3.0}]
    results = {"workloads": {"W1": {"end_to_end": rows}, "W2": {"end_to_end": rows}}, "quoting": quoting,
               "cold_start": cold, "load_average": (1.0, 1.0, 1.0)}  # fmt: skip
    judged = targets(results, lines.append)
    assert judged["W1 x naive ceiling"]["met"] and judged["W2 x naive ceiling"]["met"]
    assert set(judged) == {"W1 x naive ceiling", "W2 x naive ceiling", "quoted / unquoted", "cold start, s"}
