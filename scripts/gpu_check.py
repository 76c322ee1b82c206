"""GPU check: parity of torch, TorchScript and ONNX on the GPU with eager float64 on the CPU (the project's one rule,
rnnexport.verification.parity) on every distinct name, then names/s on the GPU."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from rnnexport.bench.classify import sample_names
from rnnexport.classify.log_probs import predict_log_probs
from rnnexport.data.fetch import DEFAULT_NAMES_DIR, NAMES_DIR_ENV
from rnnexport.errors import RnnExportError
from rnnexport.model.folder import find_model_dir
from rnnexport.runtimes.base import Runtime
from rnnexport.runtimes.registry import open_reference, open_runtime
from rnnexport.runtimes.torch_runtimes import use_one_intra_op_thread
from rnnexport.text.encode import RaggedNames, encode_ragged
from rnnexport.verification.parity import ATOL, RTOL, ParityCheck, Tolerance, failure_line
from rnnexport.verification.verify import dataset_names, generated_names

RUNTIME_NAMES = ("torch", "torchscript", "onnx")
PARITY_BATCH = 4096


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: a dry run of the same steps")
    parser.add_argument("--names", type=int, default=10_000_000, help="names for the throughput run")
    parser.add_argument("--model-dir", type=Path, help="[default: $RNNEXPORT_MODEL_DIR, else the packaged model]")
    parser.add_argument("--names-dir", type=Path, help=f"default: ${NAMES_DIR_ENV}, else {DEFAULT_NAMES_DIR}")
    parser.add_argument("--batch-size", type=int, default=65_536, help="names per call in the throughput run")
    parser.add_argument("--atol", type=float, default=ATOL, help="the parity rule's atol (|a - b| <= atol + rtol·|b|)")
    parser.add_argument("--rtol", type=float, default=RTOL, help="the parity rule's rtol; b: float64 on the CPU")
    parser.add_argument("--seed", type=int, default=0, help="seed of the throughput sample")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="where the JSON report goes")
    return parser.parse_args(argv)


def distinct_names(names_dir: Path | None) -> tuple[list[str], str]:
    """Every distinct name of the data set; generated names (with a printed note) when it is absent."""
    try:
        return dataset_names(names_dir)
    except (RnnExportError, OSError) as error:
        print(f"note: no names data set ({error}); using 5000 generated names instead", file=sys.stderr)
        return generated_names(), "generated (5000 random names; the data set was not found)"


def require_device(device: str) -> None:
    """Fail early, and clearly, when CUDA is asked for but torch cannot see a GPU."""
    if device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        built = torch.version.cuda or "no CUDA (a CPU-only build)"
        raise SystemExit(
            f"error: --device cuda, but torch {torch.__version__} (built with {built}) sees no CUDA device; "
            "run on a machine with an NVIDIA GPU and driver, or pass --device cpu for a dry run"
        )


def open_on(name: str, model_dir: Path, device: str) -> Runtime:
    """A runtime on ``device``; for ONNX on CUDA, only if onnxruntime really runs on the GPU."""
    if name == "onnx" and device == "cuda":
        import onnxruntime as ort

        # onnxruntime-gpu finds CUDA/cuDNN from the nvidia-* wheels only once they are loaded (torch loads its own);
        # a failure here shows up just below as a session without the CUDA provider.
        with contextlib.suppress(Exception):
            ort.preload_dlls()
    runtime = open_runtime(name, model_dir, threads=os.cpu_count(), device=device)
    if name == "onnx" and device == "cuda" and runtime.session.get_providers()[0] != "CUDAExecutionProvider":
        # onnxruntime silently falls back to CPU when the CUDA provider's libraries fail to load.
        raise RnnExportError(f"onnxruntime could not start CUDA (providers {runtime.session.get_providers()})")
    return runtime


def open_or_skip(name: str, model_dir: Path, device: str) -> tuple[Runtime | None, str]:
    """ONNX without a working CUDA provider is skipped with the reason; torch failing on the GPU is an error."""
    try:
        return open_on(name, model_dir, device), ""
    except RnnExportError as error:
        if name != "onnx" or device != "cuda":
            raise
        return None, str(error)


class TimedRuntime(Runtime):
    """Wraps a runtime: one call at a time, counting the seconds spent inside ``log_probs``."""

    def __init__(self, runtime: Runtime):
        self.runtime, self.name, self.labels, self.seconds = runtime, runtime.name, runtime.labels, 0.0

    def log_probs(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        output = self.runtime.log_probs(indices, lengths)
        self.seconds += time.perf_counter() - started
        return output


def log_probs_of(runtime: Runtime, encoded: RaggedNames, batch_size: int) -> tuple[np.ndarray, float]:
    """[N, L] log-probs by classify's own batching (rnnexport.classify.log_probs.predict_log_probs; NaN rows: no
    letter), and the seconds spent inside the runtime."""
    timed = TimedRuntime(runtime)
    log_probs = predict_log_probs(timed, encoded, len(runtime.labels), batch_size)
    return log_probs, timed.seconds


def parity(name: str, model_dir: Path, device: str, encoded: RaggedNames, reference: np.ndarray,
           tolerance: Tolerance) -> dict:  # fmt: skip
    """One runtime on the device against the float64 reference over the same names (the report of
    rnnexport.verification.parity)."""
    on_device, reason = open_or_skip(name, model_dir, device)
    if on_device is None:
        return {"runtime": name, "status": "skipped", "reason": reason}
    log_probs, _ = log_probs_of(on_device, encoded, PARITY_BATCH)
    check = ParityCheck(tolerance, on_device.labels)
    check.add(reference, log_probs, lambda row: encoded.text(row, on_device.alphabet))
    report = check.report()
    return {"runtime": name, "status": "pass" if report["passed"] else "FAIL", **report}


def throughput(name: str, model_dir: Path, device: str, encoded: RaggedNames, batch_size: int) -> dict:
    """names/s over the sample; the model part counts host->device copies and the copy back."""
    runtime, reason = open_or_skip(name, model_dir, device)
    if runtime is None:
        return {"runtime": name, "status": "skipped", "reason": reason}
    warm = encoded.select(np.arange(min(len(encoded.lengths), 1024)))
    log_probs_of(runtime, warm, batch_size)  # first calls pay for CUDA context, kernels and allocator growth
    started = time.perf_counter()
    _, in_model = log_probs_of(runtime, encoded, batch_size)
    seconds = time.perf_counter() - started
    count = len(encoded.lengths)
    return {
        "runtime": name,
        "status": "ok",
        "names": count,
        "batch_size": batch_size,
        "seconds": round(seconds, 3),
        "names_per_second": round(count / seconds, 1),
        "model_seconds": round(in_model, 3),
        "model_names_per_second": round(count / in_model, 1) if in_model else None,
    }


def environment(device: str) -> dict:
    import onnxruntime as ort
    import torch

    info = {
        "device": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "onnxruntime": ort.__version__,
        "onnxruntime_providers": ort.get_available_providers(),
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def print_tables(report: dict) -> None:
    print(f"parity, {report['environment']['device']} vs float64 on the CPU ({report['parity_names']}):")
    for entry in report["parity"]:
        if entry["status"] == "skipped":
            print(f"  {entry['runtime']:<12} skipped: {entry['reason']}")
        else:
            print(f"  {failure_line(entry['runtime'], entry)} over {entry['names']} names: {entry['status']}")
    print(f"throughput on {report['environment']['device']} ({report['throughput_names']} names, sorted by length):")
    print(f"  {'runtime':<12} {'names/s':>14} {'model names/s':>14} {'seconds':>9}")
    for entry in report["throughput"]:
        if entry["status"] == "skipped":
            print(f"  {entry['runtime']:<12} skipped: {entry['reason']}")
        else:
            model_rate = entry["model_names_per_second"] or 0.0
            print(
                f"  {entry['runtime']:<12} {entry['names_per_second']:>14,.0f} {model_rate:>14,.0f} "
                f"{entry['seconds']:>9.2f}"
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require_device(args.device)
    use_one_intra_op_thread()  # as the CLI's torch runtimes run
    try:
        return check(args)
    except RnnExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def check(args: argparse.Namespace) -> int:
    """Parity, then throughput; writes the JSON report; 0 when every runtime that ran is within tolerance."""
    args.model_dir = find_model_dir(args.model_dir)
    alphabet = open_runtime("onnx", args.model_dir).alphabet
    names, source = distinct_names(args.names_dir)
    encoded = encode_ragged(names, alphabet)
    report = {"environment": environment(args.device), "parity_names": source, "model_dir": str(args.model_dir)}
    reference, _ = log_probs_of(open_reference(args.model_dir, threads=os.cpu_count()), encoded, PARITY_BATCH)
    tolerance = Tolerance(args.atol, args.rtol)
    report["parity"] = [
        parity(name, args.model_dir, args.device, encoded, reference, tolerance) for name in RUNTIME_NAMES
    ]
    started = time.perf_counter()
    sample = encode_ragged(sample_names(names, args.names, args.seed), alphabet)
    report["encode_seconds"] = round(time.perf_counter() - started, 3)
    report["throughput_names"] = f"{args.names} drawn with seed {args.seed} from the {source}"
    report["throughput"] = [
        throughput(name, args.model_dir, args.device, sample, args.batch_size) for name in RUNTIME_NAMES
    ]
    report["passed"] = all(entry["status"] in ("pass", "skipped") for entry in report["parity"])
    print_tables(report)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
