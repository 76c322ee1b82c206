"""Model part of classify on W1 (1M names sampled from the data set) and W2 (1M distinct n-gram names).

For eager torch and ONNX Runtime, on 2 threads: today's per-name batches of 512 over length buckets
(classify.predict_log_probs), dedup only (each distinct name once, same batches), and dedup + prefix sharing
(rnnexport.runtimes.prefix) at several block sizes; each per chunk of ``--chunk-rows`` rows as classify streams them.
Reports names/s, × the naive GEMM ceiling (GEMM rate ÷ FLOPs of computing every name from scratch), FLOPs
computed, kernel efficiency (FLOPs computed ÷ model seconds ÷ GEMM rate), and max |Δ| against the
per-name eager-torch log_probs of the same rows.

    RNNEXPORT_NAMES_DIR=/work/shared/data/names .venv/bin/python scripts/bench_prefix.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from rnnexport.bench.classify import gemm_gflops, naive_flops, prefix_flops
from rnnexport.bench.synthetic import ngram_names
from rnnexport.classify.log_probs import predict_log_probs
from rnnexport.classify.options import DEFAULT_BATCH_SIZE
from rnnexport.export.manifest import artifact_metadata
from rnnexport.export.onnx_step import build_head_model, build_step_model
from rnnexport.io.csv.records import DEFAULT_CHUNK_ROWS
from rnnexport.model.checkpoint import load_checkpoint, model_from_checkpoint
from rnnexport.runtimes.onnx_runtimes import OnnxSequenceRuntime, onnx_session
from rnnexport.runtimes.prefix import build_schedule, distinct_names, run_schedule, scatter_rows
from rnnexport.runtimes.prefix_onnx import OnnxPrefixEngine
from rnnexport.runtimes.prefix_torch import TorchPrefixEngine
from rnnexport.runtimes.torch_runtimes import TorchRuntime
from rnnexport.text.encode import RaggedNames, encode_ragged
from rnnexport.verification.verify import dataset_names


def workload(name: str, rows: int, seed: int) -> RaggedNames:
    """W1: rows drawn with replacement from the data set's distinct names (as rnnexport.bench samples them);
    W2: rows distinct n-gram names."""
    names, _ = dataset_names()
    if name == "W1":
        return encode_ragged(
            list(np.asarray(names, dtype=object)[np.random.default_rng(seed).integers(len(names), size=rows)])
        )
    return encode_ragged(ngram_names(names, rows, seed=seed))


def chunks(encoded: RaggedNames, chunk_rows: int) -> list[RaggedNames]:
    return [
        encoded.select(np.arange(start, min(start + chunk_rows, len(encoded.lengths))))
        for start in range(0, len(encoded.lengths), chunk_rows)
    ]


def timed(function, repeats: int = 1):
    """The result and the best wall seconds of ``repeats`` runs (best-of damps a shared machine's noise)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return result, best


def per_name(runtime, parts):
    return np.concatenate([predict_log_probs(runtime, part, len(runtime.labels), DEFAULT_BATCH_SIZE) for part in parts])


def dedup_only(runtime, parts):
    outputs = []
    for part in parts:
        distinct = distinct_names(part)
        log_probs = predict_log_probs(runtime, distinct.names, len(runtime.labels), DEFAULT_BATCH_SIZE)
        outputs.append(scatter_rows(log_probs, distinct.inverse))
    return np.concatenate(outputs)


def prefix_shared(engine, parts, block_size, n_labels, threads):
    outputs, schedules, build_seconds = [], [], 0.0
    for part in parts:
        schedule, seconds = timed(lambda p=part: build_schedule(p, block_size))
        build_seconds += seconds
        schedules.append(schedule)
        outputs.append(run_schedule(schedule, engine.block_log_probs, n_labels, parallel_calls=threads))
    return np.concatenate(outputs), schedules, build_seconds


def onnx_engine(checkpoint: dict, folder: Path) -> OnnxPrefixEngine:
    weights = {name: tensor.numpy() for name, tensor in checkpoint["state_dict"].items()}
    metadata = artifact_metadata(checkpoint)
    onnx.save(build_step_model(weights, metadata), str(folder / "char_rnn_step.onnx"))
    onnx.save(build_head_model(weights, metadata), str(folder / "char_rnn_head.onnx"))
    sessions = [onnx_session(folder / name, 1, "cpu") for name in ("char_rnn_step.onnx", "char_rnn_head.onnx")]
    return OnnxPrefixEngine(*sessions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("exported"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    parser.add_argument("--block-sizes", default="2048,4096,8192,16384")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workloads", default="W1,W2")
    parser.add_argument("--runtimes", default="onnx,torch")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs per measurement")
    parser.add_argument("--json", type=Path, default=Path("bench/prefix.json"))
    args = parser.parse_args()
    import torch

    checkpoint = load_checkpoint(args.model_dir / "checkpoint.pt")
    hidden, n_labels = checkpoint["hidden_size"], len(checkpoint["labels"])
    measured = {threads: gemm_gflops(threads, hidden) for threads in (1, args.threads)}
    # On a shared machine a 2-thread GEMM can collapse (its threads wait on each other); threads x the 1-thread
    # rate bounds it from above, which only raises the ceiling the figures are compared with.
    gflops = max(measured[args.threads], args.threads * measured[1])
    torch.set_num_threads(1)  # one intra-op thread per call, ``threads`` calls at once (as runtimes.py does)
    print(f"GEMM rate: torch.mm [4096,{hidden}]x[{hidden},{hidden}] measured {measured} GFLOP/s; using {gflops:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        engines = {"onnx": onnx_engine(checkpoint, Path(folder)),
                   "torch": TorchPrefixEngine(model_from_checkpoint(checkpoint))}  # fmt: skip
        runtimes = {"onnx": OnnxSequenceRuntime(args.model_dir, threads=args.threads),
                    "torch": TorchRuntime(args.model_dir, threads=args.threads)}  # fmt: skip
        results = []
        for name in args.workloads.split(","):
            encoded = workload(name, args.rows, args.seed)
            results += bench_workload(name, encoded, args, engines, runtimes, gflops, hidden, n_labels)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {"gemm_gflops": gflops, "gemm_measured": measured, "threads": args.threads, "results": results}, indent=1
        )
    )


def bench_workload(workload, encoded, args, engines, runtimes, gflops, hidden, n_labels) -> list[dict]:
    parts = chunks(encoded, args.chunk_rows)
    rows = len(encoded.lengths)
    naive = naive_flops(encoded, hidden, n_labels)
    ceiling = gflops * 1e9 / (naive / rows)
    reference = per_name(runtimes["torch"], parts)
    letters = int(encoded.lengths.sum())
    print(f"\n{workload}: {rows:,} rows, {letters:,} letters, naive {naive / rows / 1e3:.1f} kFLOP/name, "
          f"naive ceiling {ceiling:,.0f} names/s")  # fmt: skip
    print("| runtime | mode | block | names/s | × naive ceiling | kernel eff. | GFLOP computed | steps | max abs Δ |")
    print("|---|---|---|---|---|---|---|---|---|")
    results = []

    def report(runtime, mode, block, output, seconds, flops, steps, extra=None):
        max_abs_diff = float(np.nanmax(np.abs(output - reference)))
        entry = {"workload": workload, "runtime": runtime, "mode": mode, "block_size": block, "seconds": seconds,
                 "names_per_second": rows / seconds, "x_naive_ceiling": rows / seconds / ceiling,
                 "kernel_efficiency": flops / seconds / (gflops * 1e9), "gflop_computed": flops / 1e9,
                 "steps": steps, "max_abs_diff": max_abs_diff, **(extra or {})}  # fmt: skip
        results.append(entry)
        print(f"| {runtime} | {mode} | {block or '-'} | {entry['names_per_second']:,.0f} | "
              f"{entry['x_naive_ceiling']:.2f} | {entry['kernel_efficiency']:.0%} | {entry['gflop_computed']:.1f} | "
              f"{steps:,} | {max_abs_diff:.2g} |", flush=True)  # fmt: skip

    for name in args.runtimes.split(","):
        runtime = runtimes[name]
        per_name(runtime, parts[:1])  # warm-up
        output, seconds = timed(lambda r=runtime: per_name(r, parts), args.repeats)
        report(name, "per-name batches of 512", None, output, seconds, naive, letters)
        output, seconds = timed(lambda r=runtime: dedup_only(r, parts), args.repeats)
        distinct = [distinct_names(part) for part in parts]
        dedup_steps = sum(int(d.names.lengths.sum()) for d in distinct)
        dedup_flops = sum(naive_flops(d.names, hidden, n_labels) for d in distinct)
        report(name, "dedup only", None, output, seconds, dedup_flops, dedup_steps)
        for block_size in map(int, args.block_sizes.split(",")):
            engine = engines[name]
            prefix_shared(engine, parts[:1], block_size, n_labels, args.threads)  # warm-up
            (output, schedules, build), seconds = timed(
                lambda e=engine, b=block_size: prefix_shared(e, parts, b, n_labels, args.threads), args.repeats
            )
            steps = sum(s.n_nodes for s in schedules)
            flops = sum(prefix_flops(schedule, hidden, n_labels) for schedule in schedules)
            report(name, "dedup + prefix sharing", block_size, output, seconds, flops, steps,
                   {"schedule_seconds": build})  # fmt: skip
    return results


if __name__ == "__main__":
    main()
