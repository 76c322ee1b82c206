"""`rnnexport bench`: classify throughput end to end, peak memory, cold start, and the baselines it is compared to."""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..runtimes import Runtime
from ..text import RaggedNames, encode_ragged, fold


@dataclass
class Measurement:
    """One benchmark line: what ran, how fast, how much memory."""

    name: str
    names_per_second: float
    peak_rss_mb: float | None = None
    seconds: float | None = None
    note: str = ""


def sample_names(names: list[str], count: int, seed: int = 0) -> list[str]:
    """``count`` names drawn with replacement from ``names`` (the same seed, the same draw)."""
    picks = np.random.default_rng(seed).integers(len(names), size=count)
    return [names[i] for i in picks]


def sample_names_csv(names: list[str], rows: int, path: Path, seed: int = 0) -> Path:
    """A CSV of ``rows`` names drawn by :func:`sample_names`, with an id column."""
    chosen = np.asarray(sample_names(names, rows, seed), dtype=object)
    pd.DataFrame({"id": np.arange(rows), "name": chosen}).to_csv(path, index=False)
    return path


def run_cli(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `rnnexport` process.

    The peak is the child's own VmHWM, polled from /proc: getrusage would also count the pages the child
    inherited from this (large) benchmark process before exec.
    """
    executable = Path(sys.executable).parent / "rnnexport"
    started = time.perf_counter()
    process = subprocess.Popen([str(executable), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_kb = 0
    while process.poll() is None:
        peak_kb = max(peak_kb, _vm_hwm_kb(process.pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"rnnexport {' '.join(args)} failed: {process.stderr.read().decode()[-500:]}")
    return seconds, peak_kb / 1024


def _vm_hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    except (FileNotFoundError, ProcessLookupError):
        return 0


def classify_throughput(csv_path: Path, rows: int, runtime: str, model_dir: Path, extra: list[str]) -> Measurement:
    """End to end CSV -> CSV through the installed CLI."""
    out = csv_path.with_name(f"out-{runtime}.csv")
    args = ["classify", str(csv_path), "-o", str(out), "--runtime", runtime, "--model-dir", str(model_dir), "--quiet"]
    seconds, peak = run_cli(args + extra)
    out.unlink()
    return Measurement(f"classify --runtime {runtime} {' '.join(extra)}".strip(), rows / seconds, peak, seconds)


def cold_start(csv_path: Path, model_dir: Path, repeats: int = 5) -> float:
    """Median wall seconds of `classify` on a tiny CSV with --runtime onnx."""
    args = ["classify", str(csv_path), "-o", str(csv_path.with_name("cold.out.csv")), "--model-dir", str(model_dir)]
    return statistics.median(run_cli([*args, "--quiet"])[0] for _ in range(repeats))


def seed_style_loop(model, names: list[str], alphabet: str) -> Measurement:
    """The tutorial's inference: one name at a time, one-hot (L, 1, n_letters), a Python loop over letters."""
    import torch

    from ..model import predict_one_by_one

    torch.set_num_threads(1)  # its best setting: 2 threads only add overhead to ops this small (as in docs/model.md)
    one_hots = []
    for name in filter(None, (fold(name, alphabet) for name in names)):
        tensor = torch.zeros(len(name), 1, len(alphabet))
        tensor[torch.arange(len(name)), 0, [alphabet.index(c) for c in name]] = 1.0
        one_hots.append(tensor)
    started = time.perf_counter()
    with torch.no_grad():
        predict_one_by_one(model, one_hots)
    seconds = time.perf_counter() - started
    return Measurement("seed-style per-name loop (model only)", len(names) / seconds, None, seconds,
                       f"{len(names):,} names, batch 1, one-hot")  # fmt: skip


class PackedRNNRuntime(Runtime):
    """torch.nn.RNN (tanh) with the checkpoint's weights over packed one-hot sequences: the stock alternative."""

    name = "nn.RNN"

    def __init__(self, model, threads: int):
        import torch

        torch.set_num_threads(1)  # like the torch runtimes: one intra-op thread per call, calls in parallel
        self.parallel_calls = threads
        self.labels = [str(i) for i in range(model.v.out_features)]
        self.rnn = torch.nn.RNN(model.u.in_features, model.hidden_size, nonlinearity="tanh")
        with torch.no_grad():
            self.rnn.weight_ih_l0.copy_(model.u.weight)
            self.rnn.bias_ih_l0.copy_(model.u.bias)
            self.rnn.weight_hh_l0.copy_(model.w.weight)
            self.rnn.bias_hh_l0.copy_(model.w.bias)
        self.model = model

    def _log_probs(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        import torch
        from torch.nn.utils.rnn import pack_padded_sequence

        with torch.inference_mode():
            one_hot = torch.nn.functional.one_hot(torch.from_numpy(indices), self.rnn.input_size).float()
            packed = pack_padded_sequence(one_hot, torch.from_numpy(lengths), enforce_sorted=False)
            _, hidden = self.rnn(packed)
            return self.model.readout(hidden[0]).numpy()


def in_process_throughput(label: str, runtime: Runtime, csv_path: Path, rows: int) -> Measurement:
    """The same streaming classify, in this process, with another Runtime (for baselines)."""
    from ..classify import ClassifyOptions, classify_csv

    out = csv_path.with_name("out-baseline.csv")
    summary = classify_csv(str(csv_path), str(out), runtime, ClassifyOptions())
    out.unlink()
    return Measurement(label, rows / summary.seconds, None, summary.seconds, "end to end, same batching")


def model_only_throughput(model_dir: Path, encoded: RaggedNames, threads: int) -> Measurement:
    """ONNX Runtime on already-encoded names, classify's batching, no CSV: what the runtime alone reaches."""
    from ..classify import DEFAULT_BATCH_SIZE, predict_log_probs
    from ..runtimes import OnnxSequenceRuntime

    runtime = OnnxSequenceRuntime(model_dir, threads=threads)
    warm_up = encoded.select(np.arange(min(10_000, len(encoded.lengths))))
    predict_log_probs(runtime, warm_up, len(runtime.labels), DEFAULT_BATCH_SIZE)
    started = time.perf_counter()
    predict_log_probs(runtime, encoded, len(runtime.labels), DEFAULT_BATCH_SIZE)
    seconds = time.perf_counter() - started
    return Measurement(f"onnx model only, {threads} thread(s)", len(encoded.lengths) / seconds, None, seconds,
                       "pre-encoded names, no CSV")  # fmt: skip


GEMM_ROWS = 4096  # the batch of the GEMM that sets the ceiling


def gemm_gflops(threads: int, hidden: int, repeats: int = 200) -> float:
    """Measured fp32 GFLOP/s of torch.mm [4096, hidden] x [hidden, hidden] (median of ``repeats``)."""
    import torch

    torch.set_num_threads(threads)
    left, right = torch.randn(GEMM_ROWS, hidden), torch.randn(hidden, hidden)
    for _ in range(20):
        torch.mm(left, right)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(left, right)
        timings.append(time.perf_counter() - started)
    return 2 * GEMM_ROWS * hidden * hidden / statistics.median(timings) / 1e9


def flops_per_name(encoded: RaggedNames, n_labels: int, hidden: int) -> float:
    """Recurrent GEMM per letter (2·H·H) plus the readout (2·H·L); the input projection is a row lookup."""
    return float(encoded.lengths[encoded.lengths > 0].mean()) * 2 * hidden * hidden + 2 * hidden * n_labels


QUOTED_TARGET = 1.3  # issue 10: a fully quoted file within 1.3x of the same file unquoted


def quoting_pair(csv_path: Path, rows: int, model_dir: Path, report: Callable[[str], None]) -> dict:
    """classify --runtime onnx on the same names unquoted and fully quoted (csv.QUOTE_ALL), side by side."""
    quoted_path = csv_path.with_name(f"{csv_path.stem}-quoted.csv")
    pd.read_csv(csv_path, dtype=str, keep_default_na=False).to_csv(quoted_path, index=False, quoting=csv.QUOTE_ALL)
    unquoted = classify_throughput(csv_path, rows, "onnx", model_dir, [])
    quoted = classify_throughput(quoted_path, rows, "onnx", model_dir, [])
    quoted_path.unlink()
    ratio = quoted.seconds / unquoted.seconds
    verdict = "meets" if ratio <= QUOTED_TARGET else "MISSES"
    report(f"  unquoted {unquoted.seconds:.2f} s, fully quoted {quoted.seconds:.2f} s: {ratio:.2f}x ({verdict} the "
           f"{QUOTED_TARGET}x target)")  # fmt: skip
    return {"unquoted_seconds": unquoted.seconds, "quoted_seconds": quoted.seconds, "ratio": ratio}


def timed(function: Callable[[], Measurement], report: Callable[[str], None]) -> Measurement:
    measurement = function()
    report(f"  {measurement.name}: {measurement.names_per_second:,.0f} names/s")
    return measurement


def run_classify_bench(model_dir: Path, workdir: Path, names: list[str], rows: int, report) -> dict:
    """Everything `rnnexport bench` measures, as a dict (also written to bench/results.json by the CLI)."""
    from ..checkpoint import load_checkpoint, model_from_checkpoint

    workdir.mkdir(parents=True, exist_ok=True)
    threads = os.cpu_count() or 1
    csv_path = sample_names_csv(names, rows, workdir / f"names-{rows}.csv")
    checkpoint = load_checkpoint(model_dir / "checkpoint.pt")
    model = model_from_checkpoint(checkpoint)
    alphabet = checkpoint["alphabet"]
    encoded = encode_ragged(pd.read_csv(csv_path, dtype=str, keep_default_na=False)["name"], alphabet)
    results: dict = {"rows": rows, "threads": threads, "measurements": []}
    report(f"baselines on {rows:,} names ({threads} cores):")
    sample = [str(n) for n in pd.read_csv(csv_path, nrows=20_000, dtype=str)["name"]]
    seed = timed(lambda: seed_style_loop(model, sample, alphabet), report)
    packed = timed(lambda: in_process_throughput("torch.nn.RNN packed", PackedRNNRuntime(model, threads),
                                                 csv_path, rows), report)  # fmt: skip
    gflops = {t: gemm_gflops(t, model.hidden_size) for t in sorted({1, threads})}
    per_name = flops_per_name(encoded, len(checkpoint["labels"]), model.hidden_size)
    ceiling = gflops[threads] * 1e9 / per_name
    report(f"  GEMM: {gflops} GFLOP/s; {per_name / 1e3:.0f} kFLOP per name -> ceiling {ceiling:,.0f} names/s")
    results.update(gemm_gflops=gflops, flops_per_name=per_name, gemm_ceiling_names_per_second=ceiling)
    report("classify, end to end CSV -> CSV:")
    runs = [("onnx", []), ("onnx", ["--onnx-graph", "cell"]), ("torchscript", []), ("torch", [])]
    for runtime, extra in runs:
        measured = timed(lambda r=runtime, e=extra: classify_throughput(csv_path, rows, r, model_dir, e), report)
        measured.note = (
            f"{measured.names_per_second / seed.names_per_second:.0f}x seed loop, "
            f"{measured.names_per_second / packed.names_per_second:.2f}x nn.RNN, "
            f"{measured.names_per_second / ceiling:.0%} of GEMM ceiling"
        )
        results["measurements"].append(measured.__dict__)
    results["quoting"] = quoting_pair(csv_path, rows, model_dir, report)
    for model_threads in sorted({1, threads}):
        model_only = timed(lambda t=model_threads: model_only_throughput(model_dir, encoded, t), report)
        model_only.note = f"{model_only.names_per_second / ceiling:.0%} of GEMM ceiling"
        results["measurements"].append(model_only.__dict__)
    results["measurements"] += [seed.__dict__, packed.__dict__]
    tiny = sample_names_csv(names, 10, workdir / "names-10.csv")
    results["cold_start_seconds"] = cold_start(tiny, model_dir)
    report(f"cold start, 10 rows, --runtime onnx: {results['cold_start_seconds']:.3f} s (median of 5)")
    return results


def memory_scaling(model_dir: Path, workdir: Path, names: list[str], report, sizes=(1_000_000, 5_000_000)) -> dict:
    """Peak RSS of `classify --runtime onnx` at two file sizes: streaming keeps it flat."""
    peaks = {}
    for rows in sizes:
        csv_path = sample_names_csv(names, rows, workdir / f"names-{rows}.csv")
        measured = classify_throughput(csv_path, rows, "onnx", model_dir, [])
        peaks[rows] = measured.peak_rss_mb
        report(f"  {rows:,} rows: peak RSS {measured.peak_rss_mb:.0f} MB, {measured.names_per_second:,.0f} names/s")
    return {"peak_rss_mb": peaks, "ratio": peaks[sizes[-1]] / peaks[sizes[0]]}
