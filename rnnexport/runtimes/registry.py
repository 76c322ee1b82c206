"""The one registry of runtimes: each runtime's name, the artifact it loads and the class that loads it, and the
functions that open a runtime (or the float64 reference) from a model folder. torch-free: the command line
reads its choices here, and ``--runtime onnx`` never imports torch."""

from __future__ import annotations

from pathlib import Path

from ..model.manifest import CHECKPOINT_FILE, ONNX_CELL_FILE, ONNX_SEQUENCE_FILE, TORCHSCRIPT_FILE
from .base import Runtime
from .onnx_runtimes import OnnxCellRuntime, OnnxSequenceRuntime
from .torch_runtimes import ReferenceRuntime, TorchRuntime, TorchScriptRuntime

# The one registry: runtime name -> the artifact it loads (the class is RUNTIME_CLASSES[name], below).
RUNTIME_ARTIFACTS = {
    "onnx": ONNX_SEQUENCE_FILE,
    "onnx-cell": ONNX_CELL_FILE,
    "torchscript": TORCHSCRIPT_FILE,
    "torch": CHECKPOINT_FILE,
}
RUNTIMES = tuple(RUNTIME_ARTIFACTS)
TORCH_RUNTIMES = ("torchscript", "torch")  # those that import torch (see use_one_intra_op_thread)
EXPORTED_RUNTIMES = ("torchscript", "onnx-cell", "onnx")
# What verify checks against eager PyTorch in float64: eager float32 too, since classify offers it.
VERIFY_RUNTIMES = ("torch", *EXPORTED_RUNTIMES)
ONNX_GRAPHS = ("sequence", "cell")
DEVICES = ("cpu", "cuda")
RUNTIME_CLASSES: dict[str, type[Runtime]] = {
    "onnx": OnnxSequenceRuntime,
    "onnx-cell": OnnxCellRuntime,
    "torchscript": TorchScriptRuntime,
    "torch": TorchRuntime,
}


def runtime_name(runtime: str, onnx_graph: str = "sequence") -> str:
    """The registry name of ``--runtime R --onnx-graph G``: 'onnx' with the cell graph is 'onnx-cell'."""
    return "onnx-cell" if runtime == "onnx" and onnx_graph == "cell" else runtime


def open_runtime(
    name: str,
    model_dir: Path,
    verify_hash: bool = True,
    threads: int | None = None,
    device: str = "cpu",
    onnx_graph: str = "sequence",
) -> Runtime:
    """Load one runtime's artifact from ``model_dir`` (hash-checked against manifest.json by default).

    ``name`` is a key of RUNTIME_ARTIFACTS; ValueError for any other. Raises ArtifactError/CheckpointError.
    """
    name = runtime_name(name, onnx_graph)
    if name not in RUNTIME_CLASSES:
        raise ValueError(f"unknown runtime {name!r}; choose one of {', '.join(RUNTIMES)}")
    return RUNTIME_CLASSES[name](Path(model_dir), verify_hash, threads or 1, device)


def open_reference(model_dir: Path, verify_hash: bool = True, threads: int | None = None) -> Runtime:
    """Eager PyTorch in float64 on the CPU, the reference of ``verify`` and ``classify --check``."""
    return ReferenceRuntime(Path(model_dir), verify_hash, threads or 1, "cpu")
