"""The ONNX Runtime runtimes (no torch import): ``char_rnn.onnx``, the whole name in one call, and
``char_rnn_cell.onnx`` driven letter by letter; prefix sharing through the step and head graphs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ArtifactError, RnnExportError, first_line
from ..model.manifest import ONNX_CELL_FILE, ONNX_HEAD_FILE, ONNX_SEQUENCE_FILE, ONNX_STEP_FILE, checked_artifact
from .base import Runtime, model_info

# The files an ONNX runtime's prefix sharing reads beside its artifact (when the folder has them): an engine that
# ships a runtime elsewhere (Dask workers) must ship these too, or the worker computes per name. onnx-cell has
# none: it runs the cell graph name by name, the way an embedding service drives it.
PREFIX_ARTIFACTS = {"onnx": (ONNX_STEP_FILE, ONNX_HEAD_FILE)}


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
    return model_info(metadata, path, model_dir, verify_hash)


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
