"""The runtimes that turn encoded names into log-probs: ONNX Runtime (no torch import), TorchScript, torch.export and
AOTInductor (runtime_torch_export.py), eager torch.

Each takes time-major int64 indices [T, B] and lengths [B] (all >= 1) and returns float32 log-probs [B, L].
"""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path

import numpy as np

from .errors import ArtifactError, InputError, ModelInputError, RnnExportError, first_line
from .export.manifest import (
    AOTI_FILE,
    CHECKPOINT_FILE,
    ONNX_CELL_FILE,
    ONNX_HEAD_FILE,
    ONNX_SEQUENCE_FILE,
    ONNX_STEP_FILE,
    TORCH_EXPORT_FILE,
    TORCHSCRIPT_FILE,
    check_recorded_model,
    checked_artifact,
    read_manifest,
)
from .text import ALPHABET, check_alphabet, check_fold

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
# The files an ONNX runtime's prefix sharing reads beside its artifact (when the folder has them): an engine that
# ships a runtime elsewhere (Dask workers) must ship these too, or the worker computes per name. onnx-cell has
# none: it runs the cell graph name by name, the way an embedding service drives it.
PREFIX_ARTIFACTS = {"onnx": (ONNX_STEP_FILE, ONNX_HEAD_FILE)}
TORCH_RUNTIMES = ("torchscript", "export", "aoti", "torch")  # those that import torch (use_one_intra_op_thread)
EXPORTED_RUNTIMES = ("torchscript", "export", "onnx-cell", "onnx")
# What verify checks against eager PyTorch in float64: eager float32 too, since classify offers it.
VERIFY_RUNTIMES = ("torch", *EXPORTED_RUNTIMES)
ONNX_GRAPHS = ("sequence", "cell")
DEVICES = ("cpu", "cuda")


def check_model_inputs(indices: object, lengths: object, n_letters: int) -> None:
    """The contract of every runtime, checked before any backend runs (ONNX has no assert op; a backend given
    lengths of 0 or beyond T returns normal-looking garbage): ``indices`` int64 [T, B] with 0 <= index <
    ``n_letters``, ``lengths`` int64 [B] with 1 <= length <= T, T >= 1 and B >= 1. Raises ModelInputError."""
    for name, value, rank in (("indices", indices, "[T, B]"), ("lengths", lengths, "[B]")):
        if not (isinstance(value, np.ndarray) and value.dtype == np.int64 and value.ndim == len(rank.split(","))):
            shape = getattr(value, "shape", None)
            raise ModelInputError(f"{name} must be an int64 numpy array {rank}; got {type(value).__name__} "
                                  f"{getattr(value, 'dtype', '')} of shape {shape}")  # fmt: skip
    steps, batch = indices.shape
    if steps < 1 or batch < 1:
        raise ModelInputError(f"indices has shape [{steps}, {batch}]; give at least one name of one letter")
    if len(lengths) != batch:
        raise ModelInputError(f"lengths has {len(lengths)} entries for a batch of {batch} names; give one per name")
    if lengths.min() < 1 or lengths.max() > steps:
        raise ModelInputError(
            f"lengths must lie in 1..T = 1..{steps}; got {lengths.min()}..{lengths.max()} (encode names with "
            "rnnexport.text.encode_ragged; a name with no letter has no prediction)"
        )
    if indices.min() < 0 or indices.max() >= n_letters:
        raise ModelInputError(f"indices must lie in 0..{n_letters - 1} (the alphabet); got "
                              f"{indices.min()}..{indices.max()}")  # fmt: skip


class Runtime:
    """Common surface: ``name``, ``labels``, ``alphabet`` (what indices refer to: encode names with it),
    ``parallel_calls``, ``log_probs(indices, lengths)`` and ``prefix_engine()`` (prefix-shared evaluation,
    rnnexport/prefix.py; None where the runtime has none)."""

    name = "runtime"
    labels: list[str]
    alphabet: str = ALPHABET
    parallel_calls = 1  # how many threads may call log_probs at once to use the machine

    def log_probs(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """float32 [B, L] (float64 for the reference) from int64 indices [T, B] and lengths [B], checked first
        (ModelInputError) so no backend ever sees an input outside its contract."""
        check_model_inputs(indices, lengths, len(self.alphabet))
        return self._log_probs(indices, lengths)

    def _log_probs(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def prefix_engine(self):
        """A :class:`~rnnexport.prefix.LevelEngine` with this runtime's weights (opened once), or None."""
        if not hasattr(self, "_prefix_engine"):
            self._prefix_engine = self._open_prefix_engine()
        return self._prefix_engine

    def _open_prefix_engine(self):
        return None


def _model_info(metadata: dict, source: Path, model_dir: Path, verify_hash: bool) -> tuple[str, list[str]]:
    """The alphabet and labels an artifact records (after checking them and its fold, and with ``verify_hash``
    that they are the manifest's); ArtifactError if bad."""
    try:
        alphabet, labels, fold = metadata["alphabet"], metadata["labels"], metadata["fold"]
        check_alphabet(alphabet)
    except (KeyError, TypeError, InputError) as error:
        raise ArtifactError(f"{source} lacks usable alphabet/labels/fold metadata ({error}); re-export it") from None
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(label, str) for label in labels):
        raise ArtifactError(f"{source} records no list of labels; re-export it")
    check_fold(fold, str(source), ArtifactError)
    if verify_hash:
        check_recorded_model(model_dir, source, alphabet, labels)
    return alphabet, labels


def onnx_session(path: Path, threads: int = 1, device: str = "cpu"):
    """An ONNX Runtime session of ``path`` (``threads`` intra-op threads, no spinning); ArtifactError if unloadable."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Spinning threads made 2 intra-op threads slower than 1 on a 2-core machine.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RnnExportError("--device cuda needs onnxruntime-gpu with CUDA; install it or use --device cpu")
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as error:  # onnxruntime raises its own exception types for bad files
        raise ArtifactError(
            f"{path} is not a loadable ONNX model (corrupt or truncated?): {first_line(error)}"
        ) from None


def _onnx_model_info(session, path: Path, model_dir: Path, verify_hash: bool) -> tuple[str, list[str]]:
    """The alphabet and labels of an ONNX model's metadata_props (labels and fold are JSON)."""
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    try:
        metadata.update({key: json.loads(metadata[key]) for key in ("labels", "fold") if key in metadata})
    except json.JSONDecodeError:
        raise ArtifactError(f"{path} has unreadable labels/fold metadata; re-export it") from None
    return _model_info(metadata, path, model_dir, verify_hash)


class _OnnxRuntime(Runtime):
    """Prefix sharing for the ONNX runtimes that have it (PREFIX_ARTIFACTS: char_rnn_step.onnx and
    char_rnn_head.onnx of the same folder)."""

    def _remember(self, model_dir: Path, verify_hash: bool, device: str) -> None:
        self.model_dir, self.verify_hash, self.device = model_dir, verify_hash, device

    def _open_prefix_engine(self):
        from .prefix_onnx import OnnxPrefixEngine

        files = PREFIX_ARTIFACTS.get(self.name, ())
        if not files or not (Path(self.model_dir) / files[0]).is_file():
            return None  # the cell's runtime, or a model exported before prefix sharing: the per-name path
        paths = [checked_artifact(self.model_dir, name, self.verify_hash) for name in files]
        sessions = [onnx_session(path, 1, self.device) for path in paths]
        for session, path in zip(sessions, paths, strict=True):  # the step and head graphs record this model
            if _onnx_model_info(session, path, self.model_dir, self.verify_hash) != (self.alphabet, self.labels):
                raise ArtifactError(f"{path} records another alphabet or other labels than {self.name}'s "
                                    "artifact; re-export the model")  # fmt: skip
        return OnnxPrefixEngine(*sessions)


class OnnxSequenceRuntime(_OnnxRuntime):
    """``char_rnn.onnx``: the whole name in one call. One session; each call uses one thread."""

    name = "onnx"

    def __init__(self, model_dir: Path, verify_hash: bool = True, threads: int = 1, device: str = "cpu"):
        path = checked_artifact(model_dir, ONNX_SEQUENCE_FILE, verify_hash)
        # A session is thread-safe: ``threads`` Python threads each drive a 1-thread run, which beat one
        # run with several intra-op threads on small per-step matmuls.
        self.session = onnx_session(path, 1, device)
        self.alphabet, self.labels = _onnx_model_info(self.session, path, model_dir, verify_hash)
        self.parallel_calls = max(1, threads)
        self._remember(model_dir, verify_hash, device)

    def _log_probs(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.session.run(["log_probs"], {"indices": indices, "lengths": lengths})[0]


class OnnxCellRuntime(_OnnxRuntime):
    """``char_rnn_cell.onnx`` driven one letter at a time, as an embedding service would."""

    name = "onnx-cell"

    def __init__(self, model_dir: Path, verify_hash: bool = True, threads: int = 1, device: str = "cpu"):
        path = checked_artifact(model_dir, ONNX_CELL_FILE, verify_hash)
        self.session = onnx_session(path, 1, device)
        self.alphabet, self.labels = _onnx_model_info(self.session, path, model_dir, verify_hash)
        self.hidden_size = self.session.get_inputs()[1].shape[1]
        self.parallel_calls = max(1, threads)
        self._remember(model_dir, verify_hash, device)

    def hidden_states(self, indices: np.ndarray) -> np.ndarray:
        """float32 [T, B, H]: h_t for every step, ignoring lengths (for comparing with TorchScript)."""
        hidden = np.zeros((indices.shape[1], self.hidden_size), dtype=np.float32)
        states = []
        for letters in indices:
            _, hidden = self.session.run(None, {"x": self._one_hot(letters), "h": hidden})
            states.append(hidden)
        return np.stack(states)

    def _log_probs(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        hidden = np.zeros((indices.shape[1], self.hidden_size), dtype=np.float32)
        result = np.zeros((indices.shape[1], len(self.labels)), dtype=np.float32)
        for t, letters in enumerate(indices):
            step_log_probs, step_hidden = self.session.run(None, {"x": self._one_hot(letters), "h": hidden})
            active = (lengths > t)[:, None]
            hidden = np.where(active, step_hidden, hidden)
            result = np.where(active, step_log_probs, result)
        return result

    def _one_hot(self, letters: np.ndarray) -> np.ndarray:
        """float32 [B, n_letters] one-hot rows of letter indices [B]."""
        one_hot = np.zeros((len(letters), len(self.alphabet)), dtype=np.float32)
        one_hot[np.arange(len(letters)), letters] = 1.0
        return one_hot


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


class _TorchModuleRuntime(Runtime):
    """Runs ``self.module`` (scripted or eager) on ``self.device``, under inference mode, one intra-op thread per
    call (see use_one_intra_op_thread)."""

    def _log_probs(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        import torch

        _one_intra_op_thread_here(torch)
        with torch.inference_mode():
            result = self.module(torch.from_numpy(indices).to(self.device), torch.from_numpy(lengths).to(self.device))
        return result.cpu().numpy()


class TorchScriptRuntime(_TorchModuleRuntime):
    """``char_rnn.pt`` loaded with torch.jit.load (what a LibTorch service runs)."""

    name = "torchscript"

    def __init__(self, model_dir: Path, verify_hash: bool = True, threads: int | None = None, device: str = "cpu"):
        import torch

        path = checked_artifact(model_dir, TORCHSCRIPT_FILE, verify_hash)
        self.device = _torch_device(device)
        self.parallel_calls = max(1, threads or 1)
        extra_files = {"metadata.json": ""}
        try:
            with warnings.catch_warnings():
                # torch 2.13 deprecates TorchScript loading too; the archive is still what we ship for existing
                # LibTorch consumers. Its successor is the 'export' runtime (char_rnn.pt2, torch.export.load).
                warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*torch.jit.load.*")
                self.module = torch.jit.load(str(path), map_location=self.device, _extra_files=extra_files)
            metadata = json.loads(extra_files["metadata.json"])
        except (RuntimeError, ValueError, json.JSONDecodeError) as error:
            raise ArtifactError(
                f"{path} is not a loadable TorchScript archive (corrupt or truncated?): {first_line(error)}"
            ) from None
        self.alphabet, self.labels = _model_info(metadata, path, model_dir, verify_hash)
        self.module.eval()

    def _open_prefix_engine(self):
        from .prefix_torch import TorchScriptPrefixEngine

        if not hasattr(self.module, "prefix_step") or self.device.type != "cpu":
            return None  # an archive exported before prefix sharing; or CUDA (the engine is numpy in between)
        return TorchScriptPrefixEngine(self.module)


class TorchRuntime(_TorchModuleRuntime):
    """The eager model rebuilt from ``checkpoint.pt``: the reference every other runtime is checked against."""

    name = "torch"

    def __init__(self, model_dir: Path, verify_hash: bool = True, threads: int | None = None, device: str = "cpu"):
        from .checkpoint import load_checkpoint, model_from_checkpoint

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
    float32 result by ~1e-5 on long names. Measured on the committed model: eager float32 at batch 1024 was
    9.9e-6 from float64, TorchScript at batch 1 4.2e-6, but the two were 1.14e-5 apart. log_probs: float64.
    """

    name = "torch-float64"

    def __init__(self, model_dir: Path, verify_hash: bool = True, threads: int | None = None, device: str = "cpu"):
        super().__init__(model_dir, verify_hash, threads, device)
        self.module = self.module.double()

    def _open_prefix_engine(self):
        return None  # the reference stays the plain per-name forward


from .runtime_torch_export import AotiRuntime, TorchExportRuntime  # noqa: E402 - they build on the classes above

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
