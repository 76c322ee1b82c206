"""`rnnexport bench`: classify throughput end to end, peak memory, cold start, and the baselines it is compared to."""

from __future__ import annotations

import csv
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..runtimes.base import Runtime
from ..runtimes.prefix import PrefixSchedule
from ..text.encode import RaggedNames, encode_ragged
from ..text.fold import fold
from .runs import Runs, interleaved, run_cli
from .synthetic import ngram_names


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


def classify_args(csv_path: Path, runtime: str, model_dir: Path, extra: list[str]) -> list[str]:
    """`rnnexport classify` CSV -> CSV with ``runtime``, quiet, into a file beside the input."""
    out = csv_path.with_name(f"out-{runtime}.csv")
    return ["classify", str(csv_path), "-o", str(out), "--runtime", runtime, "--model-dir", str(model_dir), "--quiet",
            *extra]  # fmt: skip


def cold_start(csv_path: Path, model_dir: Path, repeats: int = 5) -> Runs:
    """`classify` on a tiny CSV with --runtime onnx, ``repeats`` times (medians: wall and CPU)."""
    args = ["classify", str(csv_path), "-o", str(csv_path.with_name("cold.out.csv")), "--model-dir", str(model_dir)]
    return interleaved({"cold start": [*args, "--quiet"]}, repeats)["cold start"]


def seed_style_loop(model, names: list[str], alphabet: str) -> Measurement:
    """The tutorial's inference: one name at a time, one-hot (L, 1, n_letters), a Python loop over letters."""
    import torch

    from ..model.cell import predict_one_by_one

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
    from ..classify.options import ClassifyOptions
    from ..classify.pipeline import classify_local

    out = csv_path.with_name("out-baseline.csv")
    summary = classify_local(str(csv_path), str(out), runtime, ClassifyOptions())
    out.unlink()
    return Measurement(label, rows / summary.seconds, None, summary.seconds, "end to end, same batching")


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


def model_flops(products: int, readouts: int, hidden: int, n_labels: int) -> float:
    """The one FLOP count of the bench: 2·H·H per recurrent product plus 2·H·L per readout (the input projection
    is a row lookup; h_0 = 0, so a name's first letter takes no product)."""
    return float(products) * 2 * hidden * hidden + float(readouts) * 2 * hidden * n_labels


def naive_flops(encoded: RaggedNames, hidden: int, n_labels: int) -> float:
    """Every name with a letter computed from scratch: one product per letter after the first, one readout."""
    lengths = encoded.lengths[encoded.lengths > 0]
    return model_flops(int((lengths - 1).sum()), len(lengths), hidden, n_labels)


def prefix_flops(schedule: PrefixSchedule, hidden: int, n_labels: int) -> float:
    """What prefix sharing computes: one product per trie node below level 1, one readout per distinct name."""
    products = sum(block.n_nodes - block.levels[0].n_nodes for block in schedule.blocks)
    return model_flops(products, len(schedule.distinct.lcp), hidden, n_labels)


QUOTED_TARGET = 1.1  # issue 21: a fully quoted file within 1.1x of the same file unquoted


def quoting_ratio(model_dir: Path, workdir: Path, names: list[str], rows: int, report, repeats: int = 5) -> dict:
    """W3 (W1 with every field quoted) against W1, onnx with prefix sharing, end to end, interleaved (W1 W3 W1 W3
    ...): the ratios of the medians of wall and of CPU time, within QUOTED_TARGET."""
    commands = {kind: classify_args(workload_csv(kind, names, rows, workdir)[0], "onnx", model_dir, [])
                for kind in ("W1", "W3")}  # fmt: skip
    runs = interleaved(commands, repeats)
    wall, cpu = runs["W3"].wall / runs["W1"].wall, runs["W3"].cpu / runs["W1"].cpu
    report(f"quoted (W3) / unquoted (W1), onnx, {repeats} interleaved runs each: wall {wall:.2f}, CPU {cpu:.2f} "
           f"(target <= {QUOTED_TARGET}); W1 {runs['W1'].describe()}; W3 {runs['W3'].describe()}")  # fmt: skip
    return {"quoted_over_unquoted": wall, "quoted_over_unquoted_cpu": cpu, "target": QUOTED_TARGET,
            "met": wall <= QUOTED_TARGET, "runs": {kind: run.as_dict(rows) for kind, run in runs.items()}}  # fmt: skip


def timed(function: Callable[[], Measurement], report: Callable[[str], None]) -> Measurement:
    measurement = function()
    report(f"  {measurement.name}: {measurement.names_per_second:,.0f} names/s")
    return measurement


WORKLOADS = {
    "W1": "names sampled from the data set (repeats)",
    "W2": "distinct n-gram names (synthetic.ngram_names)",
    "W3": "W1 with every field quoted",
    "W4": "W1 as 6 columns, CRLF, the name 3rd (--column surname)",
}
# End to end runs per workload (each with prefix sharing on and off); W1 also runs torch.export, AOTInductor and eager
# torch. A runtime whose artifact the model folder lacks (aoti without export --aoti) is left out, and said so.
E2E_RUNTIMES = {"W1": ("onnx", "torchscript", "export", "aoti", "torch"), "W2": ("onnx", "torchscript"),
                "W3": ("onnx", "torchscript"), "W4": ("onnx", "torchscript")}  # fmt: skip
MODEL_PART_RUNTIMES = ("onnx", "torchscript", "export", "aoti")


def workload_csv(kind: str, names: list[str], rows: int, workdir: Path, seed: int = 0) -> tuple[Path, str]:
    """The CSV of workload ``kind`` and its name column; kept in ``workdir`` (W2's 1M n-gram draws take ~1 min)."""
    path = workdir / f"{kind}-{rows}-seed{seed}.csv"
    column = "surname" if kind == "W4" else "name"
    if not path.is_file():
        chosen = ngram_names(names, rows, seed=seed) if kind == "W2" else sample_names(names, rows, seed)
        frame = pd.DataFrame({"id": np.arange(rows), column: np.asarray(chosen, dtype=object)})
        options: dict = {"index": False}
        if kind == "W3":
            options["quoting"] = csv.QUOTE_ALL
        if kind == "W4":
            frame.insert(1, "given", "Ann")
            frame[["city", "country", "score"]] = ["Lyon, Rhône", "FR", 0.5]
            options["lineterminator"] = "\r\n"
        frame.to_csv(path.with_suffix(".tmp"), **options)
        path.with_suffix(".tmp").replace(path)
    return path, column


FORMAT_PAIRS = (("csv", "csv"), ("parquet", "parquet"), ("csv", "parquet"), ("parquet", "csv"))


def format_throughput(model_dir: Path, workdir: Path, names: list[str], rows: int, report, repeats: int = 3) -> list:
    """W1 end to end through the CLI for each input -> output format pair (onnx, prefix sharing on): the medians
    of ``repeats`` runs, the pairs interleaved so that a load change hits them alike."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_path, _ = workload_csv("W1", names, rows, workdir)
    inputs = {"csv": csv_path, "parquet": csv_path.with_suffix(".parquet")}
    if not inputs["parquet"].is_file():
        frame = pd.read_csv(csv_path, dtype={"name": str}, keep_default_na=False)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), inputs["parquet"])
    commands = {f"{source} -> {target}": ["classify", str(inputs[source]), "-o", str(workdir / f"formats-out.{target}"),
                                         "--model-dir", str(model_dir), "--quiet"]
                for source, target in FORMAT_PAIRS}  # fmt: skip
    runs = interleaved(commands, repeats, after=lambda: _remove_outputs(workdir))
    results = []
    report(f"W1 by format, {rows:,} rows, onnx, interleaved, median of {repeats}:")
    for (source, target), measured in zip(FORMAT_PAIRS, runs.values(), strict=True):
        results.append({"input": source, "output": target, "seconds": measured.wall, "cpu_seconds": measured.cpu,
                        "names_per_second": rows / measured.wall, "load_average": measured.load})  # fmt: skip
        report(f"  {source:>7} -> {target:<7} {measured.describe(rows)}")
    return results


def _remove_outputs(workdir: Path) -> None:
    for path in workdir.glob("formats-out.*"):
        path.unlink()


def model_part(runtime: Runtime, encoded: RaggedNames, prefix_sharing: bool, hidden: int) -> dict:
    """In process, per chunk as classify streams them: seconds of the schedule build and of the model calls,
    and the FLOPs computed (rnnexport.prefix; or per name in length batches)."""
    from ..classify.log_probs import predict_log_probs
    from ..classify.options import DEFAULT_BATCH_SIZE
    from ..io.csv.records import DEFAULT_CHUNK_ROWS
    from ..runtimes.prefix import build_schedule, run_schedule

    n_labels, build_seconds, model_seconds, flops = len(runtime.labels), 0.0, 0.0, 0.0
    warm_up = encoded.select(np.arange(min(5_000, len(encoded.lengths))))  # sessions opened, JIT profiled
    for _ in range(3):
        if runtime.prefix_engine() is not None:
            run_schedule(build_schedule(warm_up), runtime.prefix_engine().block_log_probs, n_labels)
        predict_log_probs(runtime, warm_up, n_labels, DEFAULT_BATCH_SIZE)
    for start in range(0, len(encoded.lengths), DEFAULT_CHUNK_ROWS):
        chunk = encoded.select(np.arange(start, min(start + DEFAULT_CHUNK_ROWS, len(encoded.lengths))))
        started = time.perf_counter()
        if prefix_sharing:
            schedule = build_schedule(chunk)
            built = time.perf_counter()
            run_schedule(schedule, runtime.prefix_engine().block_log_probs, n_labels, runtime.parallel_calls)
            flops += prefix_flops(schedule, hidden, n_labels)
        else:
            built = started
            predict_log_probs(runtime, chunk, n_labels, DEFAULT_BATCH_SIZE)
            flops += naive_flops(chunk, hidden, n_labels)
        build_seconds += built - started
        model_seconds += time.perf_counter() - built
    return {"build_seconds": build_seconds, "model_seconds": model_seconds, "flops": flops}


def gemm_rate(threads: int, hidden: int, tries: int = 5) -> tuple[float, dict]:
    """GFLOP/s the ceilings use: the best of ``tries`` one-thread measurements times ``threads`` (the cores
    used). A multi-thread GEMM collapses on a shared machine (8.8 against 39.8 GFLOP/s in one loaded run); the
    one-thread best does not, and only makes the ratios stricter. The ``threads``-thread rate is reported too."""
    one_thread = max(gemm_gflops(1, hidden) for _ in range(tries))
    measured = {1: one_thread, threads: gemm_gflops(threads, hidden)}
    return threads * one_thread, measured


def run_classify_bench(model_dir: Path, workdir: Path, names: list[str], rows: int, report) -> dict:
    """Everything `rnnexport bench` measures, as a dict (also written to bench/results.json by the CLI)."""
    from ..model.checkpoint import load_checkpoint, model_from_checkpoint
    from ..runtimes.registry import open_runtime, verify_runtimes
    from ..runtimes.torch_runtimes import use_one_intra_op_thread

    workdir.mkdir(parents=True, exist_ok=True)
    threads = os.cpu_count() or 1
    checkpoint = load_checkpoint(model_dir / "checkpoint.pt")
    model = model_from_checkpoint(checkpoint)
    hidden, n_labels, alphabet = model.hidden_size, len(checkpoint["labels"]), checkpoint["alphabet"]
    results: dict = {"rows": rows, "threads": threads, "load_average": os.getloadavg(), "workloads": {}}
    report(f"baselines ({threads} cores, load average {os.getloadavg()[0]:.1f}):")
    seed = timed(lambda: seed_style_loop(model, sample_names(names, 20_000), alphabet), report)
    gflops, measured = gemm_rate(threads, hidden)
    report(
        f"  GEMM [{GEMM_ROWS},{hidden}]x[{hidden},{hidden}] GFLOP/s by threads: {measured}; ceilings use "
        f"{threads} x the one-thread best: {gflops:.1f}"
    )
    results.update(gemm_gflops=gflops, gemm_measured=measured, seed_loop=seed.__dict__)
    w1_path, _ = workload_csv("W1", names, rows, workdir)
    packed = timed(lambda: in_process_throughput("torch.nn.RNN packed (W1, per name)", PackedRNNRuntime(model, threads),
                                                 w1_path, rows), report)  # fmt: skip
    results["nn_rnn_packed"] = packed.__dict__
    use_one_intra_op_thread()
    available = verify_runtimes(model_dir)
    missing = [name for name in MODEL_PART_RUNTIMES if name not in available]
    if missing:
        report(f"left out (no artifact in {model_dir}): {', '.join(missing)}")
    runtimes = {
        name: open_runtime(name, model_dir, threads=threads) for name in MODEL_PART_RUNTIMES if name in available
    }
    for kind, description in WORKLOADS.items():
        csv_path, column = workload_csv(kind, names, rows, workdir)
        encoded = encode_ragged(pd.read_csv(csv_path, dtype=str, keep_default_na=False)[column], alphabet)
        ceiling = gflops * 1e9 * rows / naive_flops(encoded, hidden, n_labels)
        report(f"{kind} ({description}), {rows:,} rows: naive GEMM ceiling {ceiling:,.0f} names/s ({threads} cores); "
               f"{E2E_REPEATS} interleaved runs of each:")  # fmt: skip
        entry: dict = {"description": description, "naive_ceiling_names_per_second": ceiling,
                       "end_to_end": _end_to_end(kind, csv_path, column, model_dir, rows, ceiling / threads,
                                                 seed.names_per_second, report, available)}  # fmt: skip
        entry["model_part"] = _model_parts(runtimes, encoded, hidden, gflops, report)
        results["workloads"][kind] = entry
    results["quoting"] = quoting_ratio(model_dir, workdir, names, rows, report)
    results["formats"] = format_throughput(model_dir, workdir, names, rows, report)
    tiny = sample_names_csv(names, 10, workdir / "names-10.csv")
    cold = cold_start(tiny, model_dir)
    results["cold_start"] = cold.as_dict()
    report(f"cold start, 10 rows, --runtime onnx: {cold.describe()}")
    return results


E2E_REPEATS = 3


def _end_to_end(kind: str, csv_path: Path, column: str, model_dir: Path, rows: int, core_ceiling: float,
                seed_rate: float, report, available: tuple[str, ...]) -> list[dict]:  # fmt: skip
    """Each runtime of the workload, prefix sharing on and off, through the CLI, interleaved; each against the
    naive ceiling by wall time (x_naive_ceiling: all cores) and by CPU time (x_core_ceiling: one core's). Only the
    runtimes ``available`` (whose artifact the model folder has) run."""
    runtimes = [runtime for runtime in E2E_RUNTIMES[kind] if runtime in available]
    configurations = [(runtime, prefix) for runtime in runtimes for prefix in (True, False)]
    commands = {f"{runtime} prefix {'on' if prefix else 'off'}":
                classify_args(csv_path, runtime, model_dir, ["--column", column, *([] if prefix else
                                                                                   ["--no-prefix-sharing"])])
                for runtime, prefix in configurations}  # fmt: skip
    measured = interleaved(commands, E2E_REPEATS, after=lambda: _remove_classified(csv_path))
    results = []
    for (runtime, prefix), runs in zip(configurations, measured.values(), strict=True):
        row = {"runtime": runtime, "prefix_sharing": prefix, **runs.as_dict(rows),
               "x_naive_ceiling": rows / runs.wall / (core_ceiling * (os.cpu_count() or 1)),
               "x_core_ceiling": rows / runs.cpu / core_ceiling,
               "x_seed_loop": rows / runs.wall / seed_rate}  # fmt: skip
        results.append(row)
        report(f"  {runs.label:<21} {runs.describe(rows)}  {row['x_naive_ceiling']:.2f}x ceiling (CPU: "
               f"{row['x_core_ceiling']:.2f}x one core's)  {row['x_seed_loop']:,.0f}x seed")  # fmt: skip
    return results


def _remove_classified(csv_path: Path) -> None:
    for path in csv_path.parent.glob("out-*.csv"):
        path.unlink()


def _model_parts(runtimes: dict, encoded: RaggedNames, hidden: int, gflops: float, report) -> list[dict]:
    """The model part of each in-process runtime, prefix sharing on and off, with its kernel efficiency."""
    rows = []
    for name, runtime in runtimes.items():
        for prefix_sharing in (True, False) if runtime.prefix_engine() is not None else (False,):  # aoti: per name
            part = model_part(runtime, encoded, prefix_sharing, hidden)
            part.update(runtime=name, prefix_sharing=prefix_sharing,
                        kernel_efficiency=part["flops"] / part["model_seconds"] / (gflops * 1e9))  # fmt: skip
            rows.append(part)
            report(f"  model part {name:<11} prefix {'on ' if prefix_sharing else 'off'} build "
                   f"{part['build_seconds']:.2f} s  model {part['model_seconds']:.2f} s  "
                   f"{part['flops'] / 1e9:.1f} GFLOP  kernel efficiency {part['kernel_efficiency']:.0%}")  # fmt: skip
    return rows


def memory_scaling(model_dir: Path, workdir: Path, names: list[str], report, sizes=(1_000_000, 5_000_000)) -> dict:
    """Peak RSS of `classify --runtime onnx` at two file sizes: streaming keeps it flat."""
    peaks = {}
    for rows in sizes:
        csv_path = sample_names_csv(names, rows, workdir / f"names-{rows}.csv")
        measured = run_cli(classify_args(csv_path, "onnx", model_dir, []))
        _remove_classified(csv_path)
        peaks[rows] = measured.peak_rss_mb
        report(f"  {rows:,} rows: peak RSS {measured.peak_rss_mb:.0f} MB, {rows / measured.wall:,.0f} names/s, CPU "
               f"{measured.cpu:.2f} s, load {measured.load:.1f}")  # fmt: skip
    return {"peak_rss_mb": peaks, "ratio": peaks[sizes[-1]] / peaks[sizes[0]]}
