"""The torch runtimes: ``char_rnn.pt`` through TorchScript (what a LibTorch service runs), the eager model rebuilt
from ``checkpoint.pt``, and that model in float64, the reference of every parity check. torch is imported only
when one of them is used."""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path

import numpy as np

from ..errors import ArtifactError, RnnExportError, first_line
from ..model.manifest import (
    ARCHIVE_METADATA_FILE,
    CHECKPOINT_FILE,
    TORCHSCRIPT_FILE,
    check_recorded_model,
    checked_artifact,
)
from .base import Runtime, model_info


def _torch_device(device: str):
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise RnnExportError("--device cuda asked for, but torch sees no CUDA device; use --device cpu")
    return torch.device(device)


def use_one_intra_op_thread() -> None:
    """Set torch to one intra-op thread, process-wide: call it where a command starts, never on import.

    torch runtimes run ``threads`` 1-thread calls at once instead. Measured on 2 cores at batch 512:
    2 intra-op threads ran at ~20,000 names/s, two 1-thread calls side by side at ~220,000 (the per-step
    matmuls are too small to split).
    """
    import torch

    torch.set_num_threads(1)


_pinned_threads = threading.local()  # per thread: whether torch's thread count was set in it


def _one_intra_op_thread_here(torch) -> None:
    """torch.set_num_threads(1) in the calling thread, once: MKL's count is per thread (mkl_set_num_threads_local),
    and a parallel-call worker thread otherwise ran some GEMMs on MKL's default team, whose size follows the load.
    Measured on the committed model, classify --runtime torch --threads 2: 4 of 3,000 names moved by up to
    2.9e-6 against --threads 1; none with this (or with MKL_NUM_THREADS=1)."""
    if not getattr(_pinned_threads, "done", False):
        torch.set_num_threads(1)
        _pinned_threads.done = True


class TorchModuleRuntime(Runtime):
    """Runs ``self.module`` (scripted, exported, AOT-compiled or eager) on ``self.device``, under inference mode, one
    intra-op thread per call (see use_one_intra_op_thread)."""

    def _log_probs(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        import torch

        _one_intra_op_thread_here(torch)
        with torch.inference_mode():
            result = self.module(torch.from_numpy(indices).to(self.device), torch.from_numpy(lengths).to(self.device))
        return result.cpu().numpy()


class TorchScriptRuntime(TorchModuleRuntime):
    """``char_rnn.pt`` loaded with torch.jit.load (what a LibTorch service runs). Opening one turns TorchScript's
    graph-executor optimisation off for the process (see __init__)."""

    name = "torchscript"

    def __init__(self, model_dir: Path, verify_hash: bool = True, threads: int | None = None, device: str = "cpu"):
        import torch

        path = checked_artifact(model_dir, TORCHSCRIPT_FILE, verify_hash)
        self.device = _torch_device(device)
        self.parallel_calls = max(1, threads or 1)
        extra_files = {ARCHIVE_METADATA_FILE: ""}
        try:
            with warnings.catch_warnings():
                # torch 2.13 deprecates TorchScript loading too; the archive is still what we ship for existing
                # LibTorch consumers. Its successor is the 'export' runtime (char_rnn.pt2, torch.export.load).
                warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*torch.jit.load.*")
                self.module = torch.jit.load(str(path), map_location=self.device, _extra_files=extra_files)
            metadata = json.loads(extra_files[ARCHIVE_METADATA_FILE])
        except (RuntimeError, ValueError, json.JSONDecodeError) as error:
            raise ArtifactError(
                f"{path} is not a loadable TorchScript archive (corrupt or truncated?): {first_line(error)}"
            ) from None
        self.alphabet, self.labels = model_info(metadata, path, model_dir, verify_hash)
        self.module.eval()
        # TorchScript's profiling executor re-optimises a method after its first call, specialised on what that
        # call saw, and its profiling record is not thread-safe (pytorch/pytorch#58446); the block threads call
        # prefix_step side by side from the first chunk on. One fresh-clone `classify --check` moved 'Vann' by
        # 2.6e-4 (12.6x the parity bound), never seen again in 22 reruns. Run the methods as scripted, process-wide,
        # so that results never depend on call order or thread timing (no measurable cost: 200k names, A B x3).
        torch._C._set_graph_executor_optimize(False)

    def _open_prefix_engine(self):
        from .prefix_torch import TorchScriptPrefixEngine

        if not hasattr(self.module, "prefix_step") or self.device.type != "cpu":
            return None  # an archive exported before prefix sharing; or CUDA (the engine is numpy in between)
        return TorchScriptPrefixEngine(self.module)


class TorchRuntime(TorchModuleRuntime):
    """The eager model rebuilt from ``checkpoint.pt``: the reference every other runtime is checked against."""

    name = "torch"

    def __init__(self, model_dir: Path, verify_hash: bool = True, threads: int | None = None, device: str = "cpu"):
        from ..model.checkpoint import load_checkpoint, model_from_checkpoint

        checkpoint = load_checkpoint(checked_artifact(model_dir, CHECKPOINT_FILE, verify_hash))
        self.device = _torch_device(device)
        self.parallel_calls = max(1, threads or 1)
        self.alphabet, self.labels = checkpoint["alphabet"], checkpoint["labels"]
        # where it was trained, when train --data was given: {path, name_column, label_column}
        self.trained_on = checkpoint.get("data") if isinstance(checkpoint.get("data"), dict) else None
        if verify_hash:
            check_recorded_model(model_dir, model_dir / CHECKPOINT_FILE, self.alphabet, self.labels)
        self.module = model_from_checkpoint(checkpoint).to(self.device)

    def _open_prefix_engine(self):
        from .prefix_torch import TorchPrefixEngine

        return TorchPrefixEngine(self.module) if self.device.type == "cpu" else None


class ReferenceRuntime(TorchRuntime):
    """The eager model in float64: the answer every float32 runtime (eager torch included) is checked against.

    Why float64: two float32 runtimes that each sit within rounding of the exact result can differ from each
    other by twice that, and which kernel a batch takes (matrix-vector at batch 1, GEMM otherwise) moves the
    float32 result by ~1e-5 on long names. Measured on the sgd model committed until 2026-12: eager float32 at
    batch 1024 was 9.9e-6 from float64, TorchScript at batch 1 4.2e-6, but the two were 1.14e-5 apart.
    log_probs: float64.
    """

    name = "torch-float64"

    def __init__(self, model_dir: Path, verify_hash: bool = True, threads: int | None = None, device: str = "cpu"):
        super().__init__(model_dir, verify_hash, threads, device)
        self.module = self.module.double()

    def _open_prefix_engine(self):
        return None  # the reference stays the plain per-name forward
