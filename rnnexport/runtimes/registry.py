"""The one registry of runtimes: each runtime's name, the artifact it loads and the class that loads it, and the
functions that open a runtime (or the float64 reference) from a model folder. torch-free: the command line
reads its choices here, and ``--runtime onnx`` never imports torch."""

from __future__ import annotations

from pathlib import Path

from ..errors import ArtifactError
from ..model.manifest import (
    AOTI_FILE,
    CHECKPOINT_FILE,
    ONNX_CELL_FILE,
    ONNX_SEQUENCE_FILE,
    TORCH_EXPORT_FILE,
    TORCHSCRIPT_FILE,
    read_manifest,
)
from .base import Runtime
from .onnx_runtimes import OnnxCellRuntime, OnnxSequenceRuntime
from .torch_export_runtimes import AotiRuntime, TorchExportRuntime
from .torch_runtimes import ReferenceRuntime, TorchRuntime, TorchScriptRuntime

# The one registry: runtime name -> the artifact it loads (the class is RUNTIME_CLASSES[name], below).
RUNTIME_ARTIFACTS = {
    "onnx": ONNX_SEQUENCE_FILE,
    "onnx-cell": ONNX_CELL_FILE,
    "torchscript": TORCHSCRIPT_FILE,
    "export": TORCH_EXPORT_FILE,
    "aoti": AOTI_FILE,
    "torch": CHECKPOINT_FILE,
}
RUNTIMES = tuple(RUNTIME_ARTIFACTS)
# Runtimes whose artifact `export` writes only when asked (export --aoti): verify checks them where present.
OPTIONAL_RUNTIMES = ("aoti",)
DEFAULT_RUNTIMES = tuple(name for name in RUNTIMES if name not in OPTIONAL_RUNTIMES)  # those every export has
TORCH_RUNTIMES = ("torchscript", "export", "aoti", "torch")  # those that import torch (use_one_intra_op_thread)
EXPORTED_RUNTIMES = ("torchscript", "export", "onnx-cell", "onnx")
# What verify checks against eager PyTorch in float64: eager float32 too, since classify offers it.
VERIFY_RUNTIMES = ("torch", *EXPORTED_RUNTIMES)
ONNX_GRAPHS = ("sequence", "cell")
DEVICES = ("cpu", "cuda")
RUNTIME_CLASSES: dict[str, type[Runtime]] = {
    "onnx": OnnxSequenceRuntime,
    "onnx-cell": OnnxCellRuntime,
    "torchscript": TorchScriptRuntime,
    "export": TorchExportRuntime,
    "aoti": AotiRuntime,
    "torch": TorchRuntime,
}


def verify_runtimes(model_dir: Path) -> tuple[str, ...]:
    """What ``verify --runtime all`` checks in ``model_dir``: eager torch, and each exported runtime whose artifact
    the folder's manifest lists (without a readable manifest: that the folder holds). So a folder exported before a
    runtime existed (no char_rnn.pt2), or without ``export --aoti``, is verified on what it has, while a listed
    artifact that has gone missing is still an error."""
    try:
        listed = set(read_manifest(model_dir)["artifacts"])
    except ArtifactError:
        listed = {path.name for path in Path(model_dir).iterdir()} if Path(model_dir).is_dir() else set()
    exported = (*EXPORTED_RUNTIMES, *OPTIONAL_RUNTIMES)
    return ("torch", *(name for name in exported if RUNTIME_ARTIFACTS[name] in listed))


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
